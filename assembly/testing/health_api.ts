// Test-facing view of the health state machine (health/transitions.ts) over time: one
// provider's state held between calls, probes and live outcomes applied at given instants.
// Compiled only into the unit-test module.

import { CooldownConfig, HealthCheckConfig } from "../config/model";
import { ProviderState, reasonName } from "../health/state";
import { TrialOp } from "../health/ops";
import { applyProbe, applyResponse, classifyStatus } from "../health/transitions";
import { JsonObject } from "./json_out";

let hc = new HealthCheckConfig();
let cd = new CooldownConfig();
let state = new ProviderState();

export function healthReset(unhealthyThreshold: i32, healthyThreshold: i32, consecutiveFailures: i32,
  baseEjectionMs: i64, maxEjectionMs: i64, defaultRateLimitMs: i64, authFailureMs: i64): void {
  hc = new HealthCheckConfig();
  hc.unhealthyThreshold = unhealthyThreshold;
  hc.healthyThreshold = healthyThreshold;
  cd = new CooldownConfig();
  cd.consecutiveFailures = consecutiveFailures;
  cd.baseEjectionMs = baseEjectionMs;
  cd.maxEjectionMs = maxEjectionMs;
  cd.defaultRateLimitMs = defaultRateLimitMs;
  cd.authFailureMs = authFailureMs;
  state = new ProviderState();
}

function view(s: ProviderState, nowMs: i64, flipped: bool, o: JsonObject = new JsonObject()): string {
  return o
    .bool("flipped", flipped)
    .bool("available", s.available(nowMs))
    .bool("healthy", s.healthy)
    .bool("credentialBad", s.credentialBad)
    .int("cooldownUntilMs", s.cooldownUntilMs)
    .str("reason", reasonName(s.reason))
    .int("ejections", s.ejections)
    .int("consecutiveFailures", s.consecutiveFailures)
    .bool("halfOpen", s.halfOpen(nowMs))
    .int("ejectedAtMs", s.ejectedAtMs)
    .int("trialUntilMs", s.trialUntilMs)
    .toString();
}

/** An active probe answered `status` (0 = reset/timeout) at `nowMs`. */
export function healthProbe(status: i32, nowMs: i64, retryAfterMs: i64, quota: bool): string {
  state = ProviderState.decode(state.encode());
  const flipped = applyProbe(state, classifyStatus(status, quota), status, nowMs, retryAfterMs, hc, cd);
  return view(state, nowMs, flipped);
}

/** An active probe sent at `sentMs` answered `status` at `nowMs`. */
export function healthProbeSent(status: i32, sentMs: i64, nowMs: i64, retryAfterMs: i64, quota: bool): string {
  state = ProviderState.decode(state.encode());
  const flipped = applyProbe(state, classifyStatus(status, quota), status, nowMs, retryAfterMs, hc, cd, sentMs);
  return view(state, nowMs, flipped);
}

/**
 * A request chose the provider at `nowMs` and takes its trial if it is half-open (plugin/capacity/pick.ts):
 * "go" says whether the request may go to it, "took" whether it took the trial (until `untilMs`).
 */
export function healthTrial(nowMs: i64, untilMs: i64): string {
  state = ProviderState.decode(state.encode());
  const op = new TrialOp(nowMs, untilMs);
  const copy = ProviderState.decode(state.encode());
  if (op.apply(copy)) state = copy;
  return view(state, nowMs, false, new JsonObject().bool("go", op.ok).bool("took", op.took));
}

/** A live attempt ended with `status` at `nowMs`; "flipped" = it became unavailable. */
export function healthResponse(status: i32, nowMs: i64, retryAfterMs: i64, quota: bool): string {
  state = ProviderState.decode(state.encode());
  const flipped = applyResponse(state, classifyStatus(status, quota), nowMs, retryAfterMs, cd);
  return view(state, nowMs, flipped);
}

/** Is the provider available at `nowMs` (no transition)? */
export function healthAvailable(nowMs: i64): bool {
  return state.available(nowMs);
}
