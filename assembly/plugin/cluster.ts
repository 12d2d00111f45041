// Cluster-wide limits (issue 11): a replica's share of each provider's and consumer's token limit
// is leased from the rate limit service (envoyproxy/ratelimit, ShouldRateLimit over
// proxy_grpc_call) into a pool in shared data (cluster/pool.ts), which every worker of the
// process draws on. A request whose pool is short is parked (its body held) while the lease is
// asked for, and routed again when the answer — or the failure — arrives; the host's timeout
// bounds the wait. Engine down: fail open (each replica admits up to limit / replicas) or closed.

import { ClusterLimitsConfig } from "../config/cluster_limits";
import { Config } from "../config/model";
import { ClusterPool, leaseAnswered, leaseFailed, settleTake, Take, takeFrom } from "../cluster/pool";
import { decodeRateLimitResponse, encodeRateLimitRequest, RLS_METHOD, RLS_SERVICE, RlsDescriptor } from "../cluster/rls";
import { fnv1a32 } from "../lib/hash";
import { StateOp } from "../lib/state_op";
import { defineMetric, incrementMetric, nowMs, Result, setEffectiveContext } from "../host/calls";
import { grpcCall, grpcMessage, grpcStatusMessage } from "../host/grpc";
import { enabled, Level, log } from "../host/log";
import { updateState } from "../host/store";

export const enum PoolKind { Provider = 0, Consumer = 1 }

/** A request waiting for a lease: routed again (or told why not) when the answer comes. */
export abstract class LeaseWaiter {
  /** The HTTP context to make effective before `leased` runs. */
  abstract contextId(): u32;
  /** The lease was answered (or failed): try again. */
  abstract leased(now: i64): void;
}

class TakeOp extends StateOp<ClusterPool> {
  verdict: Take = Take.Lease;
  windowEndMs: i64 = 0;
  constructor(public need: i64, public now: i64, public failOpen: bool, public fallback: i64, public fallbackWindowMs: i64,
    public replicas: i64) { super(); }
  apply(s: ClusterPool): bool {
    this.verdict = takeFrom(s, this.need, this.now, this.failOpen, this.fallback, this.fallbackWindowMs, this.replicas);
    this.windowEndMs = s.windowEndMs;
    // Only a take changes the record (a roll to a new window can wait for the next writer).
    return this.verdict == Take.Taken || this.verdict == Take.TakenFallback;
  }
}

class UnreportedOp extends StateOp<ClusterPool> {
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

class AnsweredOp extends StateOp<ClusterPool> {
  constructor(public now: i64, public code: i32, public limited: bool, public resetMs: i64, public granted: i64, public reported: i64,
    public remaining: i64) { super(); }
  apply(s: ClusterPool): bool {
    leaseAnswered(s, this.now, this.code, this.limited, this.resetMs, this.granted, this.reported, this.remaining);
    return true;
  }
}

class FailedOp extends StateOp<ClusterPool> {
  constructor(public until: i64) { super(); }
  apply(s: ClusterPool): bool {
    leaseFailed(s, this.until);
    return true;
  }
}

class SettleTakeOp extends StateOp<ClusterPool> {
  constructor(public taken: i64, public actual: i64, public refunds: bool, public windowEndMs: i64, public fallback: bool, public now: i64) { super(); }
  apply(s: ClusterPool): bool {
    settleTake(s, this.taken, this.actual, this.refunds, this.windowEndMs, this.fallback, this.now);
    return true;
  }
}

/** Tokens a request took from a pool; settled with the reservation that carries it (plugin/reservation.ts). */
export class ClusterHold {
  private held: bool = true;
  constructor(public key: string, public fingerprint: u32, public taken: i64, public refunds: bool, public windowEndMs: i64,
    public fromFallback: bool) {}
  settle(actual: i64, now: i64): void {
    if (!this.held) return;
    this.held = false;
    updateState<ClusterPool>(this.key, this.fingerprint, new SettleTakeOp(this.taken, actual, this.refunds, this.windowEndMs, this.fromFallback, now));
  }
}

/** What a pool said to a request. */
export class ClusterTake {
  verdict: Take = Take.Taken;
  hold: ClusterHold | null = null;
  /** Full: when the service's window ends (for retry-after). */
  windowEndMs: i64 = 0;
}

class LeaseCall {
  waiters: LeaseWaiter[] = [];
  constructor(public key: string, public fingerprint: u32, public name: string, public granted: i64, public reported: i64, public sentMs: i64) {}
}

const RESULTS: string[] = ["ok", "over_limit", "unlimited", "failed"];
const R_OK = 0;
const R_OVER = 1;
const R_UNLIMITED = 2;
const R_FAILED = 3;

export class ClusterLimiter {
  cfg: ClusterLimitsConfig | null = null;
  private calls: Map<u32, LeaseCall> = new Map();
  /** Leases in flight per pool key (lease mode: requests join the one in flight). */
  private inFlight: Map<string, u32> = new Map();
  private parkedIds: Set<u32> = new Set();
  private metricIds: u32[] = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
  private lastWarnMs: i64 = -100000;
  private failing: bool = false;

  configure(cfg: Config): void {
    this.cfg = cfg.clusterLimits;
    for (let i = 0; i < 4; i++) unchecked((this.metricIds[i] = 0xffffffff));
  }

  get on(): bool {
    return this.cfg !== null;
  }

  /** Is the request with this context waiting for a lease? */
  parked(contextId: u32): bool {
    return this.parkedIds.has(contextId);
  }

  private key(kind: PoolKind, name: string): string {
    return "ai-failover/cluster/" + this.cfg!.domain + (kind == PoolKind.Provider ? "/provider/" : "/consumer/") + name;
  }

  /**
   * Takes `need` tokens from the pool of `name`. `limit`: its configured tokens per window (the
   * fail-open share is limit / replicas); `refunds`: settle both ways (consumer budgets).
   */
  take(kind: PoolKind, name: string, need: i64, limit: i64, windowMs: i64, refunds: bool, now: i64): ClusterTake {
    const c = this.cfg!;
    const key = this.key(kind, name);
    const fp = fnv1a32(key);
    const share = limit > 0 ? (limit + c.replicas - 1) / c.replicas : 0;
    const op = new TakeOp(need, now, c.failOpen, share, windowMs, c.replicas);
    const w = updateState<ClusterPool>(key, fp, op);
    const out = new ClusterTake();
    out.verdict = op.verdict;
    out.windowEndMs = op.windowEndMs;
    if (w !== null && (op.verdict == Take.Taken || op.verdict == Take.TakenFallback)) {
      out.hold = new ClusterHold(key, fp, need, refunds, w.windowEndMs, op.verdict == Take.TakenFallback);
    } else if (w === null && (op.verdict == Take.Taken || op.verdict == Take.TakenFallback)) {
      // The CAS rounds ran out: count it as short (lease again) rather than admit untracked.
      out.verdict = Take.Lease;
    }
    return out;
  }

  /**
   * Leases tokens for `name`'s pool: `need` (or the configured lease, if larger) plus what the
   * service has not counted yet. `waiter` (may be null: a background refill) is resumed when the
   * answer or the failure arrives. False when no call could be started (the pool is then
   * degraded and the waiter is not parked: route again at once).
   */
  lease(kind: PoolKind, name: string, need: i64, now: i64, waiter: LeaseWaiter | null, probeOnly: bool = false): bool {
    const c = this.cfg!;
    const key = this.key(kind, name);
    const fp = fnv1a32(key);
    // Lease mode: join the call in flight for this pool (per request mode: each asks its own).
    if (c.leaseTokens > 0 && this.inFlight.has(key)) {
      const t = this.inFlight.get(key);
      if (this.calls.has(t)) {
        if (waiter !== null) {
          this.calls.get(t).waiters.push(waiter);
          this.parkedIds.add(waiter.contextId());
        }
        return true;
      }
    }
    const peek = new UnreportedOp(now);
    updateState<ClusterPool>(key, fp, peek);
    if (probeOnly && (!peek.stale || peek.degraded || this.inFlight.has(key))) return true;
    const granted = probeOnly ? 0 : need > c.leaseTokens ? need : c.leaseTokens;
    const reported = peek.unreported;
    const d = new RlsDescriptor(<u64>(granted + reported)).entry(kind == PoolKind.Provider ? "provider" : "consumer", name);
    const msg = encodeRateLimitRequest(c.domain, [d]);
    const start = grpcCall(c.cluster, RLS_SERVICE, RLS_METHOD, msg, <u32>c.timeoutMs);
    if (start.result != Result.Ok) {
      this.failed(key, fp, now, "rate limit service call not started on cluster " + c.cluster + " (result " + start.result.toString() + ")");
      return false;
    }
    const call = new LeaseCall(key, fp, name, granted, reported, now);
    if (waiter !== null) {
      call.waiters.push(waiter);
      this.parkedIds.add(waiter.contextId());
    }
    this.calls.set(start.token, call);
    this.inFlight.set(key, start.token);
    return true;
  }

  /**
   * Each tick: learn every pool's state for the current service window before a request needs it
   * (a check-only call, hits 0 plus whatever is unreported) — so a failover attempt, which cannot
   * wait, finds a provider the service does not limit already marked so, and fail-open
   * admissions are reported soon after the service is back.
   */
  tick(cfg: Config, providers: string[], now: i64): void {
    if (this.cfg === null) return;
    for (let i = 0; i < providers.length; i++) this.lease(PoolKind.Provider, unchecked(providers[i]), 0, now, null, true);
    for (let i = 0; i < cfg.consumers.length; i++) {
      const c = unchecked(cfg.consumers[i]);
      if (c.tokensPerMinute > 0) this.lease(PoolKind.Consumer, c.name, 0, now, null, true);
    }
  }

  private count(result: i32): void {
    let id = unchecked(this.metricIds[result]);
    if (id == 0xffffffff) {
      id = defineMetric(0, "ai_failover_cluster_limit_calls_total_result=.=" + unchecked(RESULTS[result]) + ";.;");
      unchecked((this.metricIds[result] = id));
    }
    if (id != 0xffffffff) incrementMetric(id, 1);
  }

  private failed(key: string, fp: u32, now: i64, why: string): void {
    const c = this.cfg!;
    this.count(R_FAILED);
    updateState<ClusterPool>(key, fp, new FailedOp(now + c.retryMs));
    this.failing = true;
    // One warning per 10 s per worker, whatever the request rate.
    if (now - this.lastWarnMs >= 10000 && enabled(Level.Warn)) {
      this.lastWarnMs = now;
      log(Level.Warn, "ai-failover: cluster limits: " + why + "; failing " + (c.failOpen ? "open (each replica admits up to limit / " +
        c.replicas.toString() + ")" : "closed (503)") + " for " + c.retryMs.toString() + " ms");
    }
  }

  /** proxy_on_grpc_receive: the service's answer. False for a token this VM did not send. */
  receive(token: u32, size: u32): bool {
    if (!this.calls.has(token)) return false;
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (this.inFlight.has(call.key) && this.inFlight.get(call.key) == token) this.inFlight.delete(call.key);
    const now = nowMs();
    const res = decodeRateLimitResponse(grpcMessage(size));
    if (!res.ok || res.statuses.length < 1) {
      this.failed(call.key, call.fingerprint, now, "unreadable answer from the rate limit service");
    } else {
      const s = unchecked(res.statuses[0]);
      this.count(s.code == 2 ? R_OVER : s.limited ? R_OK : R_UNLIMITED);
      updateState<ClusterPool>(call.key, call.fingerprint, new AnsweredOp(now, s.code, s.limited, s.resetMs, call.granted, call.reported,
        <i64>s.remaining));
      if (this.failing) {
        this.failing = false;
        if (enabled(Level.Info)) log(Level.Info, "ai-failover: cluster limits: the rate limit service answers again");
      }
      if (enabled(Level.Debug)) {
        log(Level.Debug, "ai-failover: cluster lease " + call.name + " " + call.granted.toString() + "+" + call.reported.toString() +
          " tokens: " + (s.code == 2 ? "over limit" : s.limited ? "granted" : "not limited") + " in " + (now - call.sentMs).toString() + " ms");
      }
    }
    this.resume(call, now);
    return true;
  }

  /** proxy_on_grpc_close: the call failed (timeout, unreachable, service error). */
  close(token: u32, status: u32): bool {
    if (!this.calls.has(token)) return false;
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (this.inFlight.has(call.key) && this.inFlight.get(call.key) == token) this.inFlight.delete(call.key);
    const now = nowMs();
    this.failed(call.key, call.fingerprint, now, "rate limit service call failed: gRPC status " + status.toString() + " " +
      grpcStatusMessage() + " after " + (now - call.sentMs).toString() + " ms");
    this.resume(call, now);
    return true;
  }

  private resume(call: LeaseCall, now: i64): void {
    for (let i = 0; i < call.waiters.length; i++) {
      const w = unchecked(call.waiters[i]);
      const id = w.contextId();
      this.parkedIds.delete(id);
      // The request may have ended meanwhile (client gone): its context no longer exists.
      if (setEffectiveContext(id) != Result.Ok) continue;
      w.leased(now);
    }
  }
}
