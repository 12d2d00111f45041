// Cluster-wide cooldowns through the rate limit service (issue 11, every build): a provider that one
// replica put in cooldown (a 429 with its retry-after, an insufficient_quota, a rejected key, an
// ejection after failures — the reasons plugin/cluster/cooldowns.ts shares through Redis) is
// skipped by every replica until its deadline, give or take a tick or two.
//
// The service has no deadline to store; what it has is counters in whole-unit windows
// (envoyproxy/ratelimit src/limiter/cache_key.go: key <domain>_<key>_<value>_<floor(now/unit)*unit>,
// src/redis/fixed_cache_impl.go: INCRBY key hits, then src/limiter/base_limiter.go
// GetResponseDescriptorStatus: OVER_LIMIT iff the count after the increment > requests_per_unit).
// So each provider has a descriptor (cooldown, <provider>) with a limit of 0 per SECOND, sent with
// the descriptor itself (RateLimitOverride; src/config/config_impl.go GetLimit uses it whenever the
// domain is known, so the service's YAML needs no entry):
//   - a replica whose provider cools down for one of those reasons hits it (hits_addend 1) on every
//     tick while the cooldown lasts: its count for the current second is then > 0;
//   - every replica checks the others in one ShouldRateLimit per tick (hits_addend 0, one
//     descriptor per provider, a status each): OVER_LIMIT iff someone hit it in this second
//     (0 + 0 > 0 is false: a check alone never trips it). For each OVER_LIMIT it holds the provider
//     for three ticks (Reason.Remote), renewed while it stays OVER_LIMIT.
// A count lives for its second only, so a check early in a second can miss a hit made later in
// that second; with ticks of 500 ms (root.ts) at least one of every two checks sees a publisher
// hitting every tick (its first hit of a second comes within 500 ms of the second's start), and the
// three-tick hold bridges the misses. Publishing and checking are separate calls: with
// STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT and the local over-limit cache, a request holding an
// over-limit key increments none of its keys (fixed_cache_impl.go getHitsAddend).
//
// Staleness: a cooldown is published at its process's next tick (≤ 500 ms) and applied by every
// other replica at one of its next two checks (≤ 1 s): ≤ 1.5 s plus two calls after the 429. It
// ends ≤ 2.5 s after the publisher's deadline (its last hit counts until the end of its second,
// then the hold). One worker per process does this (a lease in shared data). Learned cooldowns are
// never published again (Reason.Remote), so two replicas cannot keep each other cooling. Failed
// calls never block traffic: a learned cooldown simply runs out.

import { ClusterLimitsConfig } from "../../config/model";
import { encodeRateLimitRequest, RLS_UNIT_SECOND, RlsDescriptor, RlsResponse } from "../../cluster/rls";
import { ProviderState, Reason } from "../../health/state";
import { acquireLease } from "../../host/lease";
import { enabled, Level, log } from "../../host/log";
import { randomU64 } from "../../host/wasi";
import { StateOp } from "../../lib/state_op";
import { ProviderSlot } from "../../provider/registry";
import { sharedReason } from "./cooldowns";
import { loadStates, updateProvider } from "../views";

/** The descriptor key (value: the provider's name), next to `provider` and `consumer`. */
export const COOLDOWN_KEY = "cooldown";
/** The tick while cooldowns are shared through the rate limit service (see above: two checks per second). */
export const RLS_COOLDOWN_TICK_MS: i64 = 500;
/** Ticks a learned cooldown is held after a check that saw it. */
const HOLD_TICKS: i64 = 3;

/** Are cooldowns shared through the rate limit service under this configuration? */
export function sharesThroughService(c: ClusterLimitsConfig | null): bool {
  return c !== null && c.redis === null && c.shareCooldowns;
}

/** Holds a provider for another replica's cooldown (never shortens a longer one of ours). */
class HoldOp extends StateOp<ProviderState> {
  applied: bool = false;
  /** It was not already held for another replica (for the log). */
  fresh: bool = false;
  constructor(public now: i64, public until: i64) { super(); }
  apply(s: ProviderState): bool {
    if (this.until <= s.cooldownUntilMs) return false;
    this.fresh = s.reason != Reason.Remote || s.cooldownUntilMs <= this.now;
    s.cooldownUntilMs = this.until;
    s.reason = Reason.Remote;
    this.applied = true;
    return true;
  }
}

/** One call in flight: the providers of its descriptors, in order. */
export class CooldownCall {
  constructor(public publish: bool, public names: string[], public sentMs: i64) {}
}

export class RlsCooldowns {
  private on: bool = false;
  private owner: u64 = 0;
  private leaseKey: string = "";
  private domain: string = "";
  private holdMs: i64 = HOLD_TICKS * RLS_COOLDOWN_TICK_MS;
  /** Every provider with one state (providers whose keys each have their own quota are not shared). */
  private slots: ProviderSlot[] = [];
  private byName: Map<string, ProviderSlot> = new Map();
  private calls: Map<u32, CooldownCall> = new Map();
  private degradedUntilMs: i64 = 0;
  private warnedNoLimit: bool = false;
  /** Provider name → when this VM last sent a hit for it (its own hit must not read as someone else's). */
  private publishedMs: Map<string, i64> = new Map();
  private timeoutMs: i64 = 100;

  configure(c: ClusterLimitsConfig, providers: ProviderSlot[]): void {
    this.on = sharesThroughService(c);
    this.slots = [];
    this.byName = new Map();
    // Calls in flight stay known: their answers are consumed (not logged as unknown) or expire.
    this.degradedUntilMs = 0;
    this.warnedNoLimit = false;
    this.publishedMs = new Map();
    this.timeoutMs = c.timeoutMs;
    this.domain = c.domain;
    if (this.owner == 0) this.owner = randomU64();
    this.leaseKey = "ai-failover/cluster/" + c.domain + "/rls-cooldown-sync";
    for (let i = 0; i < providers.length; i++) {
      const s = unchecked(providers[i]);
      if (s.credential >= 0 || this.byName.has(s.config.name)) continue;
      this.slots.push(s);
      this.byName.set(s.config.name, s);
    }
  }

  /** Does this VM sync this tick (one worker per process, none while a call is out or after a failure)? */
  due(now: i64, tickMs: i64): bool {
    if (!this.on || this.slots.length == 0 || this.calls.size > 0 || now < this.degradedUntilMs) return false;
    this.holdMs = HOLD_TICKS * tickMs;
    return acquireLease(this.leaseKey, this.owner, now, HOLD_TICKS * tickMs);
  }

  /**
   * This tick's providers: `publish` those this process cools down for a shared reason of its own,
   * `check` the others.
   */
  split(now: i64, publish: string[], check: string[]): void {
    const states = loadStates(this.slots);
    for (let i = 0; i < this.slots.length; i++) {
      const s = unchecked(states[i]);
      const name = unchecked(this.slots[i]).config.name;
      if (s.cooldownUntilMs > now && sharedReason(s.reason)) publish.push(name);
      else check.push(name);
    }
  }

  /** The ShouldRateLimit of `names`' cooldown descriptors, each adding `hits`. */
  request(names: string[], hits: u64): Uint8Array {
    const ds: RlsDescriptor[] = [];
    for (let i = 0; i < names.length; i++) ds.push(new RlsDescriptor(hits).entry(COOLDOWN_KEY, unchecked(names[i])).limit(0, RLS_UNIT_SECOND));
    return encodeRateLimitRequest(this.domain, ds);
  }

  sent(token: u32, call: CooldownCall): void {
    this.calls.set(token, call);
    if (call.publish) for (let i = 0; i < call.names.length; i++) this.publishedMs.set(unchecked(call.names[i]), call.sentMs);
  }

  /**
   * Might a check sent at `sentMs` count this VM's own last hit on `name`? That hit counts until
   * the end of the service's second it landed in: at most the call's timeout plus a second after
   * it was sent. (Another replica publishing in that second is then seen a check later.)
   */
  private echo(name: string, sentMs: i64): bool {
    return this.publishedMs.has(name) && sentMs < this.publishedMs.get(name) + 1000 + this.timeoutMs;
  }

  owns(token: u32): bool {
    return this.calls.has(token);
  }

  /** Calls out longer than `limitMs`. */
  late(now: i64, limitMs: i64): u32[] {
    const out: u32[] = [];
    const tokens = this.calls.keys();
    for (let i = 0; i < tokens.length; i++) {
      const t = unchecked(tokens[i]);
      if (now - this.calls.get(t).sentMs > limitMs) out.push(t);
    }
    return out;
  }

  /** A call failed: no sync until `untilMs` (learned cooldowns run out meanwhile; nothing waits). */
  backOff(untilMs: i64): void {
    if (untilMs > this.degradedUntilMs) this.degradedUntilMs = untilMs;
  }

  /** Forgets a call that failed (a late answer is then ignored as unknown). */
  drop(token: u32): void {
    if (this.calls.has(token)) this.calls.delete(token);
  }

  /** The answer to `token`: holds the checked providers someone publishes. False when unreadable. */
  answered(token: u32, res: RlsResponse, now: i64): bool {
    const call = this.calls.get(token);
    this.calls.delete(token);
    if (!res.ok || res.statuses.length != call.names.length) return false;
    for (let i = 0; i < call.names.length; i++) {
      const st = unchecked(res.statuses[i]);
      // No current_limit: the service ignored the descriptor's limit (and its YAML has none).
      if (!st.limited) {
        this.noLimit();
        continue;
      }
      if (call.publish || st.code != 2) continue;
      const name = unchecked(call.names[i]);
      if (!this.echo(name, call.sentMs)) this.hold(name, now);
    }
    return true;
  }

  private hold(name: string, now: i64): void {
    if (!this.byName.has(name)) return;
    const op = new HoldOp(now, now + this.holdMs);
    updateProvider(this.byName.get(name), op);
    if (op.applied && op.fresh && enabled(Level.Info)) {
      log(Level.Info, "ai-failover: provider " + name + " cooling down (cluster_cooldown), published by another replica through the rate limit " +
        "service; held " + this.holdMs.toString() + " ms past each check that sees it");
    }
  }

  private noLimit(): void {
    if (this.warnedNoLimit) return;
    this.warnedNoLimit = true;
    if (enabled(Level.Warn)) {
      log(Level.Warn, "ai-failover: cluster limits: the rate limit service answered the cooldown descriptors without a limit (it ignores " +
        "the descriptor's own limit): cooldowns are not shared; add { key: " + COOLDOWN_KEY + ", rate_limit: { unit: second, requests_per_unit: 0 } } " +
        "to its domain " + this.domain + ", or set clusterLimits.shareCooldowns false");
    }
  }
}
