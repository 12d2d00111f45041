// Cluster-wide limits and cooldowns in Redis (issue 11, the Higress build): three gateway replicas
// — each its own host with its own VMs and shared data, playing Higress (harness/host/redis-callout.ts
// implements Higress's proxy_redis_* as higress-group/envoy does) — with one or two workers, in front
// of one PTU (10,000 TPM) and one pay-as-you-go deployment, counting in one real redis-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider } from "../../harness/providers/index.ts";
import type { LogRecord } from "../../harness/host/types.ts";
import { RedisServer } from "../../harness/redis/server.ts";
import { withHigressBuild, withoutStopIterationFlag, withRedisCluster } from "../../harness/redis/bootstrap.ts";
import { bootstrapWith, EAST_KEY, post, ROOT, sleep, until, WEST_KEY, withVmEnv } from "../support/stack.ts";
import { REDIS, redisSkipNote } from "../support/redis.ts";
import { startGatewayProcess } from "../support/gateway-process.ts";

const PASSWORD = "redis-Pw-N4v8Qm2Lx7";
const EAST_KEY_NAME = "ai-failover:provider:aoai-east-ptu";

interface Replicas {
  gateways: Gateway[];
  /** Each replica's logs. */
  logs: LogRecord[][];
  all(): LogRecord[];
  prometheus(i: number): Promise<string>;
  close(): Promise<void>;
}

/** The bootstrap of one replica: envoy/local.yaml with the mocks, the Redis cluster and the Higress build. */
function replicaBootstrap(ports: { east: number; west: number; redis: number }, edit: (cfg: any) => any, build: "higress" | "envoy" = "higress"): string {
  let yaml = withVmEnv(bootstrapWith(ports, edit), { REDIS_PASSWORD: PASSWORD });
  if (build === "higress") yaml = withoutStopIterationFlag(withHigressBuild(yaml));
  return withRedisCluster(yaml, ports.redis);
}

async function replicas(n: number, workers: number, ports: { east: number; west: number; redis: number }, edit: (cfg: any) => any,
  build: "higress" | "envoy" = "higress"): Promise<Replicas> {
  const logs: LogRecord[][] = [];
  const gateways: Gateway[] = [];
  for (let i = 0; i < n; i++) {
    const mine: LogRecord[] = [];
    logs.push(mine);
    const yaml = replicaBootstrap(ports, edit, build);
    gateways.push(await startGateway({
      bootstrapText: yaml,
      hostOptions: { flavour: "higress" }, baseDir: ROOT, workers, logLevel: 0, logger: (r) => mine.push(r),
    }));
  }
  return {
    gateways, logs,
    all: () => logs.flat(),
    prometheus: async (i) => await (await fetch(`${gateways[i]!.adminUrl}/stats/prometheus`)).text(),
    async close() { await Promise.all(gateways.map((g) => g.close())); },
  };
}

const CLUSTER = (extra: Record<string, unknown> = {}) => ({
  // 1 s: a loaded test machine must not turn a slow answer into fail-open (the hung-Redis test sets 100 ms).
  redis: { service: "redis.dns", passwordEnv: "REDIS_PASSWORD", timeout: "1s" }, failureMode: "open", replicas: 3, ...extra,
});

/** Offered load: `total` chat requests of ~`maxTokens` tokens, `concurrency` at a time, round-robin over the replicas. */
async function load(gws: Array<{ url: string }>, total: number, concurrency: number, maxTokens: number, headers: Record<string, string> = {}) {
  const statuses: number[] = [];
  const providers: string[] = [];
  const ms: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const k = next++;
      const t0 = Date.now();
      const r = await post(gws[k % gws.length]!.url, "/v1/chat/completions",
        { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens }, headers);
      ms.push(Date.now() - t0);
      statuses.push(r.status);
      providers.push(String(r.headers["x-ai-failover-provider"] ?? "-"));
    }
  }));
  return { statuses, providers, ms };
}

const chatsOf = (p: MockProvider) => p.records.filter((r) => r.path.includes("/chat/completions"));
/** The estimate each request reserves (prompt estimate + max_tokens 500), as the filter logs it. */
const PER_REQUEST = 512;

/** Redis counts in minute windows on its clock (this machine's): keep a scenario inside one. */
async function clearOfMinuteEdge(needMs = 15000): Promise<void> {
  const left = 60000 - (Date.now() % 60000);
  if (left < needMs) await sleep(left + 300);
}

describe.skipIf(!REDIS.ok)(`cluster-wide limits in Redis (Higress build): 3 replicas, one redis-server ${redisSkipNote}`, () => {
  let redis: RedisServer;
  let east: MockProvider;
  let west: MockProvider;
  beforeAll(async () => {
    redis = await RedisServer.start({ bin: REDIS.bin, password: PASSWORD });
  });
  afterAll(async () => { await redis?.stop(); });
  async function mocks(completionTokens = 8) {
    await redis.client().command(["FLUSHALL"]);
    east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY],
      deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06", tokensPerMinute: 10000 } }, completionTokens });
    west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY],
      deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } }, completionTokens });
  }
  const ports = () => ({ east: east.port, west: west.port, redis: redis.port });
  const closeMocks = () => Promise.all([east.close(), west.close()]);

  it.each([
    [1, 0], [2, 0], [2, 2000],
  ])("PTU 10,000 TPM + PAYG, offered 3× the PTU (workers %i per replica, leaseTokens %i): the PTU stays within its limit, no 429 anywhere", async (workers, leaseTokens) => {
    await clearOfMinuteEdge();
    await mocks();
    const rep = await replicas(3, workers, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ leaseTokens }) }));
    try {
      // 58 requests of ~512 tokens ≈ 30,000 tokens: 3× the PTU.
      const { statuses, providers } = await load(rep.gateways, 58, 12, 500);
      const onEast = chatsOf(east);
      expect(statuses.filter((s) => s !== 200), providers.join(",")).toEqual([]);
      expect(onEast.filter((r) => r.status === 429)).toHaveLength(0);
      // Redis never admits past the limit (a lease is cut to what is left, a refused one is not counted).
      expect(onEast.length * PER_REQUEST).toBeLessThanOrEqual(10000);
      // …and the PTU was used: at least its limit minus one lease (or request) per replica and one request.
      expect(onEast.length * PER_REQUEST).toBeGreaterThanOrEqual(10000 - 3 * Math.max(leaseTokens, PER_REQUEST) - PER_REQUEST);
      expect(chatsOf(west).length).toBe(58 - onEast.length);
      const counted = await redis.client().command(["HMGET", EAST_KEY_NAME, "t", "r"]) as Buffer[];
      expect(Number(String(counted[0]))).toBeLessThanOrEqual(10000);
      // Per request, Redis counts the requests too; leases carry tokens only.
      if (leaseTokens === 0) expect(Number(String(counted[1]))).toBe(onEast.length);
      expect(rep.all().filter((l) => l.level >= 3 && /cluster limits/.test(l.message))).toEqual([]);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("the same with 3 gateway processes × 2 workers (each replica an OS process of its own, running in parallel)", async () => {
    await clearOfMinuteEdge(25000);
    await mocks();
    const procs = await Promise.all([0, 1, 2].map(() => startGatewayProcess(
      replicaBootstrap(ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER() })), { flavour: "higress", workers: 2, baseDir: ROOT })));
    try {
      expect(new Set(procs.map((p) => p.pid)).size).toBe(3);
      const { statuses, providers } = await load(procs, 58, 12, 500);
      const onEast = chatsOf(east);
      expect(statuses.filter((s) => s !== 200), providers.join(",")).toEqual([]);
      expect(onEast.filter((r) => r.status === 429)).toHaveLength(0);
      expect(onEast.length * PER_REQUEST).toBeLessThanOrEqual(10000);
      expect(onEast.length * PER_REQUEST).toBeGreaterThanOrEqual(10000 - 4 * PER_REQUEST);
      // Every process sent some of the PTU's requests: the limit was shared, not won by one.
      const logs = await Promise.all(procs.map((p) => p.logs()));
      for (const l of logs) expect(l.some((r) => /access: provider=aoai-east-ptu .*status=200/.test(r.message))).toBe(true);
    } finally {
      await Promise.all(procs.map((p) => p.close()));
      await closeMocks();
    }
  });

  it("a consumer budget of 3,000 tokens/min holds across 3 replicas × 2 workers within one estimate; then 429 consumer_rate_limit_exceeded", async () => {
    await clearOfMinuteEdge();
    // Answers use the whole max_tokens: consumer budgets are charged what was used (both ways).
    await mocks(100000);
    const KEY = "team-a-key-Zp3Lq8Rv2Wn6";
    const rep = await replicas(3, 2, ports(), (c) => ({
      ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER(),
      consumers: [{ name: "team-a", apiKey: KEY, tokensPerMinute: 3000 }],
    }));
    try {
      const { statuses } = await load(rep.gateways, 30, 6, 200, { authorization: `Bearer ${KEY}` });
      const ok = statuses.filter((s) => s === 200).length;
      // ~212 tokens each: 14 fit in 3,000 cluster-wide (each replica alone would admit 14).
      expect(ok * 200).toBeLessThanOrEqual(3000);
      expect(ok * 212).toBeGreaterThanOrEqual(3000 - 212 - 212);
      expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
      const used = await redis.client().command(["HGET", "ai-failover:consumer:team-a", "t"]);
      expect(Number(String(used))).toBeLessThanOrEqual(3000);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("Redis killed mid-run, failureMode open: no request hangs, each replica admits up to limit / replicas, a warning and a metric; counting resumes when Redis returns", async () => {
    await clearOfMinuteEdge(25000);
    await mocks();
    const rep = await replicas(3, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ retryAfter: "300ms" }) }));
    try {
      await load(rep.gateways, 6, 3, 500);
      await redis.kill();
      const down = await load(rep.gateways, 60, 12, 500);
      // Nothing waits on a dead Redis: a refused connection fails the call at once.
      expect(Math.max(...down.ms)).toBeLessThan(2000);
      expect(down.statuses.filter((s) => s !== 200)).toEqual([]);
      // Fail-open: each replica admits at most 10,000 / 3 to the PTU (plus what it had before Redis died).
      expect(chatsOf(east).length * PER_REQUEST).toBeLessThanOrEqual(10000 + 3 * PER_REQUEST);
      expect(chatsOf(east).filter((r) => r.status === 429)).toHaveLength(0);
      expect(rep.all().some((l) => l.level === 3 && /cluster limits: redis call failed \(connection refused, closed or timed out/.test(l.message))).toBe(true);
      expect(await rep.prometheus(0)).toMatch(/ai_failover_cluster_limit_calls_total\{result="failed"\} [1-9]/);
      await redis.restart();
      // A restarted Redis is empty: the PTU's own window (full now) answers 429s, and failover
      // attempts borrow against the next look at the PAYG's window (each tick).
      await sleep(1200);
      const back = await load(rep.gateways, 6, 3, 500);
      expect(back.statuses, back.providers.join(",")).toEqual(Array(6).fill(200));
      await until(() => rep.all().some((l) => /cluster limits: the redis answers again/.test(l.message)), 3000);
      // The restarted Redis counts again (what was admitted while it was down is reported with the next calls).
      const t = await redis.client().command(["HGET", EAST_KEY_NAME, "t"]);
      expect(Number(String(t))).toBeGreaterThan(0);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("Redis killed, failureMode closed: 503 cluster_limit_unavailable at once (no hang); served again once Redis is back", async () => {
    await mocks();
    const rep = await replicas(3, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, clusterLimits: CLUSTER({ failureMode: "closed", retryAfter: "300ms" }) }));
    try {
      expect((await load(rep.gateways, 3, 3, 50)).statuses).toEqual([200, 200, 200]);
      await redis.kill();
      const down = await load(rep.gateways, 9, 3, 50);
      expect(down.statuses).toEqual(Array(9).fill(503));
      expect(Math.max(...down.ms)).toBeLessThan(2000);
      const r = await post(rep.gateways[0]!.url, "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
      expect(JSON.parse(r.body).error.code).toBe("cluster_limit_unavailable");
      await redis.restart();
      await sleep(400);
      expect((await load(rep.gateways, 3, 3, 50)).statuses).toEqual([200, 200, 200]);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("a hung Redis (SIGSTOP): each call ends at its timeout — fail-open admits, fail-closed answers 503 — and no request waits much longer", async () => {
    await mocks();
    const open = await replicas(1, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false },
      clusterLimits: CLUSTER({ redis: { service: "redis.dns", passwordEnv: "REDIS_PASSWORD", timeout: "100ms" }, retryAfter: "200ms" }) }));
    const closed = await replicas(1, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false },
      clusterLimits: CLUSTER({ redis: { service: "redis.dns", passwordEnv: "REDIS_PASSWORD", timeout: "100ms" }, failureMode: "closed", retryAfter: "200ms" }) }));
    try {
      await load(open.gateways, 2, 1, 50);
      await load(closed.gateways, 2, 1, 50);
      redis.pause();
      const a = await load(open.gateways, 6, 2, 50);
      const b = await load(closed.gateways, 6, 2, 50);
      expect(a.statuses).toEqual(Array(6).fill(200));
      expect(b.statuses).toEqual(Array(6).fill(503));
      // The call's timeout (100 ms) bounds the wait; the tick's backstop (timeout + 250 ms, checked each second) was not needed.
      expect(Math.max(...a.ms, ...b.ms)).toBeLessThan(1000);
      expect(open.all().some((l) => /cluster limits: redis call failed/.test(l.message))).toBe(true);
    } finally {
      redis.resume();
      await open.close();
      await closed.close();
      await closeMocks();
    }
  });

  it.each([
    ["a 429 (retry-after 20 s)", [{ type: "rateLimit", retryAfterMs: 20000, count: 1 }], 1, "rate_limited", 1, {}],
    ["an insufficient_quota 429", [{ type: "insufficientQuota", count: 1 }], 1, "quota_exhausted", 4, {}],
    ["an ejection after 2 consecutive 503s", [{ type: "status", status: 503, count: 2 }], 2, "upstream_failures", 3, { consecutiveFailures: 2, baseEjection: "30s" }],
  ] as const)("%s on replica A cools the provider for all: the others learn it within two ticks and send it nothing", async (_what, faults, sent, reason, code, cooldown) => {
    await mocks();
    const rep = await replicas(3, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, cooldown, clusterLimits: CLUSTER() }));
    try {
      // A failover attempt cannot wait for a lease: it borrows against what the last look at the
      // PAYG's window said remained — the first look is the first tick's.
      await sleep(1200);
      for (const f of faults) east.setFault({ ...f } as never);
      for (let i = 0; i < sent; i++) {
        const r = await post(rep.gateways[0]!.url, "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 50 });
        expect(r.status).toBe(200);
        expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
      }
      const tCooled = Date.now();
      // Replicas B and C log when they learn it: at most two ticks (1 s each: A publishes on its tick, B reads on its) after A's answer.
      const learned = new RegExp(`provider aoai-east-ptu cooling down for \\d+ ms \\(${reason}\\), published by another replica`);
      await until(() => [1, 2].every((i) => rep.logs[i]!.some((l) => learned.test(l.message))), 4000);
      expect(Date.now() - tCooled).toBeLessThanOrEqual(2 * 1000 + 500);
      const after = await load(rep.gateways.slice(1), 10, 2, 50);
      expect(after.statuses).toEqual(Array(10).fill(200));
      expect(after.providers.every((p) => p === "aoai-west-payg")).toBe(true);
      // East saw only A's requests.
      expect(chatsOf(east)).toHaveLength(sent);
      const c = await redis.client().command(["HMGET", EAST_KEY_NAME, "cr"]) as Buffer[];
      expect(Number(String(c[0]))).toBe(code);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("control: without clusterLimits the other replicas keep sending to the provider that answered 429 elsewhere", async () => {
    await mocks();
    const rep = await replicas(3, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false } }));
    try {
      east.setFault({ type: "rateLimit", retryAfterMs: 20000, count: 1 });
      await post(rep.gateways[0]!.url, "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 50 });
      await sleep(2500);
      const after = await load(rep.gateways.slice(1), 10, 2, 50);
      expect(after.providers.filter((p) => p === "aoai-east-ptu").length).toBeGreaterThan(0);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("the Redis password never appears in logs or metrics; a wrong one fails open with a warning that does not show it", async () => {
    await mocks();
    const good = await replicas(1, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, logLevel: "debug", clusterLimits: CLUSTER() }));
    const bad = await replicas(1, 1, ports(), (c) => ({ ...c, healthCheck: { enabled: false }, logLevel: "debug",
      clusterLimits: CLUSTER({ redis: { service: "redis.dns", password: "wrong-" + PASSWORD } }) }));
    try {
      expect((await load(good.gateways, 4, 2, 50)).statuses).toEqual([200, 200, 200, 200]);
      expect(Number(String(await redis.client().command(["HGET", EAST_KEY_NAME, "r"])))).toBe(4);
      expect((await load(bad.gateways, 2, 1, 50)).statuses).toEqual([200, 200]);
      expect(bad.all().some((l) => l.level === 3 && /cluster limits: redis answered "(NOAUTH|ERR Protocol error: unauthenticated)/.test(l.message)), bad.all().filter((l) => l.level >= 3).map((l) => l.message).join("\n")).toBe(true);
      const text = [...good.all(), ...bad.all()].map((l) => l.message).join("\n") + (await good.prometheus(0)) + (await bad.prometheus(0));
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(PASSWORD.slice(-8));
    } finally {
      await good.close();
      await bad.close();
      await closeMocks();
    }
  });

  it("a Redis service Higress has no cluster for: one warning at configure time naming the cluster, then the failure mode (open: served)", async () => {
    await mocks();
    const rep = await replicas(1, 2, ports(), (c) => ({ ...c, healthCheck: { enabled: false },
      clusterLimits: CLUSTER({ redis: { service: "nosuch-redis.dns" }, retryAfter: "200ms" }) }));
    try {
      expect(rep.all().filter((l) => /redis client for cluster outbound\|6379\|\|nosuch-redis\.dns not initialised \(result 2: no such cluster\)/.test(l.message)).length).toBeGreaterThan(0);
      const r = await load(rep.gateways, 20, 4, 50);
      expect(r.statuses).toEqual(Array(20).fill(200));
      // Rate-limited: one warning per worker per 10 s, not one per request.
      const warned = rep.all().filter((l) => /cluster limits: redis client for cluster outbound\|6379\|\|nosuch-redis\.dns could not be initialised/.test(l.message));
      expect(warned.length).toBeGreaterThan(0);
      expect(warned.length).toBeLessThanOrEqual(2);
    } finally {
      await rep.close();
      await closeMocks();
    }
  });

  it("clusterLimits.redis on the Envoy build is a configuration error naming the path", async () => {
    await mocks();
    const logs: LogRecord[] = [];
    const yaml = withRedisCluster(withVmEnv(bootstrapWith(ports(), (c) => ({ ...c, clusterLimits: CLUSTER() })), { REDIS_PASSWORD: PASSWORD }), redis.port);
    await expect(startGateway({ bootstrapText: yaml, baseDir: ROOT, workers: 1, logLevel: 0, logger: (r) => logs.push(r) })).rejects.toThrow(/Failed to configure/);
    expect(logs.some((l) => l.message.startsWith("ai-failover: invalid configuration: clusterLimits.redis: this module is the Envoy build"))).toBe(true);
    await closeMocks();
  });
});
