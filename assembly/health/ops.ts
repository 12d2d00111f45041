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
  constructor(public outcome: Outcome, public now: i64, public retryAfter: i64, public remainingTokens: i64,
    public remainingRequests: i64, public cooldown: CooldownConfig, public limits: Limits) { super(); }
  apply(s: ProviderState): bool {
    this.becameUnavailable = applyResponse(s, this.outcome, this.now, this.retryAfter, this.cooldown);
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

/** An active health check's result. */
export class ProbeOp extends StateOp<ProviderState> {
  flipped: bool = false;
  constructor(public outcome: Outcome, public status: i32, public now: i64, public retryAfter: i64,
    public hc: HealthCheckConfig, public cooldown: CooldownConfig) { super(); }
  apply(s: ProviderState): bool {
    this.flipped = applyProbe(s, this.outcome, this.status, this.now, this.retryAfter, this.hc, this.cooldown);
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
