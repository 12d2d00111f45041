// Soak, short: 20 concurrent streams for 3 s with mixed faults through the gateway (the bench's
// `--soak` runs 200 for 60 s: harness/bench/soak.ts). Afterwards every reservation is settled
// (consumer budget = what its access log charged; west's window holds exactly its 200s), worker
// VM memory is within one 64 KiB page of its warm-up value, no trap, no foreign credential.
import { describe, expect, it } from "vitest";
import { soak } from "../../harness/bench/soak.ts";

describe("soak (short)", () => {
  it("20 streams × 3 s with 429/503/reset/cut/slow faults: reservations settled, memory flat", async () => {
    const r = await soak({ streams: 20, seconds: 3, warmupSeconds: 1 });
    console.log(r.table);
    expect(r.failures).toEqual([]);
    expect(r.rows.find(([k]) => k === "requests")![1]).toMatch(/^\d{2,}/);
  }, 60_000);
});
