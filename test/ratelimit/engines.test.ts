// Issue 20 (items 10–12) through the gateway: the engines the cluster-wide limits talk to, as they
// really behave. The rate limit service stand-in counts in this process (no redis-server needed)
// and can play an envoyproxy/ratelimit image older than 38500fe (2024-12-27); a scripted Redis
// (below) answers the Higress build's script with whatever a test wants.
//
//   - an old image ignores a descriptor's own hits_addend: every check counts 1, so the cooldown
//     descriptors (limit 0 per second) are over their limit at every check — shared cooldowns held
//     every provider on every replica (a total outage) — and a lease counted 1 instead of its
//     tokens. The filter checks at start and turns both off, with one error naming the minimum;
//   - a domain the service does not know limits nothing: one warning naming the domain;
//   - a rateLimitService.cluster name that parses as a protobuf message (unknown groups included)
//     is refused: Envoy would take it for a GrpcService and abort at the first call;
//   - an engine's time until its window ends, or a published cooldown, is believed up to the window
//     and an hour (duration_until_reset 10^10 s locked a consumer out with retry-after 9999999931).
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startGateway } from "../../harness/gateway/index.ts";
import { PluginLoadError, type LogRecord } from "../../harness/host/index.ts";
import { withRlsCluster } from "../../harness/ratelimit/bootstrap.ts";
import { RateLimitConfig } from "../../harness/ratelimit/config.ts";
import { Code } from "../../harness/ratelimit/rls-proto.ts";
import { startRateLimitService, type RateLimitService } from "../../harness/ratelimit/server.ts";
import { withHigressBuild, withoutStopIterationFlag, withRedisCluster } from "../../harness/redis/bootstrap.ts";
import { parseReply, RespSplitter } from "../../harness/redis/resp.ts";
import { bootstrapWith, post, ROOT, sleep, startStack, until, type Stack } from "../support/stack.ts";
import { chatRequest } from "../../harness/requests.ts";

const YAML = `
domain: ai-failover
descriptors:
  - key: provider
    value: aoai-east-ptu
    rate_limit: { unit: minute, requests_per_unit: 10000 }
  - key: consumer
    value: team-a
    rate_limit: { unit: second, requests_per_unit: 100000 }
`;
const TEAM_KEY = "team-a-key-Zp3Lq8Rv2Wn6";
const TEAM_B_KEY = "team-b-key-Hq7Wd2Kx9Lm4";
const CHECK_KEY = "ai-failover-version-check";
const chat = () => chatRequest("hi", 20);

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function rlsStack(opts: { legacy?: boolean; domain?: string; consumers?: boolean; rls?: RateLimitService; replicas?: number; shareCooldowns?: boolean } = {}):
  Promise<{ s: Stack; rls: RateLimitService }> {
  let rls = opts.rls;
  if (!rls) {
    const started = await startRateLimitService({ config: RateLimitConfig.fromYaml(YAML), legacyHitsAddend: opts.legacy ?? false });
    closers.push(() => started.close());
    rls = started;
  }
  const s = await startStack({
    bootstrap: (y) => withRlsCluster(y, rls.port),
    // Answers use the whole max_tokens: consumer budgets are charged what was used.
    east: { completionTokens: 100000 },
    edit: (cfg) => ({
      ...cfg,
      healthCheck: { enabled: false },
      clusterLimits: {
        rateLimitService: { cluster: "ratelimit", domain: opts.domain ?? "ai-failover", timeout: "1s" }, failureMode: "open", replicas: opts.replicas ?? 1,
        shareCooldowns: opts.shareCooldowns ?? true,
      },
      ...(opts.consumers ? { consumers: [{ name: "team-a", apiKey: TEAM_KEY, tokensPerMinute: 3000 }] } : {}),
    }),
  });
  closers.push(() => s.close());
  return { s, rls };
}

const isCheck = (c: RateLimitService["calls"][number]) => c.request?.descriptors.some((d) => d.entries[0]?.key === CHECK_KEY) ?? false;
const isCooldown = (c: RateLimitService["calls"][number]) => c.request?.descriptors.some((d) => d.entries[0]?.key === "cooldown") ?? false;
const messages = (logs: LogRecord[]) => logs.map((l) => l.message);

describe("envoyproxy/ratelimit older than 38500fe (2024-12-27): per-descriptor hits_addend ignored", () => {
  it("the start check finds it: one error naming the minimum, cooldown sharing and leases off — clients are served (the old build held every provider)", async () => {
    const { s, rls } = await rlsStack({ legacy: true });
    // The first ticks: the check, then (on the old build) the cooldown checks that an old image counts.
    await sleep(1500);
    const statuses: number[] = [];
    const providers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat());
      statuses.push(r.status);
      providers.push(String(r.headers["x-ai-failover-provider"]));
    }
    expect(statuses, providers.join(",")).toEqual(Array(8).fill(200));
    expect(providers.every((p) => p === "aoai-east-ptu")).toBe(true);
    // The check: hits_addend 0 on a fresh descriptor with its own limit 0/s — the old image counted it.
    const checks = rls.calls.filter(isCheck);
    expect(checks.length).toBeGreaterThanOrEqual(1);
    const d = checks[0]!.request!.descriptors[0]!;
    expect([d.hitsAddend, d.limit]).toEqual([0, { requestsPerUnit: 0, unit: 1 }]);
    expect(checks[0]!.response!.statuses[0]!.code).toBe(Code.OVER_LIMIT);
    // One error (one checker per process), naming the minimum version.
    const errors = s.logs.filter((l) => l.level === 4 && l.message.includes("hits_addend"));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain("older than commit 38500fe (2024-12-27)");
    expect(errors[0]!.message).toContain("cooldown sharing and token leases are off");
    // Nothing but checks after it answered (a tick's look at the pools may have left with it).
    const answeredAt = checks[0]!.at;
    expect(rls.calls.filter((c) => c.at > answeredAt + 400 && !isCheck(c)).map((c) => c.request?.descriptors[0]?.entries[0]?.key)).toEqual([]);
    expect(rls.calls.filter(isCooldown)).toEqual([]);
  });

  it("a consumer's budget across 3 replicas on that image: each admits its share (limit / replicas) — the old build's leases counted 1 each", async () => {
    const rls = await startRateLimitService({ config: RateLimitConfig.fromYaml(YAML), legacyHitsAddend: true });
    closers.push(() => rls.close());
    const reps: Stack[] = [];
    // Without cooldown sharing (on the old build it held every provider: see above), leases alone.
    for (let i = 0; i < 3; i++) reps.push((await rlsStack({ rls, consumers: true, replicas: 3, shareCooldowns: false })).s);
    await sleep(1500);
    const statuses: number[] = [];
    // ~520 tokens each (prompt estimate + 500): the consumer's 3,000 tokens a minute admit 5 cluster-wide.
    for (let i = 0; i < 18; i++) {
      const r = await post(reps[i % 3]!.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 500 }, { authorization: `Bearer ${TEAM_KEY}` });
      statuses.push(r.status);
    }
    const ok = statuses.filter((x) => x === 200).length;
    // Each replica: 1,000 tokens (one request). The old build leased from a service counting each lease as 1: 5 per replica.
    expect(ok * 500).toBeLessThanOrEqual(3000);
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((x) => x !== 200).every((x) => x === 429)).toBe(true);
    for (const r of reps) expect(r.logs.filter((l) => l.level === 4 && l.message.includes("older than commit 38500fe"))).toHaveLength(1);
  });

  it("control: a current image passes the check — no error, cooldowns are checked with hits 0 and leases go to the service", async () => {
    const { s, rls } = await rlsStack();
    await sleep(1500);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat())).status).toBe(200);
    const checks = rls.calls.filter(isCheck);
    expect(checks.length).toBe(1);
    expect(checks[0]!.response!.statuses[0]).toMatchObject({ code: Code.OK, currentLimit: { requestsPerUnit: 0, unit: 1 } });
    expect(s.logs.filter((l) => l.level >= 3 && /hits_addend|does not know the domain/.test(l.message))).toEqual([]);
    expect(rls.calls.filter(isCooldown).length).toBeGreaterThan(0);
    expect(rls.calls.some((c) => c.request?.descriptors.some((d) => d.entries[0]?.key === "provider" && (d.hitsAddend ?? 0) > 0))).toBe(true);
  });
});

describe("a domain the rate limit service does not know (config_impl.go GetLimit: no limit at all)", () => {
  it("gets one warning naming the domain (not a descriptor); traffic goes on", async () => {
    const { s } = await rlsStack({ domain: "unknown-domain" });
    await until(() => s.logs.some((l) => l.message.includes("does not know the domain")), 3000);
    await sleep(1200);
    const warned = s.logs.filter((l) => l.level === 3 && l.message.includes("does not know the domain"));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toContain("does not know the domain \"unknown-domain\"");
    expect(warned[0]!.message).toContain("every cluster-wide limit is off");
    // Not the old advice about a descriptor's YAML entry.
    expect(messages(s.logs).some((m) => m.includes("answered the cooldown descriptors without a limit"))).toBe(false);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat())).status).toBe(200);
  });
});

describe("rateLimitService.cluster names that parse as a protobuf message (unknown groups included)", () => {
  it.each(["cd", "st", "kl", "34", "h1st"])("%s: refused at configure time with the reason (the old build loaded it, and the VM died at the first call)", async (name) => {
    const rls = await startRateLimitService({ config: RateLimitConfig.fromYaml(YAML) });
    closers.push(() => rls.close());
    const logs: LogRecord[] = [];
    // A name YAML would read as a number is quoted in the bootstrap (Envoy's cluster name is a string).
    const yaml = withRlsCluster(bootstrapWith({ east: 1, west: 2 }, (cfg) => ({
      ...cfg, healthCheck: { enabled: false },
      clusterLimits: { rateLimitService: { cluster: name, timeout: "1s" }, replicas: 1 },
    })), rls.port, /^\d+$/.test(name) ? `"${name}"` : name);
    let started: Awaited<ReturnType<typeof startGateway>> | undefined;
    let error: unknown;
    try {
      started = await startGateway({ bootstrapText: yaml, baseDir: ROOT, workers: 1, logLevel: 0, logger: (r) => logs.push(r) });
      closers.push(() => started!.close());
      // The old build got here: the first request leases, and proxy_grpc_call reads the name as a GrpcService.
      await post(started.url, "/v1/chat/completions", chat());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PluginLoadError);
    const all = [...logs, ...(error as PluginLoadError).logs].map((l) => l.message);
    const problem = all.find((m) => m.startsWith("ai-failover: invalid configuration: clusterLimits.rateLimitService.cluster: "));
    expect(problem).toContain(`Envoy would read "${name}" as a serialized GrpcService`);
    expect(problem).toContain("protobuf accepts as unknown fields");
    expect(problem).toContain("async_client_manager_impl.cc");
    expect(all.some((m) => m.includes("PANIC_DUE_TO_PROTO_UNSET"))).toBe(false);
  });
});

describe("an engine's time is believed up to the window and an hour", () => {
  it("rate limit service: duration_until_reset 10^10 s on an over-limit consumer gives retry-after ≤ the window (1 s), and the consumer is served again after it", async () => {
    const { s, rls } = await rlsStack({ consumers: true });
    await sleep(800);
    let odd = true;
    rls.rewrite = (res, req) => {
      if (!odd || !req.descriptors.some((d) => d.entries[0]?.key === "consumer")) return;
      for (const st of res.statuses) if (st.currentLimit) Object.assign(st, { code: Code.OVER_LIMIT, limitRemaining: 0, durationUntilResetMs: 1e13 });
      res.overallCode = Code.OVER_LIMIT;
    };
    const auth = { authorization: `Bearer ${TEAM_KEY}` };
    const refused = await post(s.gateway.url, "/v1/chat/completions", chat(), auth);
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body).error.code).toBe("consumer_rate_limit_exceeded");
    // The unit the service counts in is a second: its window ends within a second, whatever it says.
    expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(1);
    odd = false;
    await sleep(1300);
    const served = await post(s.gateway.url, "/v1/chat/completions", chat(), auth);
    expect(served.status, served.body.slice(0, 300)).toBe(200);
  });

  it("Redis (Higress build): a script reply with a window end and a cooldown 10^13 ms away is believed up to the window (60 s) and an hour", async () => {
    // ARGV (cluster/redis_script.ts): 1 window, 2 token limit, 3 request limit, 4 tokens wanted, …
    const redis = await scriptedRedis((key, argv) => key.endsWith(":consumer:team-a")
      // Over the limit, the window "ending" in 10^13 ms.
      ? [2, 0, 0, 1e13, 0, 0]
      // Granted, the window ending in 30 s; a provider's key carrying a cooldown 10^13 ms long (reason 1: rate limited).
      : [1, Number(argv[3]), 100000, 30000, key.includes(":provider:") ? 1e13 : 0, key.includes(":provider:") ? 1 : 0]);
    closers.push(() => redis.close());
    const s = await startStack({
      workers: 1,
      flavour: "higress",
      bootstrap: (y) => withRedisCluster(withoutStopIterationFlag(withHigressBuild(y)), redis.port),
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        providers: [cfg.providers[0]],
        clusterLimits: { redis: { service: "redis.dns", timeout: "1s" }, failureMode: "open", replicas: 1 },
        consumers: [{ name: "team-a", apiKey: TEAM_KEY, tokensPerMinute: 3000 }, { name: "team-b", apiKey: TEAM_B_KEY, tokensPerMinute: 3000 }],
      }),
    });
    closers.push(() => s.close());
    // The sync tick learns the provider's cooldown from its key.
    await until(() => s.logs.some((l) => /provider aoai-east-ptu cooling down for \d+ ms/.test(l.message)), 4000);
    const learned = s.logs.find((l) => /provider aoai-east-ptu cooling down for \d+ ms/.test(l.message))!.message;
    expect(Number(/cooling down for (\d+) ms/.exec(learned)![1])).toBeLessThanOrEqual(3_600_000);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${TEAM_B_KEY}` });
    expect(r.status, r.body.slice(0, 300)).toBe(429);
    expect(JSON.parse(r.body).error.code).toBe("no_provider_available");
    expect(Number(r.headers["retry-after"])).toBeLessThanOrEqual(3600);
    expect(Number(r.headers["retry-after"])).toBeGreaterThan(3000);
    const c = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${TEAM_KEY}` });
    expect(c.status).toBe(429);
    expect(JSON.parse(c.body).error.code).toBe("consumer_rate_limit_exceeded");
    expect(Number(c.headers["retry-after"])).toBeLessThanOrEqual(60);
  });
});

/**
 * A Redis that answers the filter's EVAL with `reply(key)` (the script's six integers), AUTH and
 * SELECT with +OK, anything else with an error: the replies of a Redis whose keys hold values the
 * filter must not believe whole.
 */
async function scriptedRedis(reply: (key: string, argv: string[]) => number[]): Promise<{ port: number; commands: string[][]; close(): Promise<void> }> {
  const commands: string[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const split = new RespSplitter();
    socket.on("data", (chunk) => {
      for (const raw of split.push(chunk)) {
        const v = parseReply(raw);
        const args = Array.isArray(v) ? v.map((x) => (Buffer.isBuffer(x) ? x.toString("latin1") : String(x))) : [];
        commands.push(args);
        const op = (args[0] ?? "").toUpperCase();
        if (op === "EVAL") socket.write(`*6\r\n${reply(args[3] ?? "", args.slice(4)).map((n) => `:${n}\r\n`).join("")}`);
        else if (op === "AUTH" || op === "SELECT" || op === "PING") socket.write("+OK\r\n");
        else socket.write(`-ERR unknown command '${op}'\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
