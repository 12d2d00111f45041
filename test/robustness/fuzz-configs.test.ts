// Standing fuzz: plugin configurations through the built filter (harness/fuzz/configs.ts).
// FUZZ_CASES=10000 runs the long hunt (`npm run bench -- --fuzz` does).
import { describe, expect, it } from "vitest";
import { casesPerClass } from "../../harness/fuzz/common.ts";
import { configsLinear, fuzzConfigs } from "../../harness/fuzz/configs.ts";

const N = casesPerClass(500);

describe("fuzz: plugin configurations", () => {
  it(`${N} mutated configurations with random _rules_: loaded or rejected, never a trap; keys never logged, sent to the wrong cluster or to the client`, async () => {
    const res = await fuzzConfigs(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 60);

  it("configuring is linear in the number of rules", async () => {
    await configsLinear();
  }, 60_000);
});
