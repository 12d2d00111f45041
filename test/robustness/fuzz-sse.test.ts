// Standing fuzz: upstream SSE through the built filter (harness/fuzz/sse.ts).
// FUZZ_CASES=10000 runs the long hunt (`npm run bench -- --fuzz` does).
import { describe, expect, it } from "vitest";
import { casesPerClass } from "../../harness/fuzz/common.ts";
import { fuzzSse, sseLinear } from "../../harness/fuzz/sse.ts";

const N = casesPerClass(500);

describe("fuzz: upstream SSE", () => {
  it(`${N} random streams and chunkings: no trap, client bytes = provider bytes − the injected usage event, no key to the client`, async () => {
    const res = await fuzzSse(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 20);

  it("work is linear in the stream's length", async () => {
    await sseLinear();
  }, 60_000);
});
