// Memory of large bodies kept for failover is reused: a worker VM's linear memory (which never
// shrinks) grows to hold one round of concurrent large bodies, and a second round of the same
// does not grow it further (plugin/request/held_bodies.ts: after large kept bodies were freed the root's
// tick runs a full collection, so AssemblyScript's TLSF allocator has their blocks free again).
// npm run bench ("Large bodies") does the same with 100 concurrent 4 MB requests.
import { afterEach, describe, expect, it } from "vitest";
import { workerMemoryBytes } from "../../harness/bench/vm-memory.ts";
import { post, sleep, startStack, type Stack } from "../support/stack.ts";

const N = 16;
const BODY = 4_000_000;
const big = (i: number) => ({ model: "gpt-4o", max_tokens: 50, messages: [{ role: "user", content: `r${i} ` + "x".repeat(BODY) }] });

describe("large bodies held for failover", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it(`a second round of ${N} concurrent 4 MB requests held by a slow provider does not grow the worker VMs' memory`, async () => {
    s = await startStack({
      workers: 2,
      bufferLimitBytes: 16 << 20,
      edit: (c) => ({
        ...c, maxRequestBodyBytes: 8 << 20, healthCheck: { enabled: false },
        providers: c.providers.map((p: any) => ({ ...p, limits: { tokensPerMinute: 1e12, requestsPerMinute: 1e6 } })),
      }),
    });
    const warm = workerMemoryBytes(s.gateway.host);
    const round = async () => {
      const rs = await Promise.all(Array.from({ length: N }, (_, i) =>
        post(s.gateway.url, "/v1/chat/completions", big(i), { "x-mock-target": "aoai-east", "x-mock-latency-ms": "800" }, 30_000)));
      expect(rs.map((r) => r.status)).toEqual(rs.map(() => 200));
      s.east.records.length = 0;
      await sleep(300); // a few root ticks
      return workerMemoryBytes(s.gateway.host);
    };
    const first = await round();
    // Each worker held its half of the bodies at once.
    for (const [i, m] of first.entries()) expect(m - warm[i]!).toBeGreaterThanOrEqual((N / 2) * BODY);
    const second = await round();
    expect(second).toEqual(first);
    const third = await round();
    expect(third).toEqual(first);
  }, 60_000);
});
