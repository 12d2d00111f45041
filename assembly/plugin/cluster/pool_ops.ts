// The changes a worker makes to a pool record in shared data (cluster/pool.ts), each applied with
// CAS (host/store.ts updateState), and the hold a request keeps of the tokens it took.

import { ClusterPool, leaseAnswered, leaseFailed, settleTake, Take, takeFrom, TakeSource } from "../../cluster/pool";
import { StateOp } from "../../lib/state_op";
import { updateState } from "../../host/store";

export class TakeOp extends StateOp<ClusterPool> {
  verdict: Take = Take.Lease;
  windowEndMs: i64 = 0;
  constructor(public need: i64, public now: i64, public failOpen: bool, public fallback: i64, public fallbackWindowMs: i64,
    public replicas: i64, public borrow: bool, public localOnly: bool) { super(); }
  apply(s: ClusterPool): bool {
    this.verdict = takeFrom(s, this.need, this.now, this.failOpen, this.fallback, this.fallbackWindowMs, this.replicas, this.borrow, this.localOnly);
    this.windowEndMs = s.windowEndMs;
    // Only a take changes the record (a roll to a new window can wait for the next writer).
    return taken(this.verdict);
  }
}

export class UnreportedOp extends StateOp<ClusterPool> {
  unreported: i64 = 0;
  /** The pool's state is unknown for the current window (never asked, or its window ended). */
  stale: bool = false;
  degraded: bool = false;
  constructor(public now: i64) { super(); }
  apply(s: ClusterPool): bool {
    this.unreported = s.unreported;
    this.stale = s.windowEndMs == 0 || this.now >= s.windowEndMs;
    this.degraded = this.now < s.degradedUntilMs;
    return false;
  }
}

export class AnsweredOp extends StateOp<ClusterPool> {
  constructor(public now: i64, public code: i32, public limited: bool, public resetMs: i64, public granted: i64, public reported: i64,
    public remaining: i64) { super(); }
  apply(s: ClusterPool): bool {
    leaseAnswered(s, this.now, this.code, this.limited, this.resetMs, this.granted, this.reported, this.remaining);
    return true;
  }
}

export class FailedOp extends StateOp<ClusterPool> {
  constructor(public until: i64) { super(); }
  apply(s: ClusterPool): bool {
    leaseFailed(s, this.until);
    return true;
  }
}

export function taken(v: Take): bool {
  return v == Take.Taken || v == Take.TakenFallback || v == Take.TakenBorrowed;
}

export function sourceOf(v: Take): TakeSource {
  return v == Take.TakenFallback ? TakeSource.Fallback : v == Take.TakenBorrowed ? TakeSource.Borrowed : TakeSource.Lease;
}

class SettleTakeOp extends StateOp<ClusterPool> {
  constructor(public taken: i64, public actual: i64, public refunds: bool, public windowEndMs: i64, public source: TakeSource, public now: i64) { super(); }
  apply(s: ClusterPool): bool {
    settleTake(s, this.taken, this.actual, this.refunds, this.windowEndMs, this.source, this.now);
    return true;
  }
}

/** Tokens a request took from a pool; settled with the reservation that carries it (plugin/capacity/reservation.ts). */
export class ClusterHold {
  private held: bool = true;
  constructor(public key: string, public fingerprint: u32, public taken: i64, public refunds: bool, public windowEndMs: i64,
    public source: TakeSource) {}
  settle(actual: i64, now: i64): void {
    if (!this.held) return;
    this.held = false;
    updateState<ClusterPool>(this.key, this.fingerprint, new SettleTakeOp(this.taken, actual, this.refunds, this.windowEndMs, this.source, now));
  }
}

/** What a pool said to a request. */
export class ClusterTake {
  verdict: Take = Take.Taken;
  hold: ClusterHold | null = null;
  /** Full: when the service's window ends (for retry-after). */
  windowEndMs: i64 = 0;
}
