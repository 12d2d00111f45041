// Standing fuzz: upstream response headers and error bodies through the built filter
// (harness/fuzz/upstream.ts). FUZZ_CASES=10000 runs the long hunt (`npm run bench -- --fuzz` does).
import { describe, expect, it } from "vitest";
import { casesPerClass } from "../../harness/fuzz/common.ts";
import { fuzzUpstream, upstreamLinear } from "../../harness/fuzz/upstream.ts";

const N = casesPerClass(500);

describe("fuzz: upstream headers and error bodies", () => {
  it(`${N} random answers (first attempt and failover): no trap, west's key only on the failover, failed attempts release, cooldowns ≤ 1 h, no key to the client`, async () => {
    const res = await fuzzUpstream(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 40);

  it("work is linear in the error answer's size", async () => {
    await upstreamLinear();
  }, 60_000);
});
