// Provider outage mid-run and recovery (harness/replay/scenarios/outage.yaml): the PTU primary
// refuses connections from 3 s, comes back at 6 s answering every chat request 503 (its models
// endpoint, the health probe, still answers), recovers at 9 s. PAYG stays healthy throughout.
import { beforeAll, describe, expect, it } from "vitest";
import { actionAt, chatRecords, replay, type Replayed } from "../support/stack.ts";

describe("scenario outage: primary refused, then 503s, then recovered", () => {
  let run: Replayed;
  beforeAll(async () => {
    run = await replay("outage", "ai-failover");
  }, 60_000);

  it("after the first failed attempt no client request fails while the spillover is healthy", () => {
    const down = actionAt(run.res, "startOutage");
    const outcomes = run.res.outcomes;
    // Requests in flight when the connections were dropped may be the first failed attempt;
    // every request sent after that moment must succeed (and stream to its end).
    const after = outcomes.filter((o) => o.start >= down);
    const failed = after.filter((o) => o.status !== 200 || o.streamDone === false);
    expect(failed).toEqual([]);
    const inFlight = outcomes.filter((o) => o.start < down && o.end > down);
    console.log(`outage: ${outcomes.length} client requests, ${after.length} after the outage began, ` +
      `${inFlight.length} in flight at that moment (${inFlight.filter((o) => o.status !== 200 || o.streamDone === false).length} failed), ` +
      `${outcomes.filter((o) => (o.attempts ?? 1) > 1).length} answered after a failover`);
    // The outage and the 503s were really seen by the filter and absorbed by failover.
    const ptu = chatRecords(run.res, "aoai-east-ptu");
    expect(ptu.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => (o.attempts ?? 1) > 1).length).toBeGreaterThan(0);
    // While the primary was down or sick, the spillover served.
    const sick = outcomes.filter((o) => o.start >= down + 100 && o.end < actionAt(run.res, "clearFaults"));
    expect(sick.length).toBeGreaterThan(50);
    expect(sick.every((o) => o.provider === "aoai-west-payg")).toBe(true);
  });

  it("traffic returns to the recovered primary within one health interval (1 s)", () => {
    const recovered = actionAt(run.res, "clearFaults");
    const back = chatRecords(run.res, "aoai-east-ptu").find((r) => r.t >= recovered && r.status === 200);
    expect(back, "a chat request reached the primary after its recovery").toBeDefined();
    console.log(`outage: primary recovered at ${recovered}ms, first chat request served by it at ${back!.t}ms (+${back!.t - recovered}ms)`);
    expect(back!.t - recovered).toBeLessThanOrEqual(1000);
    // And it is the preferred provider again: the last second of the run went to it.
    const tail = run.res.outcomes.filter((o) => o.start >= recovered + 1500);
    expect(tail.length).toBeGreaterThan(10);
    expect(tail.every((o) => o.provider === "aoai-east-ptu")).toBe(true);
  });

  it("no mock ever saw a foreign or empty credential", () => {
    expect(run.report.credentialProblems).toEqual([]);
  });
});
