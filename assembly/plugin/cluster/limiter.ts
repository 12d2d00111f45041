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

import { ClusterLimitsConfig } from "../../config/model";
import { Config, ConsumerConfig } from "../../config/model";
import { capEngineWait, ClusterPool, leaseAnswered, leaseFailed, settleTake, Take, takeFrom, TakeSource } from "../../cluster/pool";
import { decodeRateLimitResponse } from "../../cluster/rls";
import { fnv1a32 } from "../../lib/hash";
import { StateOp } from "../../lib/state_op";
import { defineMetric, incrementMetric, nowMs, Result, setEffectiveContext } from "../../host/calls";
import { grpcMessage, grpcStatusMessage } from "../../host/grpc";
import { enabled, Level, log } from "../../host/log";
import { REDIS_OK } from "../../host/redis";
import { updateState } from "../../host/store";
import { ProviderSlot } from "../../provider/registry";
import { ClusterEngine, EngineAnswer, EngineCall, PoolKind, redisEngine } from "./engine";
import { ClusterCooldowns } from "./cooldowns";
import { RlsEngine } from "./rls_engine";
import { CooldownCall, RlsCooldowns } from "./rls_cooldowns";
import { RlsCheck, RlsVerdict } from "./rls_check";

export { PoolKind } from "./engine";

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
    public replicas: i64, public borrow: bool, public localOnly: bool) { super(); }
  apply(s: ClusterPool): bool {
    this.verdict = takeFrom(s, this.need, this.now, this.failOpen, this.fallback, this.fallbackWindowMs, this.replicas, this.borrow, this.localOnly);
    this.windowEndMs = s.windowEndMs;
    // Only a take changes the record (a roll to a new window can wait for the next writer).
    return taken(this.verdict);
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

function taken(v: Take): bool {
  return v == Take.Taken || v == Take.TakenFallback || v == Take.TakenBorrowed;
}

function sourceOf(v: Take): TakeSource {
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

class LeaseCall {
  waiters: LeaseWaiter[] = [];
  /** The pool's configured window (what an answer's window end is believed up to when the engine names none). */
  windowMs: i64 = 60000;
  constructor(public key: string, public fingerprint: u32, public kind: PoolKind, public name: string, public granted: i64, public reported: i64,
    public sentMs: i64) {}
}

const RESULTS: string[] = ["ok", "over_limit", "unlimited", "failed"];
const R_OK = 0;
const R_OVER = 1;
const R_UNLIMITED = 2;
const R_FAILED = 3;

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
  rlsCooldowns: RlsCooldowns = new RlsCooldowns();
  /** Is the rate limit service one whose answers mean what the filter takes them to (plugin/cluster/rls_check.ts)? */
  rlsCheck: RlsCheck = new RlsCheck();
  /** Its verdict as of this VM's last tick. */
  private rlsVerdict: RlsVerdict = RlsVerdict.Unknown;
  private calls: Map<u32, LeaseCall> = new Map();
  /** Leases in flight per pool key (lease mode: requests join the one in flight). */
  private inFlight: Map<string, u32> = new Map();
  private parkedIds: Set<u32> = new Set();
  private metricIds: u32[] = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
  private lastWarnMs: i64 = -100000;
  private failing: bool = false;
  /** Pool key → its configured limits (Redis engine). */
  private limits: Map<string, PoolLimits> = new Map();

  /** Takes the configuration's clusterLimits (unsupportedByBuild said this build can serve it). */
  configure(cfg: Config, providers: ProviderSlot[]): void {
    this.cfg = cfg.clusterLimits;
    for (let i = 0; i < 4; i++) unchecked((this.metricIds[i] = 0xffffffff));
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
    this.rlsCooldowns.configure(c, providers);
    this.rlsCheck.configure(c);
    this.rlsVerdict = this.rlsCheck.verdict();
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
    const local = this.rlsVerdict == RlsVerdict.Legacy;
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
    if (!here) {
      if (this.rlsCheck.due(now, tickMs)) this.sendCheck(now);
      this.rlsVerdict = this.rlsCheck.verdict();
      // Too old to count leases and checks (cluster_rls_check.ts): no lease, no cooldown sync.
      if (this.rlsVerdict == RlsVerdict.Legacy) return;
    }
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
    // Cooldowns are shared only through a service known to honour a check-only call.
    if (!here && this.rlsVerdict == RlsVerdict.Current && this.rlsCooldowns.due(now, tickMs)) this.syncRlsCooldowns(now);
  }

  /** The rate limit service check (plugin/cluster/rls_check.ts). */
  private sendCheck(now: i64): void {
    const c = this.cfg!;
    const start = RLS_ENGINE.send(this.rlsCheck.request(), c);
    if (!start.ok) {
      this.rlsCheck.failed(now, c.retryMs);
      this.warn(now, start.why + " (version check; cooldowns are not shared until it answers)", false);
      return;
    }
    this.rlsCheck.sent(start.token, now);
  }

  /** Rate limit service: this tick's publish call (own cooldowns, hits 1) and check call (the others, hits 0). */
  private syncRlsCooldowns(now: i64): void {
    const publish: string[] = [];
    const check: string[] = [];
    this.rlsCooldowns.split(now, publish, check);
    if (publish.length > 0) this.sendCooldowns(true, publish, now);
    if (check.length > 0) this.sendCooldowns(false, check, now);
  }

  private sendCooldowns(publish: bool, names: string[], now: i64): void {
    const c = this.cfg!;
    const start = (<RlsEngine>this.engine).send(this.rlsCooldowns.request(names, publish ? 1 : 0), c);
    if (!start.ok) {
      this.rlsCooldowns.backOff(now + c.retryMs);
      this.count(R_FAILED);
      this.warn(now, start.why + " (cooldown sync; traffic goes on, learned cooldowns run out)", false);
      return;
    }
    this.rlsCooldowns.sent(start.token, new CooldownCall(publish, names, now));
  }

  private cooldownCallFailed(token: u32, now: i64, why: string): void {
    this.rlsCooldowns.drop(token);
    this.rlsCooldowns.backOff(now + this.cfg!.retryMs);
    this.count(R_FAILED);
    this.warn(now, why + " (cooldown sync; traffic goes on, learned cooldowns run out)", false);
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
    if (this.rlsCheck.late(now, limit)) {
      this.rlsCheck.failed(now, this.cfg!.retryMs);
      this.warn(now, "no answer from the rate limit service within " + limit.toString() + " ms (version check; cooldowns are not shared until it answers)", false);
    }
    const lateSync = this.rlsCooldowns.late(now, limit);
    for (let i = 0; i < lateSync.length; i++) this.cooldownCallFailed(unchecked(lateSync[i]), now, "no answer from the rate limit service within " + limit.toString() + " ms");
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
    this.cooldowns.failed(now + c.retryMs);
    this.warn(now, why);
  }

  /** One warning per 10 s per worker, whatever the request rate. */
  private warn(now: i64, why: string, limits: bool = true): void {
    const c = this.cfg!;
    this.failing = true;
    if (now - this.lastWarnMs >= 10000 && enabled(Level.Warn)) {
      this.lastWarnMs = now;
      log(Level.Warn, "ai-failover: cluster limits: " + why + (limits ? "; failing " + (c.failOpen ? "open (each replica admits up to limit / " +
        c.replicas.toString() + ")" : "closed (503)") : "; not asked again") + " for " + c.retryMs.toString() + " ms");
    }
  }

  /** The engine's answer to `token` (read by the engine inside its callback). */
  private answered(token: u32, now: i64, a: EngineAnswer | null): void {
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (this.inFlight.has(call.key) && this.inFlight.get(call.key) == token) this.inFlight.delete(call.key);
    if (a === null) {
      this.failed(call.key, call.fingerprint, now, this.engine.unreadable());
    } else {
      this.count(a.code == 2 ? R_OVER : a.limited ? R_OK : R_UNLIMITED);
      const granted = a.granted >= 0 ? a.granted : call.granted;
      // The engine's word on time is believed up to the window it counts in, and an hour (an answer
      // of 10^10 s must not lock a pool, or hold a provider, for that long).
      const reset = capEngineWait(a.resetMs, a.windowMs > 0 ? a.windowMs : call.windowMs);
      updateState<ClusterPool>(call.key, call.fingerprint, new AnsweredOp(now, a.code, a.limited, reset, granted, call.reported, a.remaining));
      if (call.kind == PoolKind.Provider && a.cooldownMs > 0) this.cooldowns.learned(call.name, now, capEngineWait(a.cooldownMs, 0), a.cooldownReason);
      this.answeredAgain();
      if (enabled(Level.Debug)) {
        log(Level.Debug, "ai-failover: cluster lease " + call.name + " " + call.granted.toString() + "+" + call.reported.toString() +
          " tokens: " + (a.code == 2 ? "over limit" : a.limited ? "granted " + granted.toString() : "not limited") + " in " +
          (now - call.sentMs).toString() + " ms");
      }
    }
    this.resume(call, now);
  }

  private answeredAgain(): void {
    if (!this.failing) return;
    this.failing = false;
    if (enabled(Level.Info)) log(Level.Info, "ai-failover: cluster limits: the " + this.engine.label() + " answers again");
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
    if (this.rlsCheck.owns(token)) {
      const now = nowMs();
      if (this.rlsCheck.answered(decodeRateLimitResponse(grpcMessage(size)), now, this.cfg!.retryMs)) {
        this.count(R_OK);
        this.answeredAgain();
        this.rlsVerdict = this.rlsCheck.verdict();
      } else {
        this.count(R_FAILED);
        this.warn(now, "unreadable answer from the rate limit service (version check; cooldowns are not shared until it answers)", false);
      }
      return true;
    }
    if (this.rlsCooldowns.owns(token)) {
      const now = nowMs();
      if (this.rlsCooldowns.answered(token, decodeRateLimitResponse(grpcMessage(size)), now)) {
        this.count(R_OK);
        this.answeredAgain();
      } else {
        this.rlsCooldowns.backOff(now + this.cfg!.retryMs);
        this.count(R_FAILED);
        this.warn(now, "unreadable answer from the rate limit service (cooldown sync; traffic goes on, learned cooldowns run out)", false);
      }
      return true;
    }
    if (!this.calls.has(token)) return false;
    this.answered(token, nowMs(), this.engine.answer(size));
    return true;
  }

  /** proxy_on_grpc_close: the call failed (timeout, unreachable, service error). */
  close(token: u32, status: u32): bool {
    if (this.rlsCheck.owns(token)) {
      const now = nowMs();
      this.rlsCheck.failed(now, this.cfg!.retryMs);
      this.count(R_FAILED);
      this.warn(now, "rate limit service call failed: gRPC status " + status.toString() + " " + grpcStatusMessage() +
        " (version check; cooldowns are not shared until it answers)", false);
      return true;
    }
    if (this.rlsCooldowns.owns(token)) {
      const now = nowMs();
      this.cooldownCallFailed(token, now, "rate limit service call failed: gRPC status " + status.toString() + " " + grpcStatusMessage());
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
