// Standing fuzz: request bodies through the built filter (harness/fuzz/bodies.ts).
// FUZZ_CASES=10000 runs the long hunt (`npm run bench -- --fuzz` does).
import { describe, expect, it } from "vitest";
import { casesPerClass } from "../../harness/fuzz/common.ts";
import { bodiesLinear, fuzzBodies } from "../../harness/fuzz/bodies.ts";
import { fuzzMultipart, multipartLinear } from "../../harness/fuzz/multipart.ts";
import { batchesLinear, batchStats, fuzzBatches } from "../../harness/fuzz/batches.ts";

const N = casesPerClass(500);

describe("fuzz: request bodies", () => {
  it(`${N} random bodies: no trap, own key only, reservation ≥ every token bound, no key to the client`, async () => {
    const res = await fuzzBodies(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 20);

  it("work is linear in the body's size (messages, duplicate keys, nesting, parts, Responses input items with escaped references)", async () => {
    const t = await bodiesLinear();
    expect(t.map((r) => r.what)).toEqual(["messages", "duplicate keys", "nesting", "multimodal parts", "responses: replayed items, escaped keys and ids"]);
  }, 60_000);
});

describe("fuzz: multipart bodies", () => {
  it(`${N} random forms: no trap, own key only, body unchanged, the provider reads no model the consumer may not use`, async () => {
    const res = await fuzzMultipart(N, "assert");
    expect(res.cases).toBe(N);
  }, 60_000 + N * 20);

  it("work is linear in the form's size (parts, empty parts, fake delimiters)", async () => {
    const t = await multipartLinear();
    expect(t).toHaveLength(3);
  }, 60_000);
});

describe("fuzz: batch files", () => {
  it(`${N} random batch files: no trap, own key only, no line for a model the consumer may not use reaches a provider, a batch charged ≥ its lines' bounds`, async () => {
    const res = await fuzzBatches(N, "assert");
    expect(res.cases).toBe(N);
    // Every outcome was reached (a property no case reaches proves nothing).
    expect(batchStats.uploaded, JSON.stringify(batchStats)).toBeGreaterThan(N / 20);
    expect(batchStats.uploadRefused, JSON.stringify(batchStats)).toBeGreaterThan(N / 20);
    expect(batchStats.created, JSON.stringify(batchStats)).toBeGreaterThan(N / 20);
    expect(batchStats.createRefused, JSON.stringify(batchStats)).toBeGreaterThan(0);
  }, 60_000 + N * 30);

  it("work is linear in the file's size (lines, a long line, blank lines)", async () => {
    const t = await batchesLinear();
    expect(t).toHaveLength(3);
  }, 60_000);
});
