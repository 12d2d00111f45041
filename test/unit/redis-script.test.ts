// The Redis engine's one script (assembly/cluster/redis_script.ts): the exact command bytes the
// filter sends, run on a real redis-server over a raw socket (as Higress's client passes them
// through), and the replies read back by the filter's own reader.
import net from "node:net";
import { describe, expect, it } from "vitest";
import { parseReply, RespSplitter } from "../../harness/redis/resp.ts";
import { redisCommand, redisReply } from "../.build/unit/unit.js";
import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";
import { sleep } from "../../harness/rig/host-rig.ts";

/** Sends the filter's bytes as they are; resolves with the raw reply bytes. */
function send(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    const split = new RespSplitter();
    s.on("data", (c) => {
      const r = split.push(c);
      if (r.length > 0) {
        s.destroy();
        resolve(r[0]!);
      }
    });
    s.on("error", reject);
    s.write(bytes);
  });
}

interface Reply { ok: boolean; error: string; code: number; granted: number; remaining: number; resetMs: number; cooldownMs: number; reason: number }
function read(raw: Buffer): Reply {
  const [ok, error, nums] = redisReply(raw.toString("hex")).split("|");
  const [code, granted, remaining, resetMs, cooldownMs, reason] = nums!.split(",").map(Number);
  return { ok: ok === "1", error: error!, code: code!, granted: granted!, remaining: remaining!, resetMs: resetMs!, cooldownMs: cooldownMs!, reason: reason! };
}

interface Args { window?: number; tokens?: number; requests?: number; want?: number; need?: number; reported?: number; count?: number; publishMs?: number; reason?: number }
const cmd = (key: string, a: Args) => Buffer.from(redisCommand(key, [a.window ?? 60000, a.tokens ?? 1000, a.requests ?? 0, a.want ?? 0, a.need ?? 0,
  a.reported ?? 0, a.count ?? 0, a.publishMs ?? 0, a.reason ?? 0].join(",")), "hex");

describe("the command's bytes", () => {
  it("EVAL <script> 1 <key> and nine integer arguments, as a RESP array of bulk strings, at least 1 KiB (Higress's client writes it at once)", () => {
    const b = cmd("ai-failover:provider:p", { want: 500, need: 500, count: 1 });
    const v = parseReply(b) as Buffer[];
    expect(v).toHaveLength(13);
    expect(v.map((x) => x.toString()).filter((_, i) => i !== 1)).toEqual(["EVAL", "1", "ai-failover:provider:p", "60000", "1000", "0", "500", "500", "0", "1", "0", "0"]);
    expect(b.length).toBeGreaterThanOrEqual(1024);
  });

  it("reads a Redis error reply as not the script's, keeping its text", () => {
    expect(read(Buffer.from("-NOSCRIPT No matching script\r\n"))).toMatchObject({ ok: false, error: "NOSCRIPT No matching script" });
    expect(read(Buffer.from("*2\r\n:1\r\n:2\r\n")).ok).toBe(false);
    expect(read(Buffer.from("*6\r\n:1\r\n:5\r\n:-3\r\n:100\r\n:0\r\n:0\r\n"))).toMatchObject({ ok: true, code: 1, granted: 5, remaining: -3 });
  });
});

describe.skipIf(!REDIS.ok)(`the script on a real redis-server ${redisSkipNote}`, () => {
  const redis = withRedis();
  const run = async (key: string, a: Args) => read(await send(redis().port, cmd(key, a)));
  const hget = async (key: string, f: string) => Number(String(await redis().client().command(["HGET", key, f])));

  it("grants a lease, cuts one larger than what is left to what is left, refuses one below the need without counting it", async () => {
    const k = "t:grant";
    expect(await run(k, { want: 300, need: 300, count: 1 })).toMatchObject({ ok: true, code: 1, granted: 300, remaining: 700 });
    expect(await run(k, { want: 900, need: 100, count: 1 })).toMatchObject({ code: 1, granted: 700, remaining: 0 });
    expect(await run(k, { want: 100, need: 100, count: 1 })).toMatchObject({ code: 2, granted: 0, remaining: 0 });
    expect(await hget(k, "t")).toBe(1000);
    expect(await hget(k, "r")).toBe(2);
    // Usage not yet counted is always added, refused or not; a look at a full window says "over".
    expect(await run(k, { want: 100, need: 100, reported: 50 })).toMatchObject({ code: 2, remaining: -50 });
    expect(await run(k, {})).toMatchObject({ code: 2, granted: 0 });
    expect(await hget(k, "t")).toBe(1050);
  });

  it("counts requests per request (a request limit refuses the next one)", async () => {
    const k = "t:requests";
    for (let i = 0; i < 2; i++) expect((await run(k, { tokens: 100000, requests: 2, want: 10, need: 10, count: 1 })).code).toBe(1);
    expect(await run(k, { tokens: 100000, requests: 2, want: 10, need: 10, count: 1 })).toMatchObject({ code: 2, granted: 0 });
  });

  it("windows are fixed on Redis's clock: a new one starts empty; the key outlives its window by a second", async () => {
    const k = "t:window";
    // Start right after a window change, so the calls below fall in one window.
    await sleep((await run("t:clock", { window: 1000 })).resetMs + 10);
    const a = await run(k, { window: 1000, want: 1000, need: 1000 });
    expect(a).toMatchObject({ code: 1, granted: 1000 });
    expect(a.resetMs).toBeGreaterThan(0);
    expect(a.resetMs).toBeLessThanOrEqual(1000);
    const ttl = Number(await redis().client().command(["PTTL", k]));
    expect(ttl).toBeGreaterThan(a.resetMs);
    expect(ttl).toBeLessThanOrEqual(a.resetMs + 1000 + 50);
    expect((await run(k, { window: 1000, want: 1, need: 1 })).code).toBe(2);
    await sleep(a.resetMs + 20);
    expect(await run(k, { window: 1000, want: 400, need: 400 })).toMatchObject({ code: 1, granted: 400, remaining: 600 });
  });

  it("a published cooldown is read back with the time left and its reason, is never shortened, and keeps the key alive", async () => {
    const k = "t:cooldown";
    expect(await run(k, { window: 1000, publishMs: 5000, reason: 1 })).toMatchObject({ code: 1, reason: 1 });
    const later = await run(k, { window: 1000 });
    expect(later.cooldownMs).toBeGreaterThan(4800);
    expect(later.cooldownMs).toBeLessThanOrEqual(5000);
    expect(later.reason).toBe(1);
    // A shorter one does not replace it; a longer one does, with its reason.
    expect((await run(k, { window: 1000, publishMs: 1000, reason: 3 })).reason).toBe(1);
    expect(await run(k, { window: 1000, publishMs: 8000, reason: 4 })).toMatchObject({ reason: 4 });
    expect(Number(await redis().client().command(["PTTL", k]))).toBeGreaterThan(7000);
    // No cooldown: 0.
    expect((await run("t:none", {})).cooldownMs).toBe(0);
  });
});
