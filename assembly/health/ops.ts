// Health operations applied atomically to a provider's shared state: what a live answer or a
// probe says about the provider, and lifting a credential ejection once it has run out.

import { CooldownConfig, HealthCheckConfig, Limits } from "../config/model";
import { StateOp } from "../lib/state_op";
import { alignWindowEnd, learnRemaining } from "../admission/window";
import { ProviderState, Reason } from "./state";
import { applyProbe, applyResponse, Outcome } from "./transitions";

/** Passive health and remaining counts from one attempt's answer. */
export class AnswerOp extends StateOp<ProviderState> {
  becameUnavailable: bool = false;
  /** A trial request succeeded: the ejection after failures is over. */
  closed: bool = false;
  constructor(public outcome: Outcome, public now: i64, public retryAfter: i64, public remainingTokens: i64,
    public remainingRequests: i64, public cooldown: CooldownConfig, public limits: Limits) { super(); }
  apply(s: ProviderState): bool {
    const ejected = s.reason == Reason.Failures;
    this.becameUnavailable = applyResponse(s, this.outcome, this.now, this.retryAfter, this.cooldown);
    this.closed = ejected && s.reason == Reason.None;
    if (this.outcome == Outcome.RateLimited) {
      // A rate-limit 429's retry-after is when the provider's window frees up: end ours then
      // too, and forget its remaining=0 report (the cooldown covers the wait; the report must
      // not outlive it).
      alignWindowEnd(s, this.limits, this.now, this.retryAfter);
    } else {
      learnRemaining(s, this.remainingTokens, this.remainingRequests, this.now);
    }
    return true;
  }
}

/** An active health check's result (`sent`: when the probe was sent). */
export class ProbeOp extends StateOp<ProviderState> {
  flipped: bool = false;
  /** It ended an ejection after failures: the provider takes traffic again. */
  ejectionEnded: bool = false;
  constructor(public outcome: Outcome, public status: i32, public now: i64, public retryAfter: i64,
    public hc: HealthCheckConfig, public cooldown: CooldownConfig, public sent: i64) { super(); }
  apply(s: ProviderState): bool {
    const ejected = s.reason == Reason.Failures;
    this.flipped = applyProbe(s, this.outcome, this.status, this.now, this.retryAfter, this.hc, this.cooldown, this.sent);
    this.ejectionEnded = ejected && s.reason == Reason.None && s.healthy;
    return true;
  }
}

/**
 * A request chose a half-open provider (ProviderState.halfOpen: its ejection after failures is
 * over, nothing has proven it good yet): it takes the trial until `until` (its answer ends the
 * trial: health/transitions.ts applyResponse; `until` bounds one that never comes). `ok`: the
 * request may go — it holds the trial, or the provider needs none any more; false: another request
 * holds it, or the provider was ejected again.
 */
export class TrialOp extends StateOp<ProviderState> {
  ok: bool = false;
  took: bool = false;
  constructor(public now: i64, public until: i64) { super(); }
  apply(s: ProviderState): bool {
    this.took = false;
    if (s.reason != Reason.Failures) { this.ok = true; return false; }
    if (this.now < s.cooldownUntilMs || this.now < s.trialUntilMs) { this.ok = false; return false; }
    s.trialUntilMs = this.until;
    this.ok = this.took = true;
    return true;
  }
}

/** Health checks off: a rejected key is tried again by live traffic once its ejection ran out. */
export class ClearCredentialOp extends StateOp<ProviderState> {
  constructor(public now: i64) { super(); }
  apply(s: ProviderState): bool {
    if (!s.credentialBad || this.now < s.cooldownUntilMs) return false;
    s.credentialBad = false;
    if (s.reason == Reason.CredentialBad) s.reason = Reason.None;
    return true;
  }
}
