// Cluster-wide limits (issue 11): a replica's share of each provider's and consumer's token limit
// is leased from an engine — the rate limit service (envoyproxy/ratelimit, ShouldRateLimit over
// proxy_grpc_call; plugin/cluster/rls_engine.ts) or, in the Higress build, Redis directly
// (plugin/cluster/redis_engine.ts) — into a pool in shared data (cluster/pool.ts), which every worker of
// the process draws on. A request whose pool is short is parked (its body held) while the lease is
// asked for, and routed again when the answer — or the failure — arrives; the call's timeout (and,
// as a backstop, the tick) bounds the wait. Engine down: fail open (each replica admits up to
// limit / replicas) or closed. Provider cooldowns travel too: with Redis in the provider's key
// (plugin/cluster/cooldowns.ts), with the rate limit service in a per-second descriptor per
// provider (plugin/cluster/rls_cooldowns.ts).

import { ClusterLimitsConfig, Config, ConsumerConfig } from "../../config/model";
import { capEngineWait, ClusterPool, Take } from "../../cluster/pool";
import { fnv1a32 } from "../../lib/hash";
import { nowMs, Result, setEffectiveContext } from "../../host/calls";
import { grpcStatusMessage } from "../../host/grpc";
import { enabled, Level, log } from "../../host/log";
import { REDIS_OK } from "../../host/redis";
import { updateState } from "../../host/store";
import { ProviderSlot } from "../../provider/registry";
import { ClusterEngine, EngineAnswer, EngineCall, PoolKind, redisEngine } from "./engine";
import { ClusterCooldowns } from "./cooldowns";
import { AnsweredOp, ClusterHold, ClusterTake, FailedOp, TakeOp, taken, sourceOf, UnreportedOp } from "./pool_ops";
import { CallResult, EngineReport } from "./report";
import { RlsEngine } from "./rls_engine";
import { RlsVerdict } from "./rls_check";
import { RlsSide } from "./rls_side";
export { PoolKind } from "./engine";
export { ClusterHold, ClusterTake } from "./pool_ops";

/** A request waiting for a lease: routed again (or told why not) when the answer comes. */
export abstract class LeaseWaiter {
  /** The HTTP context to make effective before `leased` runs. */
  abstract contextId(): u32;
  /** The lease was answered (or failed): try again. */
  abstract leased(now: i64): void;
}

class LeaseCall {
  waiters: LeaseWaiter[] = [];
  /** The pool's configured window (what an answer's window end is believed up to when the engine names none). */
  windowMs: i64 = 60000;
  constructor(public key: string, public fingerprint: u32, public kind: PoolKind, public name: string, public granted: i64, public reported: i64,
    public sentMs: i64) {}
}

/** A pool's limits as configured (what the Redis engine counts against). */
class PoolLimits {
  constructor(public tokens: i64, public requests: i64, public windowMs: i64) {}
}

/**
 * A problem (with its path) when this build cannot serve the configuration: `clusterLimits.redis`
 * in the Envoy build, which has no Redis calls.
 */
export function unsupportedByBuild(cfg: Config): string | null {
  const c = cfg.clusterLimits;
  if (c === null || c.redis === null || redisEngine() !== null) return null;
  return "clusterLimits.redis: this module is the Envoy build (ai-failover.wasm), which has no Redis calls (they are Higress's own " +
    "host functions, absent from upstream Envoy): on Higress load build/ai-failover-higress.wasm; on Envoy use clusterLimits.rateLimitService";
}

/** The rate limit service engine, shared by every configuration of the VM. */
const RLS_ENGINE = new RlsEngine();

export class ClusterLimiter {
  cfg: ClusterLimitsConfig | null = null;
  engine: ClusterEngine = RLS_ENGINE;
  cooldowns: ClusterCooldowns = new ClusterCooldowns();
  private report: EngineReport = new EngineReport();
  /** The rate limit service's version check and cooldown sync. */
  private rls: RlsSide = new RlsSide(RLS_ENGINE, this.report);
  private calls: Map<u32, LeaseCall> = new Map();
  /** Leases in flight per pool key (lease mode: requests join the one in flight). */
  private inFlight: Map<string, u32> = new Map();
  private parkedIds: Set<u32> = new Set();
  /** Pool key → its configured limits (Redis engine). */
  private limits: Map<string, PoolLimits> = new Map();

  /** Takes the configuration's clusterLimits (unsupportedByBuild said this build can serve it). */
  configure(cfg: Config, providers: ProviderSlot[]): void {
    this.cfg = cfg.clusterLimits;
    this.report.reset();
    this.limits = new Map();
    const c = this.cfg;
    if (c === null) return;
    const redis = redisEngine();
    this.engine = c.redis !== null && redis !== null ? redis : RLS_ENGINE;
    for (let i = 0; i < providers.length; i++) {
      const p = unchecked(providers[i]).config;
      const key = this.key(PoolKind.Provider, p.name);
      if (!this.limits.has(key)) this.limits.set(key, new PoolLimits(p.limits.tokensPerMinute, p.limits.requestsPerMinute, p.limits.windowMs));
    }
    for (let i = 0; i < cfg.consumers.length; i++) {
      const k: ConsumerConfig = unchecked(cfg.consumers[i]);
      this.limits.set(this.key(PoolKind.Consumer, k.name), new PoolLimits(k.tokensPerMinute, k.requestsPerMinute, 60000));
    }
    this.cooldowns.configure(c, providers);
    this.rls.configure(c, providers);
    this.engine.configure(c);
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
   * Redis engine: a pool without a configured limit is not counted cluster-wide (Taken, no hold).
   * `borrow`: the taker cannot wait for a lease (a failover attempt): it may borrow its replica's
   * share of the last answer's remainder (cluster/pool.ts).
   */
  take(kind: PoolKind, name: string, need: i64, limit: i64, windowMs: i64, refunds: bool, now: i64, borrow: bool = false): ClusterTake {
    const c = this.cfg!;
    if (limit <= 0 && this.engine.limitsHere()) return new ClusterTake();
    const key = this.key(kind, name);
    const fp = fnv1a32(key);
    const share = limit > 0 ? (limit + c.replicas - 1) / c.replicas : 0;
    // A rate limit service too old to count a lease's tokens: this replica's share, never a lease.
    const local = this.rls.verdict == RlsVerdict.Legacy;
    const op = new TakeOp(need, now, c.failOpen, share, windowMs, c.replicas, borrow, local);
    const w = updateState<ClusterPool>(key, fp, op);
    const out = new ClusterTake();
    out.verdict = op.verdict;
    out.windowEndMs = op.windowEndMs;
    if (w !== null && taken(op.verdict)) {
      out.hold = new ClusterHold(key, fp, need, refunds, w.windowEndMs, sourceOf(op.verdict));
    } else if (w === null && taken(op.verdict)) {
      // The CAS rounds ran out: count it as short (lease again) rather than admit untracked.
      out.verdict = Take.Lease;
    }
    return out;
  }

  /**
   * Leases tokens for `name`'s pool: `need` (or the configured lease, if larger) plus what the
   * engine has not counted yet. `waiter` (may be null: a background refill) is resumed when the
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
    const call = this.engineCall(kind, name, key);
    call.want = probeOnly ? 0 : need > c.leaseTokens ? need : c.leaseTokens;
    call.need = probeOnly ? 0 : need;
    call.reported = peek.unreported;
    // Per request, Redis also counts the request (a lease of many requests' tokens cannot).
    call.requests = !probeOnly && c.leaseTokens == 0 ? 1 : 0;
    if (c.leaseTokens > 0) call.requestLimit = 0;
    return this.send(call, key, fp, now, waiter);
  }

  private engineCall(kind: PoolKind, name: string, key: string): EngineCall {
    const call = new EngineCall();
    call.kind = kind;
    call.name = name;
    if (this.limits.has(key)) {
      const l = this.limits.get(key);
      call.tokenLimit = l.tokens;
      call.requestLimit = l.requests;
      call.windowMs = l.windowMs;
    }
    return call;
  }

  private send(call: EngineCall, key: string, fp: u32, now: i64, waiter: LeaseWaiter | null): bool {
    const start = this.engine.start(call, this.cfg!);
    if (!start.ok) {
      this.failed(key, fp, now, start.why);
      return false;
    }
    const lc = new LeaseCall(key, fp, call.kind, call.name, call.want, call.reported, now);
    lc.windowMs = call.windowMs;
    if (waiter !== null) {
      lc.waiters.push(waiter);
      this.parkedIds.add(waiter.contextId());
    }
    this.calls.set(start.token, lc);
    this.inFlight.set(key, start.token);
    return true;
  }

  /**
   * Each tick: learn every pool's state for the current window before a request needs it (a
   * check-only call, hits 0 plus whatever is unreported) — so a failover attempt, which cannot
   * wait, finds a provider the service does not limit already marked so, and fail-open
   * admissions are reported soon after the engine is back. With Redis, one worker per process also
   * looks at every provider each tick, publishing cooldowns this process learned and learning
   * those others published (plugin/cluster/cooldowns.ts); with the rate limit service it publishes
   * and checks the cooldown descriptors (plugin/cluster/rls_cooldowns.ts). Calls older than their
   * timeout (plus a margin) are failed here, whatever the host does.
   */
  tick(cfg: Config, providers: ProviderSlot[], now: i64, tickMs: i64): void {
    if (this.cfg === null) return;
    this.expire(now);
    const here = this.engine.limitsHere();
    // Too old to count leases and checks (rls_check.ts): no lease, no cooldown sync.
    if (!here && this.rls.tickCheck(this.cfg!, now, tickMs) == RlsVerdict.Legacy) return;
    const syncing = here && this.cooldowns.holds(now);
    for (let i = 0; i < providers.length; i++) {
      const slot = unchecked(providers[i]);
      const name = slot.config.name;
      if (slot.credential > 0) continue;
      if (syncing) this.sync(slot, now);
      else if (!here || slot.config.limits.tokensPerMinute > 0) this.lease(PoolKind.Provider, name, 0, now, null, true);
    }
    for (let i = 0; i < cfg.consumers.length; i++) {
      const c = unchecked(cfg.consumers[i]);
      if (c.tokensPerMinute > 0) this.lease(PoolKind.Consumer, c.name, 0, now, null, true);
    }
    if (!here) this.rls.tickCooldowns(this.cfg!, now, tickMs);
  }

  /** Redis: one look at a provider's key that also publishes its cooldown, if this process has a new one. */
  private sync(slot: ProviderSlot, now: i64): void {
    const name = slot.config.name;
    const key = this.key(PoolKind.Provider, name);
    const fp = fnv1a32(key);
    if (this.inFlight.has(key)) return;
    const call = this.engineCall(PoolKind.Provider, name, key);
    if (call.tokenLimit > 0) {
      const peek = new UnreportedOp(now);
      updateState<ClusterPool>(key, fp, peek);
      if (peek.degraded) return;
      call.reported = peek.unreported;
    } else if (this.cooldowns.degraded(now)) return;
    // A provider without a cluster limit is looked at too: for the cooldowns others published.
    this.cooldowns.toPublish(slot, now, call);
    this.send(call, key, fp, now, null);
  }

  /** Calls the host should have ended by now: failed (a late answer is then ignored as unknown). */
  private expire(now: i64): void {
    const limit = this.cfg!.timeoutMs + 250;
    const late: u32[] = [];
    const tokens = this.calls.keys();
    for (let i = 0; i < tokens.length; i++) {
      const t = unchecked(tokens[i]);
      if (now - this.calls.get(t).sentMs > limit) late.push(t);
    }
    for (let i = 0; i < late.length; i++) this.callFailed(unchecked(late[i]), now, "no answer from the " + this.engine.label() + " within " + limit.toString() + " ms");
    this.rls.expire(this.cfg!, now, limit);
  }

  private failed(key: string, fp: u32, now: i64, why: string): void {
    const c = this.cfg!;
    this.report.count(CallResult.Failed);
    updateState<ClusterPool>(key, fp, new FailedOp(now + c.retryMs));
    this.cooldowns.failed(now + c.retryMs);
    this.report.warn(c, now, why);
  }

  /** The engine's answer to `token` (read by the engine inside its callback). */
  private answered(token: u32, now: i64, a: EngineAnswer | null): void {
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (this.inFlight.has(call.key) && this.inFlight.get(call.key) == token) this.inFlight.delete(call.key);
    if (a === null) {
      this.failed(call.key, call.fingerprint, now, this.engine.unreadable());
    } else {
      this.report.count(a.code == 2 ? CallResult.OverLimit : a.limited ? CallResult.Ok : CallResult.Unlimited);
      const granted = a.granted >= 0 ? a.granted : call.granted;
      // The engine's word on time is believed up to the window it counts in, and an hour (an answer
      // of 10^10 s must not lock a pool, or hold a provider, for that long).
      const reset = capEngineWait(a.resetMs, a.windowMs > 0 ? a.windowMs : call.windowMs);
      updateState<ClusterPool>(call.key, call.fingerprint, new AnsweredOp(now, a.code, a.limited, reset, granted, call.reported, a.remaining));
      if (call.kind == PoolKind.Provider && a.cooldownMs > 0) this.cooldowns.learned(call.name, now, capEngineWait(a.cooldownMs, 0), a.cooldownReason);
      this.report.answeredAgain(this.engine.label());
      if (enabled(Level.Debug)) {
        log(Level.Debug, "ai-failover: cluster lease " + call.name + " " + call.granted.toString() + "+" + call.reported.toString() +
          " tokens: " + (a.code == 2 ? "over limit" : a.limited ? "granted " + granted.toString() : "not limited") + " in " +
          (now - call.sentMs).toString() + " ms");
      }
    }
    this.resume(call, now);
  }

  private callFailed(token: u32, now: i64, why: string): void {
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (this.inFlight.has(call.key) && this.inFlight.get(call.key) == token) this.inFlight.delete(call.key);
    this.failed(call.key, call.fingerprint, now, why);
    this.resume(call, now);
  }

  /** proxy_on_grpc_receive: the rate limit service's answer. False for a token this VM did not send. */
  receive(token: u32, size: u32): bool {
    if (this.rls.owns(token)) {
      this.rls.receive(this.cfg!, token, size);
      return true;
    }
    if (!this.calls.has(token)) return false;
    this.answered(token, nowMs(), this.engine.answer(size));
    return true;
  }

  /** proxy_on_grpc_close: the call failed (timeout, unreachable, service error). */
  close(token: u32, status: u32): bool {
    if (this.rls.owns(token)) {
      this.rls.close(this.cfg!, token, status);
      return true;
    }
    if (!this.calls.has(token)) return false;
    const now = nowMs();
    const call = this.calls.get(token);
    this.callFailed(token, now, "rate limit service call failed: gRPC status " + status.toString() + " " + grpcStatusMessage() + " after " +
      (now - call.sentMs).toString() + " ms");
    return true;
  }

  /** proxy_on_redis_call_response (Higress build): the reply, or a failed call (status ≠ Ok). */
  redisAnswer(token: u32, status: u32, size: u32): bool {
    if (!this.calls.has(token)) return false;
    const now = nowMs();
    if (status == REDIS_OK) this.answered(token, now, this.engine.answer(size));
    else {
      const call = this.calls.get(token);
      this.callFailed(token, now, "redis call failed (connection refused, closed or timed out: status " + status.toString() + ") after " +
        (now - call.sentMs).toString() + " ms");
    }
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
