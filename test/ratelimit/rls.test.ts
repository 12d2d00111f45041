// The rate limit service stand-in (harness/ratelimit): envoyproxy/ratelimit's gRPC API and Redis
// fixed-window keys, against a real redis-server; two gateway hosts sharing one limit through
// proxy_grpc_call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginHost, ProcessState, type LogRecord } from "../../harness/host/index.ts";
import { RateLimitConfig } from "../../harness/ratelimit/config.ts";
import { shouldRateLimit } from "../../harness/ratelimit/client.ts";
import {
  Code, decodeRequest, decodeResponse, encodeRequest, RLS_METHOD, RLS_SERVICE, Unit, type RateLimitRequest,
} from "../../harness/ratelimit/rls-proto.ts";
import { startRateLimitService, type RateLimitService } from "../../harness/ratelimit/server.ts";
import { fixtureWasm, recorder, until } from "../../harness/rig/host-rig.ts";
import { testClusters } from "../support/clusters.ts";
import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";

describe("RateLimitRequest / RateLimitResponse on the wire (field numbers of rls.proto and ratelimit.proto)", () => {
  it("encodes domain = 1, descriptors = 2 (entries = 1 {key = 1, value = 2}, limit = 2, hits_addend = 3 as UInt64Value), hits_addend = 3", () => {
    const bytes = encodeRequest({ domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }] }], hitsAddend: 0 });
    expect(Buffer.from(bytes).toString("hex")).toBe("0a0164" + "1208" + "0a06" + "0a016b" + "120176");
    const full: RateLimitRequest = {
      domain: "ai", hitsAddend: 7,
      descriptors: [{ entries: [{ key: "a", value: "1" }, { key: "b", value: "2" }], limit: { requestsPerUnit: 10, unit: Unit.WEEK }, hitsAddend: 0 }],
    };
    const wire = encodeRequest(full);
    expect(Buffer.from(wire).toString("hex")).toContain("1a00"); // hits_addend {} (0, present)
    expect(Buffer.from(wire).toString("hex").endsWith("1807")).toBe(true); // request hits_addend = 7
    expect(decodeRequest(wire)).toEqual(full);
  });
});

const YAML = `
domain: ai
descriptors:
  - key: consumer
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: consumer
    value: batch
    rate_limit: { unit: hour, requests_per_unit: 100, name: batch }
    descriptors:
      - key: model
        rate_limit: { unit: second, requests_per_unit: 1 }
  - key: internal
    rate_limit: { unlimited: true }
`;

const NOW = 1_700_000_050; // minute window starts at 1_700_000_040, 10 s in

describe.skipIf(!REDIS.ok)(`rate limit service stand-in ${redisSkipNote}`, () => {
  const redis = withRedis();
  let rls: RateLimitService;
  beforeAll(async () => {
    rls = await startRateLimitService({ redisPort: redis().port, config: RateLimitConfig.fromYaml(YAML), nowSeconds: () => NOW });
  });
  afterAll(async () => {
    await rls?.close();
  });
  const one = (entries: Array<[string, string]>, extra: Partial<RateLimitRequest> = {}): RateLimitRequest => ({
    domain: "ai", descriptors: [{ entries: entries.map(([key, value]) => ({ key, value })) }], hitsAddend: 0, ...extra,
  });

  it("fixed window in Redis under envoyproxy/ratelimit's key (<domain>_<key>_<value>_<windowStart>): INCRBY + EXPIRE", async () => {
    await redis().client().command(["FLUSHALL"]);
    const r = await shouldRateLimit(rls.url, one([["consumer", "solo"]]));
    expect(r.status).toBe(0);
    expect(r.response!.overallCode).toBe(Code.OK);
    expect(r.response!.statuses).toEqual([
      { code: Code.OK, currentLimit: { requestsPerUnit: 3, unit: Unit.MINUTE, name: "" }, limitRemaining: 2, durationUntilResetMs: 50_000 },
    ]);
    const c = redis().client();
    expect(String(await c.command(["GET", "ai_consumer_solo_1700000040"]))).toBe("1");
    const ttl = Number(await c.command(["TTL", "ai_consumer_solo_1700000040"]));
    expect(ttl).toBeGreaterThanOrEqual(59);
    expect(ttl).toBeLessThanOrEqual(60 + 300);
    c.close();
  });

  it("hits_addend: the request's (0 counts 1), a descriptor's own overrides it (0 = check only); no limit → OK without current_limit; unlimited; nested", async () => {
    await redis().client().command(["FLUSHALL"]);
    const r = await shouldRateLimit(rls.url, {
      domain: "ai", hitsAddend: 2,
      descriptors: [
        { entries: [{ key: "consumer", value: "x" }] },
        { entries: [{ key: "consumer", value: "y" }], hitsAddend: 0 },
        { entries: [{ key: "other", value: "z" }] },
        { entries: [{ key: "internal", value: "svc" }] },
        { entries: [{ key: "consumer", value: "batch" }, { key: "model", value: "gpt-4o" }], hitsAddend: 2 },
      ],
    });
    const s = r.response!.statuses;
    expect(s.map((x) => [x.code, x.limitRemaining, x.currentLimit?.requestsPerUnit])).toEqual([
      [Code.OK, 1, 3], [Code.OK, 3, 3], [Code.OK, 0, undefined], [Code.OK, 4294967295, undefined], [Code.OVER_LIMIT, 0, 1],
    ]);
    expect(r.response!.overallCode).toBe(Code.OVER_LIMIT);
    const c = redis().client();
    expect((await c.command(["KEYS", "*"])) as Buffer[]).toHaveLength(3); // x, y (INCRBY 0 still creates it), batch+model
    expect(String(await c.command(["GET", "ai_consumer_batch_model_gpt-4o_1700000050"]))).toBe("2");
    c.close();
  });

  it("requests_per_unit 0 per SECOND (the cooldown descriptors): a check (hits 0) is OK until something hit it in this second, then OVER_LIMIT; the next second starts at 0 — in the YAML or sent as the descriptor's limit", async () => {
    // envoyproxy/ratelimit base_limiter.go GetResponseDescriptorStatus: OVER_LIMIT iff
    // limitAfterIncrease > requests_per_unit, so 0 + 0 > 0 is OK (remaining 0) and 1 > 0 is over;
    // config_impl.go GetLimit: a descriptor's own limit (RateLimitOverride) wins when the domain is known.
    await redis().client().command(["FLUSHALL"]);
    let clock = 1_700_000_100;
    const svc = await startRateLimitService({ redisPort: redis().port, nowSeconds: () => clock,
      config: RateLimitConfig.fromYaml("domain: ai\ndescriptors:\n  - key: cooldown\n    rate_limit: { unit: second, requests_per_unit: 0 }\n") });
    try {
      const viaYaml = (hits: number) => ({ entries: [{ key: "cooldown", value: "ptu" }], hitsAddend: hits });
      const viaOverride = (hits: number) => ({ entries: [{ key: "cd", value: "ptu" }], limit: { requestsPerUnit: 0, unit: Unit.SECOND }, hitsAddend: hits });
      const statuses = async (ds: RateLimitRequest["descriptors"]) =>
        (await shouldRateLimit(svc.url, { domain: "ai", descriptors: ds, hitsAddend: 0 })).response!.statuses;
      const second = { requestsPerUnit: 0, unit: Unit.SECOND, name: "" };
      expect(await statuses([viaYaml(0), viaOverride(0)])).toEqual([
        { code: Code.OK, currentLimit: second, limitRemaining: 0, durationUntilResetMs: 1000 },
        { code: Code.OK, currentLimit: second, limitRemaining: 0, durationUntilResetMs: 1000 },
      ]);
      // A publisher hits it (its own status is over at once) …
      expect((await statuses([viaYaml(1), viaOverride(1)])).map((x) => x.code)).toEqual([Code.OVER_LIMIT, Code.OVER_LIMIT]);
      // … and every check in the same second sees it, without adding to it.
      expect((await statuses([viaYaml(0), viaOverride(0)])).map((x) => x.code)).toEqual([Code.OVER_LIMIT, Code.OVER_LIMIT]);
      expect(String(await redis().client().command(["GET", "ai_cooldown_ptu_1700000100"]))).toBe("1");
      expect(String(await redis().client().command(["GET", "ai_cd_ptu_1700000100"]))).toBe("1");
      // The next second is a new key: OK again until hit again.
      clock += 1;
      expect((await statuses([viaYaml(0), viaOverride(0)])).map((x) => x.code)).toEqual([Code.OK, Code.OK]);
      // The override needs a known domain (an unknown one limits nothing: OK without current_limit).
      const other = await shouldRateLimit(svc.url, { domain: "nope", descriptors: [viaOverride(1)], hitsAddend: 0 });
      expect(other.response!.statuses).toEqual([{ code: Code.OK, limitRemaining: 0 }]);
    } finally {
      await svc.close();
    }
  });

  it("service errors are gRPC UNKNOWN with the service's message; Redis down → UNKNOWN, and back once it restarts", async () => {
    expect(await shouldRateLimit(rls.url, one([["consumer", "e"]], { domain: "" }))).toMatchObject({ status: 2, message: "rate limit domain must not be empty" });
    expect(await shouldRateLimit(rls.url, { domain: "ai", descriptors: [], hitsAddend: 0 })).toMatchObject({ status: 2, message: "rate limit descriptor list must not be empty" });
    await redis().kill();
    const down = await shouldRateLimit(rls.url, one([["consumer", "e"]]));
    expect(down.status).toBe(2);
    expect(down.message).toMatch(/^redis: /);
    await redis().restart();
    expect((await shouldRateLimit(rls.url, one([["consumer", "e"]]))).response!.statuses[0]!.limitRemaining).toBe(2);
  });

  it("two gateways (separate processes' hosts) share one limit through proxy_grpc_call to one stand-in and one Redis", async () => {
    await redis().client().command(["FLUSHALL"]);
    const logs: LogRecord[][] = [[], []];
    const clusters = [0, 1].map(() => testClusters({ rls: { port: rls.port, http2: true } }));
    const hosts = await Promise.all([0, 1].map((i) => PluginHost.create({
      wasm: fixtureWasm("grpc-call"), rootId: "r", configuration: "", workers: 1,
      dispatcher: clusters[i]!.dispatcher, logger: (l) => logs[i]!.push(l), logLevel: 0,
    }, new ProcessState())));
    try {
      const body = Buffer.from(encodeRequest(one([["consumer", "team-a"]]))).toString("hex");
      const codes: Array<[number, number]> = [];
      for (const i of [0, 1, 0, 1, 0]) {
        const before = logs[i]!.filter((l) => l.message.startsWith("grpc_receive")).length;
        hosts[i]!.newStream(1, recorder()).decodeHeaders([
          [":method", "GET"], [":path", "/"], [":authority", "gw"], ["x-test", "grpc"], ["x-service", "rls"],
          ["x-svc", RLS_SERVICE], ["x-method", RLS_METHOD], ["x-timeout", "1000"], ["x-body-hex", body],
        ], true);
        await until(() => logs[i]!.filter((l) => l.message.startsWith("grpc_receive")).length > before);
        const line = logs[i]!.filter((l) => l.message.startsWith("grpc_receive")).at(-1)!.message;
        const res = decodeResponse(new Uint8Array(Buffer.from(line.split("body=")[1]!, "hex")));
        codes.push([res.overallCode, res.statuses[0]!.limitRemaining]);
      }
      expect(codes).toEqual([[Code.OK, 2], [Code.OK, 1], [Code.OK, 0], [Code.OVER_LIMIT, 0], [Code.OVER_LIMIT, 0]]);
      expect(String(await redis().client().command(["GET", "ai_consumer_team-a_1700000040"]))).toBe("5");
      expect(rls.calls.at(-1)!.headers[":authority"]).toBe("rls");
    } finally {
      await Promise.all(hosts.map((h) => h.close()));
      for (const c of clusters) c.close();
    }
  });

  it("a slow answer: the host's timeout ends the call with 14 'upstream request timeout'", async () => {
    rls.delayMs = 300;
    const logs: LogRecord[] = [];
    const clusters = testClusters({ rls: { port: rls.port, http2: true } });
    const host = await PluginHost.create({ wasm: fixtureWasm("grpc-call"), rootId: "r", configuration: "", workers: 1, dispatcher: clusters.dispatcher, logger: (l) => logs.push(l) });
    try {
      host.newStream(1, recorder()).decodeHeaders([
        [":method", "GET"], [":path", "/"], [":authority", "gw"], ["x-test", "grpc"], ["x-service", "rls"], ["x-svc", RLS_SERVICE],
        ["x-method", RLS_METHOD], ["x-timeout", "50"], ["x-body-hex", Buffer.from(encodeRequest(one([["consumer", "slow"]]))).toString("hex")],
      ], true);
      await until(() => logs.some((l) => l.message.startsWith("grpc_close")));
      expect(logs.find((l) => l.message.startsWith("grpc_close"))!.message).toBe("grpc_close root=1 token=5 status=14 get_status=14/upstream request timeout");
    } finally {
      rls.delayMs = 0;
      await host.close();
      clusters.close();
    }
  });
});
