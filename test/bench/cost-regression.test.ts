// The filter's own cost against recorded figures (test/bench/cost-baseline.json): time inside the
// module per request and per SSE chunk (the lowest of 9 rounds: a loaded machine only adds time),
// host calls per request and per chunk, measured with the host bench's profiled hosts
// (harness/bench/module-cost.ts). Fails only on a gross regression:
// module time above 3× the recorded figure (after a second measurement, so a burst of load on a
// shared machine does not fail it), host calls above the recorded figure + 2 (deterministic).
// Re-record after an intended change: npm run build && node --import tsx harness/bench/module-cost.ts --record
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ModuleCost } from "../../harness/bench/host-bench.ts";
import { BASELINE_PATH, figures, measureFilterCost, modules, REGRESSION, type CostBaseline, type CostFigures } from "../../harness/bench/module-cost.ts";

const TIME_FACTOR = 3;
const CALLS_MARGIN = 2;

/** Figures over their limits, as messages (empty: within). */
function overLimits(now: CostFigures, recorded: CostFigures): string[] {
  const out: string[] = [];
  for (const k of ["moduleUsPerRequest", "moduleUsPerChunk"] as const) {
    if (now[k] > TIME_FACTOR * recorded[k]) out.push(`${k} ${now[k].toFixed(2)} µs > ${TIME_FACTOR} × recorded ${recorded[k].toFixed(2)} µs`);
  }
  for (const k of ["hostCallsPerRequest", "hostCallsPerChunk"] as const) {
    if (now[k] > recorded[k] + CALLS_MARGIN) out.push(`${k} ${now[k].toFixed(2)} > recorded ${recorded[k].toFixed(2)} + ${CALLS_MARGIN}`);
  }
  return out;
}

async function measure(): Promise<ModuleCost> {
  const costs = await measureFilterCost({ modules: await modules(false), ...REGRESSION });
  return costs["ai-failover"]!;
}

describe("the filter's own cost (gross regressions only)", () => {
  const baseline: CostBaseline = JSON.parse(readFileSync(BASELINE_PATH, "utf8"));
  const recorded = baseline.filters["ai-failover"]!;

  it("the limits trip on a regression and not on the recorded figures", () => {
    expect(overLimits(recorded, recorded)).toEqual([]);
    const worse = { ...recorded, moduleUsPerRequest: recorded.moduleUsPerRequest * 3.5, hostCallsPerRequest: recorded.hostCallsPerRequest + 3 };
    expect(overLimits(worse, recorded)).toHaveLength(2);
  });

  it("inside-module µs per request and per SSE chunk ≤ 3× recorded; host calls ≤ recorded + 2", async () => {
    const first = await measure();
    let now = figures(first);
    let over = overLimits(now, recorded);
    // Time only: a second measurement (the lower median counts) before calling it a regression.
    if (over.some((m) => m.startsWith("moduleUs"))) {
      const again = figures(await measure());
      now = { ...now, moduleUsPerRequest: Math.min(now.moduleUsPerRequest, again.moduleUsPerRequest), moduleUsPerChunk: Math.min(now.moduleUsPerChunk, again.moduleUsPerChunk) };
      over = overLimits(now, recorded);
    }
    const detail =
      `now ${JSON.stringify(now)}; recorded ${JSON.stringify(recorded)} at ${baseline.recorded.commit} (${baseline.recorded.date}). ` +
      `Module µs per request by round: ${first.request.moduleUsByRound.map((x) => x.toFixed(1)).join(" ")}; per chunk: ${first.chunk.moduleUsByRound.map((x) => x.toFixed(2)).join(" ")}. ` +
      `After an intended change: ${baseline.howToRecord}`;
    expect(over, detail).toEqual([]);
    // Sanity: the measurement saw the filter work (a filter that did nothing would pass any limit).
    expect(now.hostCallsPerRequest).toBeGreaterThan(0);
    expect(now.moduleUsPerRequest).toBeGreaterThan(0);
  }, 60_000);
});
