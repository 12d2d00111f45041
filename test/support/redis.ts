/**
 * Tests that need a real Redis: Debian's redis-server, found once per test file. Where there is
 * none the tests are skipped — never passed — and the reason is printed and put in their names:
 *
 *   import { REDIS, redisSkipNote, withRedis } from "../support/redis.ts";
 *   describe.skipIf(!REDIS.ok)(`… ${redisSkipNote}`, () => {
 *     const redis = withRedis();                   // started in beforeAll, stopped in afterAll
 *     it("…", async () => { redis().port; await redis().kill(); await redis().restart(); });
 *   });
 */
import { afterAll, beforeAll } from "vitest";
import { findRedisServer, RedisServer } from "../../harness/redis/server.ts";

const found = findRedisServer();
export const REDIS: { ok: boolean; bin?: string; reason: string } =
  "reason" in found ? { ok: false, reason: found.reason } : { ok: true, bin: found.bin, reason: found.version };

if (!REDIS.ok) console.log(`redis tests: SKIPPED — ${REDIS.reason}`);
export const redisSkipNote = REDIS.ok ? "" : `[skipped: ${REDIS.reason}]`;

/** A redis-server for the enclosing describe block: started before its tests, stopped after. */
export function withRedis(): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await RedisServer.start({ bin: REDIS.bin });
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error("redis-server not started (is the describe block skipped?)");
    return server;
  };
}
