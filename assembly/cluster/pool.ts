// A replica's share of one cluster-wide limit (a provider's or a consumer's tokens per window),
// kept in shared data so every worker of the Envoy process draws on it. Tokens come in by
// leasing them from the rate limit service (a ShouldRateLimit whose hits_addend is the lease);
// requests take their estimate out locally. Pure: the ops below are applied with CAS by
// host/store.ts.
//
// Counting follows envoyproxy/ratelimit: fixed windows per unit, a hit is counted even when it is
// refused, nothing is ever given back. So:
//   - admitted ≤ the sum of granted leases ≤ the cluster limit (a lease that would cross it is
//     refused whole, and its tokens are lost for that window: under-use ≤ one lease);
//   - usage above a request's estimate and whatever was admitted without the service (fail-open)
//     is `unreported` and rides on the next lease's hits;
//   - leased tokens left when the service's window ends are dropped;
//   - a failover attempt, which cannot wait for a lease, may borrow up to its replica's share of what
//     the engine last said remained in the window (lastRemaining / replicas), as unreported: the next
//     call (at most a tick later) counts it. Between two calls the replicas together borrow at most
//     that remainder, so a window can exceed its limit by at most what was borrowed since the last
//     call, and only when leases took the same remainder meanwhile.

import { Window } from "../admission/window";
import { RecordIo } from "../lib/record";

const POOL_LAYOUT: u32 = 0x434c5002; // "CLP" + version 2
const POOL_BYTES: i32 = 80;

export const enum PoolMode {
  /** Leased tokens while they last, then lease again. */
  Leasing = 0,
  /** The service said OVER_LIMIT: nothing more until its window ends. */
  Exhausted = 1,
  /** The service has no limit for this descriptor: no calls until its window ends. */
  Unlimited = 2,
}

export class ClusterPool extends Window {
  /** When the service's window (the one the lease counts in) ends; 0 = none yet. */
  windowEndMs: i64 = 0;
  mode: i32 = PoolMode.Leasing;
  /** Leased tokens not yet taken (a refund may add back within the same window). */
  leased: i64 = 0;
  /** Tokens used that the service has not counted (over-runs, fail-open admissions): sent with the next lease. */
  unreported: i64 = 0;
  /** The service failed: no call before this; fail-open admits from `fallback` meanwhile. */
  degradedUntilMs: i64 = 0;
  /** Fail-open allowance (limit / replicas) left in the local window starting at `fallbackStartMs`. */
  fallback: i64 = 0;
  fallbackStartMs: i64 = 0;
  /** limit_remaining of the last answer, for the window ending at windowEndMs (-1: unknown). */
  lastRemaining: i64 = -1;
  /** Tokens failover attempts borrowed since the last answer (against lastRemaining / replicas). */
  borrowed: i64 = 0;

  layout(): u32 {
    return POOL_LAYOUT;
  }

  bytes(): i32 {
    return POOL_BYTES;
  }

  fields(io: RecordIo): void {
    this.fingerprint = io.u32(this.fingerprint);
    this.windowEndMs = io.i64(this.windowEndMs);
    this.mode = <i32>io.i64(<i64>this.mode);
    this.leased = io.i64(this.leased);
    this.unreported = io.i64(this.unreported);
    this.degradedUntilMs = io.i64(this.degradedUntilMs);
    this.fallback = io.i64(this.fallback);
    this.fallbackStartMs = io.i64(this.fallbackStartMs);
    this.lastRemaining = io.i64(this.lastRemaining);
    this.borrowed = io.i64(this.borrowed);
  }
}

/** A new service window: what was leased for the old one is gone. */
export function rollPool(s: ClusterPool, now: i64): void {
  if (s.windowEndMs != 0 && now >= s.windowEndMs) {
    s.windowEndMs = 0;
    s.mode = PoolMode.Leasing;
    s.leased = 0;
    s.lastRemaining = -1;
    s.borrowed = 0;
  }
}

export const enum Take {
  /** Taken from the lease (or not limited cluster-wide). */
  Taken = 0,
  /** Taken from the fail-open allowance (the service is unreachable). */
  TakenFallback = 1,
  /** Not enough leased: lease more from the service. */
  Lease = 2,
  /** Over the cluster-wide limit until the window ends. */
  Full = 3,
  /** The service is unreachable and the failure mode is closed. */
  Unavailable = 4,
  /** Borrowed against the last answer's remainder (a failover attempt, which cannot wait). */
  TakenBorrowed = 5,
}

/** Where a take came from (how it is settled). */
export const enum TakeSource { Lease = 0, Fallback = 1, Borrowed = 2 }

/**
 * Takes `need` tokens. `fallbackLimit`: the fail-open allowance per `fallbackWindowMs` (the
 * local limit / replicas; 0 = unlimited); `failOpen` false: no admission without the service;
 * `borrow`: the taker cannot wait for a lease (a failover attempt); `localOnly`: the service cannot
 * count leases (a rate limit service too old, plugin/cluster/rls_check.ts): the fail-open allowance
 * only, whatever the failure mode.
 */
export function takeFrom(s: ClusterPool, need: i64, now: i64, failOpen: bool, fallbackLimit: i64, fallbackWindowMs: i64, replicas: i64,
  borrow: bool = false, localOnly: bool = false): Take {
  rollPool(s, now);
  // Nothing to report later either: that service would count it as one hit.
  if (localOnly) return takeFallback(s, need, now, fallbackLimit, fallbackWindowMs, replicas, false);
  if (s.mode == PoolMode.Unlimited) return Take.Taken;
  if (s.leased >= need) {
    s.leased -= need;
    return Take.Taken;
  }
  if (s.mode == PoolMode.Exhausted) return Take.Full;
  if (now >= s.degradedUntilMs) {
    if (borrow && s.windowEndMs > now && s.lastRemaining > 0 && s.borrowed + need <= s.lastRemaining / (replicas > 0 ? replicas : 1)) {
      s.borrowed += need;
      s.unreported += need;
      return Take.TakenBorrowed;
    }
    return Take.Lease;
  }
  if (!failOpen) return Take.Unavailable;
  return takeFallback(s, need, now, fallbackLimit, fallbackWindowMs, replicas, true);
}

/** From the fail-open allowance (limit / replicas per window of this replica's own); `report`: count it with the next lease. */
function takeFallback(s: ClusterPool, need: i64, now: i64, fallbackLimit: i64, fallbackWindowMs: i64, replicas: i64, report: bool): Take {
  if (s.fallbackStartMs == 0 || now - s.fallbackStartMs >= fallbackWindowMs || now < s.fallbackStartMs) {
    s.fallbackStartMs = now;
    s.fallback = fallbackLimit;
    // Mid-window: the rest of the service's window is what it last said remained, shared by the
    // replicas (not a whole share on top of what was leased before the outage).
    if (fallbackLimit > 0 && s.windowEndMs > now && s.lastRemaining >= 0) {
      const rest = s.lastRemaining / (replicas > 0 ? replicas : 1);
      if (rest < s.fallback) s.fallback = rest;
      s.fallbackStartMs = s.windowEndMs - fallbackWindowMs;
    }
  }
  if (fallbackLimit > 0 && s.fallback < need) return Take.Full;
  if (fallbackLimit > 0) s.fallback -= need;
  if (report) s.unreported += need;
  return Take.TakenFallback;
}

/**
 * The longest an engine's word is taken for: a window's end or a published cooldown further away
 * than this is believed only this far (a rate limit service answering duration_until_reset 10^10 s
 * locked a consumer out with retry-after 9999999931; the next call after this asks again).
 */
export const MAX_ENGINE_WAIT_MS: i64 = 3_600_000;

/** `ms` (an engine's time until its window ends, or a cooldown) capped at `windowMs` (≤ 0: unknown) and MAX_ENGINE_WAIT_MS. */
export function capEngineWait(ms: i64, windowMs: i64): i64 {
  const cap = windowMs > 0 && windowMs < MAX_ENGINE_WAIT_MS ? windowMs : MAX_ENGINE_WAIT_MS;
  return ms > cap ? cap : ms;
}

/** The answer to a lease of `granted` tokens that also reported `reported` unreported ones. */
export function leaseAnswered(s: ClusterPool, now: i64, code: i32, limited: bool, resetMs: i64, granted: i64, reported: i64, remaining: i64): void {
  rollPool(s, now);
  s.unreported -= reported;
  if (s.unreported < 0) s.unreported = 0;
  s.degradedUntilMs = 0;
  s.borrowed = 0;
  // Windows are the service's: whole units, ending `resetMs` from now (a minute when not said).
  const end = now + (resetMs > 0 ? resetMs : 60000);
  s.lastRemaining = remaining;
  if (code == 2) {
    s.mode = PoolMode.Exhausted;
    s.windowEndMs = end;
    return;
  }
  if (!limited) {
    s.mode = PoolMode.Unlimited;
    s.windowEndMs = end;
    return;
  }
  // A lease that straddles a window change counts in the new window only: restart from it.
  if (s.windowEndMs != 0 && end > s.windowEndMs + 1000) s.leased = 0;
  s.windowEndMs = end;
  s.mode = PoolMode.Leasing;
  s.leased += granted;
}

/** The service could not be asked: degrade until `untilMs` (each replica then uses its fallback). */
export function leaseFailed(s: ClusterPool, untilMs: i64): void {
  if (s.degradedUntilMs < untilMs) s.degradedUntilMs = untilMs;
}

/**
 * Settles a take of `taken` tokens with `actual` used (-1: nothing was used). Usage above the take
 * becomes unreported (charged with the next lease); below it is given back to the lease only when
 * `refunds` (consumer budgets) or nothing was used at all (a failed attempt), and only in the
 * window it was taken from.
 */
export function settleTake(s: ClusterPool, taken: i64, actual: i64, refunds: bool, takenWindowEndMs: i64, source: TakeSource, now: i64): void {
  rollPool(s, now);
  if (actual > taken) {
    s.unreported += actual - taken;
    return;
  }
  if (!refunds && actual >= 0) return;
  const back = taken - (actual > 0 ? actual : 0);
  if (source != TakeSource.Lease) {
    s.unreported -= back;
    if (s.unreported < 0) s.unreported = 0;
    if (source == TakeSource.Fallback) s.fallback += back;
    else if (s.windowEndMs == takenWindowEndMs) s.borrowed = s.borrowed > back ? s.borrowed - back : 0;
    return;
  }
  if (s.windowEndMs != 0 && s.windowEndMs == takenWindowEndMs && s.mode != PoolMode.Unlimited) s.leased += back;
}
