// Standing fuzz: request headers through the built filter (harness/fuzz/headers.ts).
// FUZZ_CASES=10000 runs the long hunt (`npm run bench -- --fuzz` does).
import { describe, expect, it } from "vitest";
import { casesPerClass } from "../../harness/fuzz/common.ts";
import { domainMatches, fuzzHeaders, headersLinear } from "../../harness/fuzz/headers.ts";

const N = casesPerClass(500);

describe("fuzz: request headers", () => {
  it("the oracle's domain rule", () => {
    expect(["gw.example", "GW.Example:8080", "gw.example.", "gw.example.:443"].every(domainMatches)).toBe(true);
    expect(["sub.gw.example", "gw.example.com", "[::1]:80", "xgw.example", ""].some(domainMatches)).toBe(false);
  });

  it(`${N} random header sets: no trap, own key only, no client secret upstream, domain rule, consumers, no key to the client`, async () => {
    const res = await fuzzHeaders(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 20);

  it("work is linear in the number of headers", async () => {
    await headersLinear();
  }, 60_000);
});
