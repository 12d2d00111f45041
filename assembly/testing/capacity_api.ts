// Test-facing view of admission-time capacity (admission/window.ts): one provider's state and
// limits held in the test module between calls, so a test can interleave reserve, settle and
// learnRemaining as workers would. Compiled only into the unit-test module.

import { Limits } from "../config/model";
import { ProviderState } from "../health/state";
import { fits, learnRemaining, requestsLeft, reserve, settle, tokensLeft, windowResetAt } from "../admission/window";
import { JsonObject } from "./json_out";

let limits = new Limits();
let state = new ProviderState();

/** Every operation starts from the shared-data layout, as in the plugin (load → apply → CAS). */
function loaded(): ProviderState {
  state = ProviderState.decode(state.encode());
  return state;
}

/** A fresh provider state with these limits. */
export function capReset(tokensPerMinute: i64, requestsPerMinute: i64, minRemainingTokens: i64, minRemainingRequests: i64,
  windowMs: i64): void {
  limits = new Limits();
  limits.tokensPerMinute = tokensPerMinute;
  limits.requestsPerMinute = requestsPerMinute;
  limits.minRemainingTokens = minRemainingTokens;
  limits.minRemainingRequests = minRemainingRequests;
  limits.windowMs = windowMs;
  state = new ProviderState();
}

export function capFits(tokens: i64, nowMs: i64): bool {
  return fits(loaded(), limits, tokens, nowMs);
}

export function capReserve(tokens: i64, nowMs: i64): bool {
  return reserve(loaded(), limits, tokens, nowMs);
}

export function capSettle(reserved: i64, actual: i64, reservedAtMs: i64, nowMs: i64): void {
  settle(loaded(), limits, reserved, actual, reservedAtMs, nowMs);
}

export function capLearn(remainingTokens: i64, remainingRequests: i64, nowMs: i64): void {
  learnRemaining(loaded(), remainingTokens, remainingRequests, nowMs);
}

/** The state after a round trip through the shared-data layout (what other workers read). */
export function capState(): string {
  const s = loaded();
  const t = tokensLeft(s, limits);
  const r = requestsLeft(s, limits);
  return new JsonObject()
    .int("windowStartMs", s.windowStartMs)
    .int("tokensReserved", s.tokensReserved)
    .int("requestsReserved", s.requestsReserved)
    .int("remainingTokens", s.remainingTokens)
    .int("remainingRequests", s.remainingRequests)
    .int("tokensLeft", t == i64.MAX_VALUE ? -1 : t)
    .int("requestsLeft", r == i64.MAX_VALUE ? -1 : r)
    .int("windowResetAt", windowResetAt(s, limits))
    .toString();
}
