// How an ejection after failures ends (issue 19, item 1), through the unit build's health API
// (assembly/testing/health_api.ts): good probes sent after it began, or one trial request once
// its time is up; the doubling resets on a live success only. Each case is a script of events
// on one provider's state, with what the state must say after each.
import { describe, expect, it } from "vitest";
import { healthAvailable, healthProbeSent, healthReset, healthResponse, healthTrial } from "../.build/unit/unit.js";

type Health = {
  flipped: boolean; available: boolean; healthy: boolean; credentialBad: boolean; cooldownUntilMs: number; reason: string;
  ejections: number; consecutiveFailures: number; halfOpen: boolean; ejectedAtMs: number; trialUntilMs: number;
  go?: boolean; took?: boolean;
};
type Step =
  | ["live", number, number, Partial<Health>] // at, status
  | ["live429", number, number, Partial<Health>] // at, retry-after ms
  | ["quota", number, Partial<Health>] // at
  | ["probe", number, number, number, Partial<Health>] // sent, answered, status
  | ["trial", number, number, Partial<Health>] // at, until
  | ["available", number, boolean]; // at

const B = BigInt;
function run(cfg: { healthy?: number; base?: number; max?: number }, steps: Step[]): void {
  // unhealthyThreshold 2, consecutiveFailures 3, rateLimitDefault 10 s, authFailure 300 s.
  healthReset(2, cfg.healthy ?? 1, 3, B(cfg.base ?? 1000), B(cfg.max ?? 4000), 10_000n, 300_000n);
  steps.forEach((s, k) => {
    const where = `step ${k}: ${JSON.stringify(s.slice(0, -1))}`;
    let got: Health;
    switch (s[0]) {
      case "live": got = JSON.parse(healthResponse(s[2], B(s[1]), 0n, false)); break;
      case "live429": got = JSON.parse(healthResponse(429, B(s[1]), B(s[2]), false)); break;
      case "quota": got = JSON.parse(healthResponse(429, B(s[1]), 0n, true)); break;
      case "probe": got = JSON.parse(healthProbeSent(s[3], B(s[1]), B(s[2]), 0n, false)); break;
      case "trial": got = JSON.parse(healthTrial(B(s[1]), B(s[2]))); break;
      case "available": expect(healthAvailable(B(s[1])), where).toBe(s[2]); return;
    }
    expect(got, where).toMatchObject(s[s.length - 1] as Partial<Health>);
  });
}

/** Three 503s at `t`: ejected from `t` for `ms`. */
const ejectAt = (t: number, ms: number, ejections = 1): Step[] => [
  ["live", t, 503, { available: true, consecutiveFailures: 1 }],
  ["live", t, 503, { available: true, consecutiveFailures: 2 }],
  ["live", t, 503, { flipped: true, available: false, reason: "upstream_failures", cooldownUntilMs: t + ms, ejectedAtMs: t, ejections }],
];

describe("an ejection after failures ends", () => {
  it.each<[string, { healthy?: number; base?: number; max?: number }, Step[]]>([
    ["good probes sent after it began end it; one sent before does not", { healthy: 2 }, [
      ...ejectAt(10_000, 1000),
      ["probe", 9_990, 10_010, 200, { available: false, reason: "upstream_failures" }],
      ["probe", 10_100, 10_110, 200, { available: false, reason: "upstream_failures" }],
      ["probe", 10_300, 10_310, 200, { available: true, reason: "none", cooldownUntilMs: 0, ejections: 1, halfOpen: false }],
    ]],
    ["good probes counted before it began do not count", { healthy: 2 }, [
      ["probe", 9_000, 9_000, 200, { available: true }],
      ...ejectAt(10_000, 1000),
      ["probe", 10_100, 10_110, 200, { available: false }],
      ["probe", 10_200, 10_210, 200, { available: true }],
    ]],
    ["a failed probe in between starts the count again", { healthy: 2, base: 5000, max: 5000 }, [
      ...ejectAt(10_000, 5000),
      ["probe", 10_100, 10_110, 200, { available: false }],
      ["probe", 10_200, 10_210, 503, { available: false }],
      ["probe", 10_300, 10_310, 200, { available: false }],
      ["probe", 10_400, 10_410, 200, { available: true, reason: "none" }],
    ]],
    ["after probes ended it, one live failure ejects it again, doubled; a live success resets the doubling", {}, [
      ...ejectAt(10_000, 1000),
      ["probe", 10_100, 10_110, 200, { available: true, ejections: 1 }],
      ["live", 10_200, 503, { flipped: true, available: false, cooldownUntilMs: 12_200, ejections: 2, ejectedAtMs: 10_200 }],
      ["probe", 10_150, 10_300, 200, { available: false }], // sent before the new ejection
      ["probe", 10_400, 10_410, 200, { available: true, ejections: 2 }],
      ["live", 10_500, 200, { available: true, ejections: 0 }],
      ["live", 10_600, 503, { available: true, consecutiveFailures: 1, ejections: 0 }],
    ]],
    ["time up: one request takes the trial; the others wait for its answer; success closes it", {}, [
      ...ejectAt(10_000, 1000),
      ["trial", 10_999, 70_000, { go: false, took: false, available: false }],
      ["trial", 11_000, 72_000, { go: true, took: true, available: false, halfOpen: true, trialUntilMs: 72_000 }],
      ["trial", 11_001, 72_001, { go: false, took: false, trialUntilMs: 72_000 }],
      ["available", 30_000, false],
      ["live", 11_050, 200, { available: true, reason: "none", ejections: 0, halfOpen: false, trialUntilMs: 0 }],
      ["trial", 11_060, 72_060, { go: true, took: false }],
    ]],
    ["a failed trial ejects it again at once, doubled up to maxEjection", { base: 1000, max: 3000 }, [
      ...ejectAt(10_000, 1000),
      ["trial", 11_000, 72_000, { took: true }],
      ["live", 11_100, 503, { flipped: true, available: false, cooldownUntilMs: 13_100, ejections: 2, trialUntilMs: 0 }],
      ["trial", 13_100, 74_000, { took: true }],
      ["live", 13_200, 504, { flipped: true, cooldownUntilMs: 16_200, ejections: 3 }], // 4000 capped at 3000
      ["trial", 16_200, 77_000, { took: true }],
      ["live", 16_300, 0, { flipped: true, cooldownUntilMs: 19_300, ejections: 4 }],
    ]],
    ["a trial whose answer never comes holds it only until its bound", {}, [
      ...ejectAt(10_000, 1000),
      ["trial", 11_000, 12_000, { took: true }],
      ["trial", 11_999, 13_000, { go: false }],
      ["available", 11_999, false],
      ["available", 12_000, true],
      ["trial", 12_000, 13_000, { go: true, took: true, trialUntilMs: 13_000 }],
    ]],
    ["a client error answering the trial ends the trial, not the ejection", {}, [
      ...ejectAt(10_000, 1000),
      ["trial", 11_000, 72_000, { took: true }],
      ["live", 11_100, 400, { available: true, halfOpen: true, reason: "upstream_failures", trialUntilMs: 0, ejections: 1 }],
      ["trial", 11_200, 72_200, { go: true, took: true }],
    ]],
    ["during the ejection, answers of requests sent before it neither end nor extend it", {}, [
      ...ejectAt(10_000, 1000),
      ["live", 10_500, 200, { available: false, cooldownUntilMs: 11_000, ejections: 1 }],
      ["live", 10_600, 503, { flipped: false, available: false, cooldownUntilMs: 11_000, ejections: 1 }],
    ]],
    ["probes do not end a 429 cooldown or an insufficient_quota ejection", {}, [
      ["live429", 1_000, 5_000, { available: false, reason: "rate_limited", cooldownUntilMs: 6_000 }],
      ["probe", 2_000, 2_000, 200, { available: false, reason: "rate_limited", cooldownUntilMs: 6_000 }],
      ["quota", 7_000, { available: false, reason: "quota_exhausted", cooldownUntilMs: 307_000 }],
      ["probe", 8_000, 8_000, 200, { available: false, reason: "quota_exhausted" }],
    ]],
    ["a 429 answering the trial: cooling down, the next failure after it ejects again doubled", {}, [
      ...ejectAt(10_000, 1000),
      ["trial", 11_000, 72_000, { took: true }],
      ["live429", 11_100, 2_000, { available: false, reason: "rate_limited", cooldownUntilMs: 13_100, ejections: 1 }],
      ["available", 13_100, true],
      ["live", 13_200, 503, { flipped: true, reason: "upstream_failures", cooldownUntilMs: 15_200, ejections: 2 }],
    ]],
  ])("%s", (_n, cfg, steps) => run(cfg, steps));
});
