// Reservations under real parallelism (harness/bench/contention.ts): 4 worker threads, each with
// its own worker VM, on one SharedArrayBuffer-backed shared data (Envoy's workers share one
// SharedData behind a mutex), fill one provider window of 10,000 requests per minute, then send
// 1,000 more. A build before the create-if-absent / window fixes over-admitted here (10,008
// admitted against a window of 10,000 in one run).
import { describe, expect, it } from "vitest";
import { formatContention, runContention } from "../../harness/bench/contention.ts";

describe("parallel workers on one provider window", () => {
  it("10,000 reservations from 4 threads: 0 over-admission, 0 spurious 429, the window counts every admission", { timeout: 120_000 }, async () => {
    const r = await runContention(4, 10_000, 1_000);
    process.stdout.write(formatContention(r) + "\n");
    const [fill, full] = r.phases;
    expect(fill).toMatchObject({ sent: 10_000, admitted: 10_000, refused: 0, other: 0 });
    expect(full).toMatchObject({ sent: 1_000, admitted: 0, refused: 1_000, other: 0 });
    expect(r.windowRequests).toBe(10_000);
    // The threads ran at the same time: the phase took about one thread's time, not four.
    expect(fill!.wallMs).toBeLessThan(fill!.threadMs.reduce((a, b) => a + b, 0));
  });
});
