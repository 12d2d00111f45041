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
import { bootstrapWith, EAST_KEY, post, ROOT, sleep, until, WEST_KEY } from "../support/stack.ts";
import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";
import { withRlsCluster } from "../../harness/ratelimit/bootstrap.ts";
import { chatRequest } from "../../harness/requests.ts";

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
  /** Each replica's logs. */
  each: LogRecord[][];
  close(): Promise<void>;
}

async function replicas(n: number, workers: number, ports: { east: number; west: number; rls: number }, edit: (cfg: any) => any): Promise<Replicas> {
  const logs: LogRecord[] = [];
  const each: LogRecord[][] = [];
  const gateways: Gateway[] = [];
  for (let i = 0; i < n; i++) {
    const mine: LogRecord[] = [];
    each.push(mine);
    // Each startGateway is its own Envoy process: its own host, VMs and shared data.
    gateways.push(await startGateway({
      bootstrapText: withRlsCluster(bootstrapWith(ports, edit), ports.rls),
      baseDir: ROOT, workers, logLevel: 0, logger: (r) => { logs.push(r); mine.push(r); },
    }));
  }
  return { gateways, logs, each, async close() { await Promise.all(gateways.map((g) => g.close())); } };
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

// Cooldowns shared through the rate limit service (plugin/cluster/rls_cooldowns.ts): a stand-in on
// the real clock (the cooldown counts live one second), the YAML of docs/cluster-limits.md (no cooldown entry: the
// descriptors carry their own limit).
describe.skipIf(!REDIS.ok)(`cluster-wide cooldowns through the rate limit service: 3 replicas ${redisSkipNote}`, () => {
  const redis = withRedis();
  let east: MockProvider;
  let west: MockProvider;
  let rls: RateLimitService;
  async function setUp() {
    await redis().client().command(["FLUSHALL"]);
    rls = await startRateLimitService({ redisPort: redis().port, config: RateLimitConfig.fromYaml(RLS_YAML) });
    east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY],
      deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06", tokensPerMinute: 10000 } } });
    west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY],
      deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
  }
  async function tearDown() {
    await Promise.all([east.close(), west.close(), rls.close()]);
  }
  const ports = () => ({ east: east.port, west: west.port, rls: rls.port });
  const chat = (gw: Gateway) => post(gw.url, "/v1/chat/completions", chatRequest("hi", 20));
  const LEARNED = /provider aoai-east-ptu cooling down \(cluster_cooldown\), published by another replica through the rate limit service/;
  // The bound docs/cluster-limits.md states: published at the next tick (≤ 500 ms), seen at one of the next two checks
  // (≤ 1 s), plus the calls; a loaded test machine gets 700 ms more.
  const LEARN_MS = 1500 + 700;
  // Resumed ≤ 2.5 s after the deadline (last hit's second + a 1.5 s hold), plus the same slack.
  const RESUME_MS = 2500 + 700;

  /** Replica A (gateways[0]) gets the PTU's 429 with retry-after 3 s and fails over; returns when it answered. */
  async function ptu429OnA(rep: Replicas): Promise<{ at: number; deadline: number }> {
    // The first ticks learn every pool's window (a failover attempt borrows against it).
    await sleep(1200);
    east.setFault({ type: "rateLimit", retryAfterMs: 3000, count: 1 });
    const r = await chat(rep.gateways[0]!);
    const at = Date.now();
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(chatsOf(east).map((c) => c.status)).toEqual([429]);
    return { at, deadline: at + 3000 };
  }

  it("a PTU 429 (retry-after 3 s) on replica A: B and C learn it within the bound, send the PTU nothing until the deadline, then resume", async () => {
    await setUp();
    const rep = await replicas(3, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER() }));
    try {
      const { at, deadline } = await ptu429OnA(rep);
      await until(() => [1, 2].every((i) => rep.each[i]!.some((l) => LEARNED.test(l.message))), LEARN_MS + 2000);
      const learnedMs = Date.now() - at;
      expect(learnedMs).toBeLessThanOrEqual(LEARN_MS);
      // From then until the deadline, B and C keep the PTU cooled: everything goes to the PAYG.
      const seen: string[] = [];
      while (Date.now() < deadline - 150) {
        const rs = await Promise.all([chat(rep.gateways[1]!), chat(rep.gateways[2]!)]);
        for (const r of rs) {
          expect(r.status, `${r.body.slice(0, 300)} ${JSON.stringify(r.headers)}`).toBe(200);
          seen.push(String(r.headers["x-ai-failover-provider"]));
        }
        // Paced: the PAYG admits 600 requests a minute per replica.
        await sleep(50);
      }
      expect(seen.length, `learned after ${learnedMs} ms`).toBeGreaterThan(0);
      expect(seen.every((p) => p === "aoai-west-payg"), seen.join(",")).toBe(true);
      expect(chatsOf(east)).toHaveLength(1);
      // Published by A only (hits 1 on its own descriptor), checked by all with hits 0: the counts are A's ticks.
      const published = rls.calls.filter((c) => c.request?.descriptors.some((d) => d.entries[0]?.key === "cooldown" && d.hitsAddend === 1));
      expect(published.length).toBeGreaterThanOrEqual(4);
      expect(published.every((c) => c.request!.descriptors.every((d) => d.entries[0]!.value === "aoai-east-ptu" && d.limit?.requestsPerUnit === 0 && d.limit?.unit === 1))).toBe(true);
      // A's own cooldown ends at its deadline: it goes back to the PTU at once (its own last hit is
      // not read as another replica's).
      await sleep(Math.max(0, deadline + 100 - Date.now()));
      expect((await chat(rep.gateways[0]!)).headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
      expect(rep.each[0]!.some((l) => LEARNED.test(l.message))).toBe(false);
      // B and C follow within the resume bound.
      for (;;) {
        const rs = await Promise.all([chat(rep.gateways[1]!), chat(rep.gateways[2]!)]);
        if (rs.every((r) => r.headers["x-ai-failover-provider"] === "aoai-east-ptu")) break;
        if (Date.now() > deadline + RESUME_MS) throw new Error(`B and C still avoid the PTU ${Date.now() - deadline} ms after its deadline`);
        await sleep(100);
      }
      expect(Date.now() - deadline).toBeLessThanOrEqual(RESUME_MS);
      expect(chatsOf(east).filter((c) => c.status === 200).length).toBeGreaterThanOrEqual(3);
      const metrics = await (await fetch(`${rep.gateways[1]!.adminUrl}/stats/prometheus`)).text();
      expect(metrics).toMatch(/ai_failover_cluster_limit_calls_total\{result="ok"\} [1-9]/);
    } finally {
      await rep.close();
      await tearDown();
    }
  });

  it("control: shareCooldowns false — B and C keep sending to the PTU that answered A's request 429", async () => {
    await setUp();
    const rep = await replicas(3, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ shareCooldowns: false }) }));
    try {
      await ptu429OnA(rep);
      await sleep(LEARN_MS);
      const rs = await Promise.all([chat(rep.gateways[1]!), chat(rep.gateways[2]!), chat(rep.gateways[1]!), chat(rep.gateways[2]!)]);
      expect(rs.map((r) => r.headers["x-ai-failover-provider"])).toEqual(Array(4).fill("aoai-east-ptu"));
      expect(rep.logs.some((l) => LEARNED.test(l.message))).toBe(false);
      expect(rls.calls.some((c) => c.request?.descriptors.some((d) => d.entries[0]?.key === "cooldown"))).toBe(false);
    } finally {
      await rep.close();
      await tearDown();
    }
  });

  // A domain the service does not know: test/ratelimit/engines.test.ts (the start check warns naming the domain).

  it("a stalled, then killed service: no request hangs and traffic goes on; the cooldown calls fail with a warning and the failed metric", async () => {
    await setUp();
    const rep = await replicas(3, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false },
      clusterLimits: CLUSTER({ rateLimitService: { cluster: "ratelimit", timeout: "200ms" }, retryAfter: "300ms" }) }));
    try {
      await ptu429OnA(rep);
      rls.delayMs = 5000;
      const t0 = Date.now();
      const stalled: number[] = [];
      for (let k = 0; k < 6; k++) {
        const t = Date.now();
        const r = await chat(rep.gateways[k % 3]!);
        expect(r.status).toBe(200);
        stalled.push(Date.now() - t);
      }
      // Each request waits at most its lease's timeout (fail-open); the cooldown sync waits for nothing.
      expect(Math.max(...stalled)).toBeLessThan(1500);
      await rls.close();
      const killed: number[] = [];
      for (let k = 0; k < 6; k++) {
        const t = Date.now();
        const r = await chat(rep.gateways[k % 3]!);
        expect(r.status).toBe(200);
        killed.push(Date.now() - t);
      }
      expect(Math.max(...killed)).toBeLessThan(1500);
      expect(Date.now() - t0).toBeLessThan(15000);
      await until(() => rep.logs.some((l) => l.level === 3 && /cooldown sync; traffic goes on, learned cooldowns run out/.test(l.message)), 3000);
      const metrics = await (await fetch(`${rep.gateways[1]!.adminUrl}/stats/prometheus`)).text();
      expect(metrics).toMatch(/ai_failover_cluster_limit_calls_total\{result="failed"\} [1-9]/);
    } finally {
      rls.delayMs = 0;
      await rep.close();
      await Promise.all([east.close(), west.close()]);
    }
  });
});
