// Shared-state operations for one attempt: reserve capacity before sending, settle it
// afterwards, and learn from what the provider answered.

import { Config, Limits } from "../config/model";
import { StateOp } from "../host/store";
import { ProviderState } from "../health/state";
import { applyResponse, Outcome } from "../health/transitions";
import { alignWindowEnd, learnRemaining, reserve, settle } from "../health/capacity";

export class ReserveOp extends StateOp {
  ok: bool = false;
  constructor(public limits: Limits, public tokens: i64, public now: i64) { super(); }
  apply(s: ProviderState): bool {
    this.ok = reserve(s, this.limits, this.tokens, this.now);
    return this.ok;
  }
}

export class SettleOp extends StateOp {
  constructor(public limits: Limits, public reserved: i64, public actual: i64, public reservedAt: i64, public now: i64,
    public refund: bool) { super(); }
  apply(s: ProviderState): bool {
    settle(s, this.limits, this.reserved, this.actual, this.reservedAt, this.now, this.refund);
    return true;
  }
}

/** Passive health + remaining counts from one attempt's answer (+ releasing a failed reservation). */
export class ResponseOp extends StateOp {
  becameUnavailable: bool = false;
  constructor(public outcome: Outcome, public now: i64, public retryAfter: i64, public remainingTokens: i64,
    public remainingRequests: i64, public cfg: Config, public limits: Limits,
    public release: bool, public reserved: i64, public reservedAt: i64) { super(); }
  apply(s: ProviderState): bool {
    if (this.release) settle(s, this.limits, this.reserved, -1, this.reservedAt, this.now);
    this.becameUnavailable = applyResponse(s, this.outcome, this.now, this.retryAfter, this.cfg.cooldown);
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
