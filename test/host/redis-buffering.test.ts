// Higress's Redis client holds commands before writing them (higress-group/envoy raw_client_impl.cc
// makeRawRequest; AsyncClientConfig's max_buffer_size_before_flush 1024 and buffer_flush_timeout 3 ms):
// a small command waits up to 3 ms for company, one that brings the buffer to 1 KiB is written at
// once. The harness does the same (harness/host/redis-callout.ts), which is why the filter pads its
// script command to 1 KiB (assembly/cluster/redis_script.ts). A server records when each command
// arrives whole.
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { REDIS_FLUSH_BYTES, REDIS_FLUSH_MS, RedisCallouts } from "../../harness/host/redis-callout.ts";
import { encodeCommand, RespSplitter } from "../../harness/redis/resp.ts";
import type { WasmVm } from "../../harness/host/vm.ts";

interface Arrival { at: number; bytes: number }

async function recordingServer(): Promise<{ port: number; arrivals: Arrival[]; close(): void }> {
  const arrivals: Arrival[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    const split = new RespSplitter();
    s.on("data", (c) => {
      for (const cmd of split.push(c)) arrivals.push({ at: performance.now(), bytes: cmd.length });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, arrivals, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

/** The host side alone: a VM stand-in whose dispatcher knows one cluster. */
function callouts(port: number): RedisCallouts {
  const vm = {
    opts: { dispatcher: { hasCluster: (c: string) => c === "outbound|6379||redis.dns", pickHost: () => ({ address: "127.0.0.1", port, connectTimeoutMs: 1000 }) } },
  } as unknown as WasmVm;
  const r = new RedisCallouts(vm);
  (vm as unknown as { redis: RedisCallouts }).redis = r;
  return r;
}

describe("Higress's Redis client buffering, as the harness plays it", () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it(`a small command waits for the ${REDIS_FLUSH_MS} ms flush timer; one of ${REDIS_FLUSH_BYTES} bytes or more is written at once`, async () => {
    const srv = await recordingServer();
    const calls = callouts(srv.port);
    stop = () => { calls.cancelAll(); srv.close(); };
    // Warm the connection (it is opened by the first call).
    calls.call("outbound|6379||redis.dns", new Uint8Array(encodeCommand(["PING"])));
    await new Promise((r) => setTimeout(r, 50));
    expect(srv.arrivals).toHaveLength(1);

    const t0 = performance.now();
    calls.call("outbound|6379||redis.dns", new Uint8Array(encodeCommand(["EVAL", "x".repeat(1100), "0"])));
    calls.call("outbound|6379||redis.dns", new Uint8Array(encodeCommand(["GET", "k"])));
    await new Promise((r) => setTimeout(r, 50));
    expect(srv.arrivals).toHaveLength(3);
    const [big, small] = [srv.arrivals[1]!, srv.arrivals[2]!];
    expect(big.bytes).toBeGreaterThanOrEqual(REDIS_FLUSH_BYTES);
    // The small one went into an empty buffer after the big one was written: it waited for the timer.
    expect(small.at - t0).toBeGreaterThanOrEqual(REDIS_FLUSH_MS - 0.5);
    expect(big.at).toBeLessThan(small.at);
  });
});
