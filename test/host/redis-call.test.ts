// Higress's redis hostcalls (proxy_redis_init / proxy_redis_call / proxy_on_redis_call_response)
// against a real redis-server; and upstream Envoy refusing modules that import them.
import { afterEach, describe, expect, it } from "vitest";
import { PluginHost, PluginLoadError } from "../../harness/host/index.ts";
import { freePort } from "../../harness/redis/server.ts";
import { fixtureRig, fixtureWasm, recorder, sleep, until, type HostRig } from "../../harness/rig/host-rig.ts";
import { testClusters } from "../support/clusters.ts";
import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";

describe("redis hostcalls at link time", () => {
  it("upstream Envoy does not register them: a module importing them fails to load", async () => {
    const err = await PluginHost.create({ wasm: fixtureWasm("redis-call"), rootId: "r", configuration: "", workers: 1 }).then(
      (h) => (h.close(), null),
      (e) => e,
    );
    expect(err).toBeInstanceOf(PluginLoadError);
    expect((err as Error).message).toMatch(/^Failed to load Wasm module due to a missing import: env\.proxy_redis_(init|call)$/);
  });

  it("Higress registers them (any ABI version), with proxy_on_redis_call_response (root, token, status, size)", async () => {
    const h = await PluginHost.create({ wasm: fixtureWasm("redis-call"), rootId: "r", configuration: "", workers: 1, flavour: "higress" });
    await h.close();
  });
});

describe.skipIf(!REDIS.ok)(`Higress redis calls against redis-server ${redisSkipNote}`, () => {
  const redis = withRedis();
  let t: HostRig | undefined;
  let clusters: ReturnType<typeof testClusters> | undefined;
  afterEach(async () => {
    await t?.host.close();
    clusters?.close();
    t = undefined;
    await redis().client().command(["FLUSHALL"]);
  });

  async function rig(extra: Record<string, { port?: number; endpoints?: Array<{ address: string; port: number }> }> = {}): Promise<HostRig> {
    clusters = testClusters({ "outbound|6379||redis.dns": { port: redis().port }, down: { endpoints: [] }, ...extra });
    t = await fixtureRig({ wasm: fixtureWasm("redis-call"), workers: 1, flavour: "higress", dispatcher: clusters.dispatcher });
    return t;
  }

  function call(r: HostRig, h: Record<string, string>): string {
    const s = r.host.newStream(1, recorder());
    const all = { "x-cluster": "outbound|6379||redis.dns", ...h };
    s.decodeHeaders([[":method", "GET"], [":path", "/"], [":authority", "gw"], ...Object.entries(all)], true);
    return r.lines(`${s.contextId} redis_`).join(" ; ");
  }

  const responses = async (r: HostRig, n: number) => {
    await until(() => r.lines("redis_response").length >= n);
    return r.lines("redis_response");
  };

  it("a command as RESP; the raw reply in buffer 9; tokens 7, 11; on the root context", async () => {
    const r = await rig();
    expect(call(r, { "x-args": "INCRBY k 5" })).toMatch(/redis_call rc=0 token=7$/);
    expect(call(r, { "x-args": "INCRBY k 5" })).toMatch(/redis_call rc=0 token=11$/);
    expect(await responses(r, 2)).toEqual([
      "redis_response root=1 token=7 status=0 size=4 body=:5| get_status=0/",
      "redis_response root=1 token=11 status=0 size=5 body=:10| get_status=0/",
    ]);
    call(r, { "x-args": "MGET k nokey" });
    expect((await responses(r, 3))[2]).toBe("redis_response root=1 token=15 status=0 size=17 body=*2|$2|10|$-1| get_status=0/");
  });

  it("init with ?db=N selects the database on the connection; AUTH with the password when Redis requires one", async () => {
    const r = await rig();
    call(r, { "x-init": "outbound|6379||redis.dns?db=3;;;1000", "x-args": "SET dbkey v" });
    await responses(r, 1);
    const c = redis().client();
    expect(await c.command(["GET", "dbkey"])).toBeNull();
    await c.command(["SELECT", "3"]);
    expect(String(await c.command(["GET", "dbkey"]))).toBe("v");
    await c.command(["CONFIG", "SET", "requirepass", "s3cret"]);
    try {
      // init closes the open connection; the next one authenticates first.
      call(r, { "x-init": "outbound|6379||redis.dns;;s3cret;1000", "x-args": "PING" });
      expect((await responses(r, 2))[1]).toBe("redis_response root=1 token=11 status=0 size=7 body=+PONG| get_status=0/");
      const other = await rig();
      call(other, { "x-args": "PING" });
      expect((await responses(other, 1))[0]).toMatch(/status=0 size=\d+ body=-NOAUTH Authentication required\.\| /);
    } finally {
      await c.command(["AUTH", "s3cret"]);
      await c.command(["CONFIG", "SET", "requirepass", ""]);
      c.close();
    }
  });

  it("unknown cluster → BadArgument (init and call); no host → InternalFailure; bad token slot → InvalidMemoryAccess, nothing sent", async () => {
    const r = await rig();
    expect(call(r, { "x-init": "nope;;;1000", "x-cluster": "nope", "x-args": "PING" })).toMatch(/redis_init rc=2 ; \d+ redis_call rc=2 token=0$/);
    expect(call(r, { "x-cluster": "down", "x-args": "PING" })).toMatch(/redis_call rc=10 token=0$/);
    expect(call(r, { "x-args": "INCR bad", "x-bad-token": "1" })).toMatch(/redis_call rc=6 token=99$/);
    await sleep(50);
    expect(r.lines("redis_response")).toEqual([]);
    expect(await redis().client().command(["EXISTS", "bad"])).toBe(0);
  });

  it("the op timeout (init's timeout_ms) closes the connection: NetworkError (1), size 0, proxy_get_status 11/reset; the next call reconnects", async () => {
    const r = await rig();
    const t0 = Date.now();
    call(r, { "x-init": "outbound|6379||redis.dns;;;100", "x-args": "BLPOP q 2" });
    expect((await responses(r, 1))[0]).toBe("redis_response root=1 token=7 status=1 size=0 body= get_status=11/reset");
    expect(Date.now() - t0).toBeLessThan(1500);
    call(r, { "x-args": "PING" });
    expect((await responses(r, 2))[1]).toMatch(/token=11 status=0 size=7 body=\+PONG\|/);
  });

  it("connection refused → NetworkError", async () => {
    const r = await rig({ refused: { port: await freePort() } });
    call(r, { "x-cluster": "refused", "x-args": "PING" });
    expect((await responses(r, 1))[0]).toBe("redis_response root=1 token=7 status=1 size=0 body= get_status=11/reset");
  });

  it("Redis killed mid-call → NetworkError; restarted (empty) → calls work again", async () => {
    const r = await rig();
    call(r, { "x-args": "SET survives yes" });
    await responses(r, 1);
    call(r, { "x-args": "BLPOP q 5" });
    await sleep(50);
    await redis().kill();
    expect((await responses(r, 2))[1]).toBe("redis_response root=1 token=11 status=1 size=0 body= get_status=11/reset");
    call(r, { "x-args": "PING" });
    expect((await responses(r, 3))[2]).toMatch(/token=15 status=1 /);
    await redis().restart();
    call(r, { "x-args": "GET survives" });
    // A success leaves proxy_get_status's code as the last failure set it (Envoy only clears the message).
    expect((await responses(r, 4))[3]).toBe("redis_response root=1 token=19 status=0 size=5 body=$-1| get_status=11/");
  });
});
