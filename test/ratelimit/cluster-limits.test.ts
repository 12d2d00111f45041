// Cluster-wide limits (issue 11) through the gateway: three gateway replicas — each its own
// process (own shared data), with one or two worker VMs — in front of one PTU (10,000 TPM) and
// one pay-as-you-go deployment, counting the PTU's and a consumer's tokens in one rate limit
// service stand-in (envoyproxy/ratelimit's gRPC API and Redis keys) on a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider } from "../../harness/providers/index.ts";
import { RateLimitConfig } from "../../harness/ratelimit/config.ts";
import { startRateLimitService, type RateLimitService } from "../../harness/ratelimit/server.ts";
import type { LogRecord } from "../../harness/host/types.ts";
import { bootstrapWith, EAST_KEY, post, ROOT, WEST_KEY, withVmEnv } from "../support/stack.ts";
import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";
import { withRlsCluster } from "../../harness/ratelimit/bootstrap.ts";

const RLS_YAML = `
domain: ai-failover
descriptors:
  - key: provider
    value: aoai-east-ptu
    rate_limit: { unit: minute, requests_per_unit: 10000 }
  - key: consumer
    value: team-a
    rate_limit: { unit: minute, requests_per_unit: 3000 }
`;

interface Replicas {
  gateways: Gateway[];
  logs: LogRecord[];
  close(): Promise<void>;
}

async function replicas(n: number, workers: number, ports: { east: number; west: number; rls: number }, edit: (cfg: any) => any): Promise<Replicas> {
  const logs: LogRecord[] = [];
  const gateways: Gateway[] = [];
  for (let i = 0; i < n; i++) {
    // Each startGateway is its own Envoy process: its own host, VMs and shared data.
    gateways.push(await startGateway({
      bootstrapText: withRlsCluster(bootstrapWith(ports, edit), ports.rls),
      baseDir: ROOT, workers, logLevel: 0, logger: (r) => logs.push(r),
    }));
  }
  return { gateways, logs, async close() { await Promise.all(gateways.map((g) => g.close())); } };
}

const CLUSTER = (extra: Record<string, unknown> = {}) => ({
  // 1 s: a loaded test machine must not turn a slow answer into fail-open (a test of its own below).
  rateLimitService: { cluster: "ratelimit", domain: "ai-failover", timeout: "1s" }, failureMode: "open", replicas: 3, ...extra,
});

/** Offered load: `total` chat requests of ~`maxTokens` tokens, `concurrency` at a time, round-robin over the replicas. */
async function load(gws: Gateway[], total: number, concurrency: number, maxTokens: number, headers: Record<string, string> = {}) {
  const statuses: number[] = [];
  const providers: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const k = next++;
      const r = await post(gws[k % gws.length]!.url, "/v1/chat/completions",
        { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens }, headers);
      statuses.push(r.status);
      providers.push(String(r.headers["x-ai-failover-provider"] ?? "-"));
    }
  }));
  return { statuses, providers };
}

const chatsOf = (p: MockProvider) => p.records.filter((r) => r.path.includes("/chat/completions"));

describe.skipIf(!REDIS.ok)(`cluster-wide limits: 3 replicas, one rate limit service, one Redis ${redisSkipNote}`, () => {
  const redis = withRedis();
  let rls: RateLimitService;
  let east: MockProvider;
  let west: MockProvider;
  // The service's clock stays in one minute window for the whole file (its windows are whole units).
  const T0 = Math.floor(Date.now() / 60000) * 60 + 1;
  beforeAll(async () => {
    rls = await startRateLimitService({ redisPort: redis().port, config: RateLimitConfig.fromYaml(RLS_YAML), nowSeconds: () => T0 });
  });
  afterAll(async () => { await rls?.close(); });
  async function mocks(completionTokens = 8) {
    await redis().client().command(["FLUSHALL"]);
    east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY],
      deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06", tokensPerMinute: 10000 } }, completionTokens });
    west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY],
      deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } }, completionTokens });
  }
  const closeMocks = () => Promise.all([east.close(), west.close()]);

  it.each([
    [1, 0], [2, 0], [2, 2000],
  ])("PTU 10,000 TPM + PAYG, offered 3× the PTU (workers %i per replica, leaseTokens %i): the PTU stays within its limit + one estimate, no 429 anywhere", async (workers, leaseTokens) => {
    await mocks();
    const rep = await replicas(3, workers, { east: east.port, west: west.port, rls: rls.port }, (c) => ({
      ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ leaseTokens }),
    }));
    try {
      // ~520 tokens each (prompt estimate + 500): 58 requests ≈ 30,000 tokens.
      const { statuses, providers } = await load(rep.gateways, 58, 12, 500);
      const onEast = chatsOf(east);
      const perRequest = 500 + 20;
      expect(statuses.filter((s) => s !== 200), providers.join(",")).toEqual([]);
      expect(onEast.filter((r) => r.status === 429)).toHaveLength(0);
      expect(onEast.length * 500).toBeLessThanOrEqual(10000 + perRequest);
      // …and the PTU was used, not skipped: at least its limit minus one lease (or one request) per replica.
      expect(onEast.length * perRequest).toBeGreaterThanOrEqual(10000 - 3 * Math.max(leaseTokens, perRequest) - perRequest);
      expect(chatsOf(west).length).toBe(58 - onEast.length);
      const count = Number(String(await redis().client().command(["GET", `ai-failover_provider_aoai-east-ptu_${T0 - 1}`])));
      expect(count).toBeGreaterThanOrEqual(10000);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });
  it("control: without clusterLimits each replica admits the PTU's whole limit — the PTU answers 429s", async () => {
    await mocks();
    const rep = await replicas(3, 1, { east: east.port, west: west.port, rls: rls.port }, (c) => ({ ...c, healthCheck: { enabled: false } }));
    try {
      await load(rep.gateways, 58, 12, 500);
      expect(chatsOf(east).filter((r) => r.status === 429).length).toBeGreaterThan(0);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("a consumer budget of 3,000 tokens/min holds across 3 replicas within one estimate; then 429 consumer_rate_limit_exceeded", async () => {
    // Answers use the whole max_tokens: consumer budgets are charged what was used (both ways).
    await mocks(100000);
    const KEY = "team-a-key-Zp3Lq8Rv2Wn6";
    const rep = await replicas(3, 2, { east: east.port, west: west.port, rls: rls.port }, (c) => ({
      ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER(),
      consumers: [{ name: "team-a", apiKey: KEY, tokensPerMinute: 3000 }],
    }));
    try {
      const { statuses } = await load(rep.gateways, 30, 6, 200, { authorization: `Bearer ${KEY}` });
      const ok = statuses.filter((s) => s === 200).length;
      // ~220 tokens each: 13 fit in 3,000 cluster-wide (each replica alone would admit 13).
      expect(ok * 200).toBeLessThanOrEqual(3000);
      expect(ok * 220).toBeGreaterThanOrEqual(3000 - 220 - 220);
      expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("Redis killed mid-run: no request hangs, each replica fails open to limit / replicas, a warning and a metric; counting resumes when Redis returns", async () => {
    await mocks();
    const rep = await replicas(3, 2, { east: east.port, west: west.port, rls: rls.port }, (c) => ({
      ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ retryAfter: "300ms" }),
    }));
    try {
      await load(rep.gateways, 6, 3, 500);
      await redis().kill();
      const t0 = Date.now();
      const down = await load(rep.gateways, 60, 12, 500);
      expect(Date.now() - t0).toBeLessThan(10000);
      expect(down.statuses.filter((s) => s !== 200)).toEqual([]);
      // Fail-open: each replica admits at most 10,000 / 3 to the PTU (plus what it had leased before).
      expect(chatsOf(east).length * 520).toBeLessThanOrEqual(10000 + 3 * 520);
      expect(chatsOf(east).filter((r) => r.status === 429)).toHaveLength(0);
      expect(rep.logs.some((l) => l.level === 3 && /cluster limits: rate limit service call failed: gRPC status 2 redis/.test(l.message))).toBe(true);
      const metrics = await (await fetch(`${rep.gateways[0]!.adminUrl}/stats/prometheus`)).text();
      expect(metrics).toMatch(/ai_failover_cluster_limit_calls_total\{result="failed"\} [1-9]/);
      await redis().restart();
      await new Promise((r) => setTimeout(r, 400));
      const before = rls.calls.length;
      const back = await load(rep.gateways, 6, 3, 500);
      expect(back.statuses.every((s) => s === 200)).toBe(true);
      expect(rls.calls.slice(before).some((c) => c.status === 0)).toBe(true);
      expect(rep.logs.some((l) => /the rate limit service answers again/.test(l.message))).toBe(true);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("a slow service: the call's timeout bounds every request (fail-open), and failureMode closed answers 503 cluster_limit_unavailable", async () => {
    await mocks();
    const rep = await replicas(1, 2, { east: east.port, west: west.port, rls: rls.port }, (c) => ({
      ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ failureMode: "closed", rateLimitService: { cluster: "ratelimit", timeout: "100ms" } }),
      consumers: undefined,
    }));
    rls.delayMs = 1000;
    try {
      const t0 = Date.now();
      const r = await post(rep.gateways[0]!.url, "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
      expect(Date.now() - t0).toBeLessThan(900);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body).error.code).toBe("cluster_limit_unavailable");
    } finally {
      rls.delayMs = 0;
      await rep.close();
      await closeMocks();
    }
  });
});
