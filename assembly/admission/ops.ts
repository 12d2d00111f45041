// Window operations applied atomically in shared data: reserve before sending, settle after.
// Generic over the record that holds the window (a provider's state, a consumer's budget).

import { Limits } from "../config/model";
import { StateOp } from "../lib/state_op";
import { reserve, settle, Window } from "./window";

export class ReserveOp<T extends Window> extends StateOp<T> {
  ok: bool = false;
  constructor(public limits: Limits, public tokens: i64, public now: i64) { super(); }
  apply(s: T): bool {
    this.ok = reserve(s, this.limits, this.tokens, this.now);
    return this.ok;
  }
}

export class SettleOp<T extends Window> extends StateOp<T> {
  constructor(public limits: Limits, public reserved: i64, public actual: i64, public reservedAt: i64, public now: i64,
    public refund: bool) { super(); }
  apply(s: T): bool {
    settle(s, this.limits, this.reserved, this.actual, this.reservedAt, this.now, this.refund);
    return true;
  }
}
