// A provider whose key is revoked mid-run (harness/replay/scenarios/key-revoked.yaml): at 3.5 s the
// primary stops accepting the key the filter has and answers 401. Clients keep getting 200s from
// the spillover, the primary receives only a handful of requests with the revoked key, keeps being
// probed with its own key only, and no provider ever sees another provider's key or an empty one.
import { beforeAll, describe, expect, it } from "vitest";
import { actionAt, chatRecords, replay, type Replayed } from "../support/stack.ts";

describe("scenario key-revoked: the primary starts answering 401 mid-run", () => {
  let run: Replayed;
  beforeAll(async () => {
    run = await replay("key-revoked", "ai-failover");
  }, 60_000);

  it("clients keep getting 200s, served by the spillover after the revocation", () => {
    const revoked = actionAt(run.res, "setKeys");
    expect(run.res.outcomes.filter((o) => o.status !== 200 || o.streamDone === false)).toEqual([]);
    const later = run.res.outcomes.filter((o) => o.start > revoked + 100);
    expect(later.length).toBeGreaterThan(50);
    expect(later.every((o) => o.provider === "aoai-west-payg")).toBe(true);
  });

  it("the primary gets only a handful of requests with the revoked key, then none", () => {
    const revoked = actionAt(run.res, "setKeys");
    const after = chatRecords(run.res, "aoai-east-ptu").filter((r) => r.t >= revoked);
    console.log(`key-revoked: chat requests to the primary after revocation: ${after.length} (${after.map((r) => `${r.t}ms ${r.status}`).join(", ")})`);
    expect(after.every((r) => r.status === 401)).toBe(true);
    expect(after.length).toBeLessThanOrEqual(4);
  });

  it("no mock ever saw a foreign or empty credential; the primary is still probed with its own key", () => {
    expect(run.report.credentialProblems).toEqual([]);
    const revoked = actionAt(run.res, "setKeys");
    const ptu = run.res.providers.find((p) => p.name === "aoai-east-ptu")!;
    const probes = ptu.records.filter((r) => r.api === "models" && r.time - run.res.t0 > revoked);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((r) => r.status === 401 && r.credential.value === ptu.key)).toBe(true);
  });
});
