// Is the rate limit service the one the filter assumes? Two facts of envoyproxy/ratelimit decide
// whether its answers mean what plugin/cluster/limiter.ts and plugin/cluster/rls_cooldowns.ts take them to:
//
//   - A descriptor's own hits_addend (RateLimitDescriptor.hits_addend, a UInt64Value: 0 = check
//     only) is honoured only since commit 38500fe (2024-12-27, #802, src/utils/utilities.go
//     GetHitsAddends). Before it the service counted max(1, request.hits_addend) for every
//     descriptor (src/redis/fixed_cache_impl.go DoLimit): every check-only call counts 1, a lease
//     counts 1 instead of its tokens, and a cooldown descriptor (limit 0 per second) is pushed over
//     its limit by every check — with cooldown sharing, every provider is held in cooldown on every
//     replica: a total outage.
//   - A domain the service's configuration lacks limits nothing (src/config/config_impl.go GetLimit
//     returns nil for an unknown domain, before it even looks at a descriptor's own limit): every
//     cluster-wide limit is silently off.
//
// So before cooldowns are shared, one worker per process asks once: a check-only call (hits 0) on
// a fresh descriptor carrying its own limit of 0 per second. A current service in a known domain
// answers OK with that limit; an older one counts the check (1 > 0: OVER_LIMIT); in an unknown
// domain no limit comes back. The verdict goes to shared data for every worker; an old service
// gets one error naming the minimum version and cooldown sharing and token leases are turned off
// (each replica then limits itself to its configured limits / replicas, as when the service is
// unreachable and failureMode is "open"); an unknown domain gets one warning naming the domain.
// The check is made again every RECHECK_MS (an upgraded service is found without a restart) and,
// after a failed call, after clusterLimits.retryAfter.

import { ClusterLimitsConfig } from "../../config/model";
import { encodeRateLimitRequest, RLS_UNIT_SECOND, RlsDescriptor, RlsResponse } from "../../cluster/rls";
import { CREATE_CAS, getShared, Result, setShared } from "../../host/calls";
import { acquireLease } from "../../host/lease";
import { enabled, Level, log } from "../../host/log";
import { randomU64 } from "../../host/wasi";
import { hex } from "../../lib/hash";

export const enum RlsVerdict {
  /** Not checked yet (or the service could not be asked). */
  Unknown = 0,
  /** Per-descriptor hits_addend honoured, the domain known. */
  Current = 1,
  /** A check-only call was counted: envoyproxy/ratelimit older than 38500fe (2024-12-27). */
  Legacy = 2,
  /** No limit came back for a descriptor carrying its own: the service does not know the domain. */
  NoLimit = 3,
}

/** The descriptor key of the check (its value is fresh each time). */
export const CHECK_KEY = "ai-failover-version-check";
/** The oldest envoyproxy/ratelimit the filter's cooldown sharing and token leases work with. */
export const RLS_MINIMUM = "envoyproxy/ratelimit built from commit 38500fe (2024-12-27, \"per descriptor hits addend support\", #802) or later";
/** How long a verdict stands before it is checked again. */
export const RECHECK_MS: i64 = 600_000;

const RECORD_BYTES: i32 = 16;

export class RlsCheck {
  private on: bool = false;
  private key: string = "";
  private leaseKey: string = "";
  private owner: u64 = 0;
  private domain: string = "";
  private cluster: string = "";
  /** The call in flight (0: none), and the key it answers for (a reload may change the key meanwhile). */
  private token: u32 = 0;
  private tokenKey: string = "";
  private sentMs: i64 = 0;
  private retryAtMs: i64 = 0;
  private cachedCas: u32 = 0;
  private cachedVerdict: RlsVerdict = RlsVerdict.Unknown;
  private cachedAtMs: i64 = 0;

  configure(c: ClusterLimitsConfig): void {
    this.on = c.redis === null;
    this.domain = c.domain;
    this.cluster = c.cluster;
    this.key = "ai-failover/cluster/" + c.domain + "/rls-check/" + c.cluster;
    this.leaseKey = this.key + "/lease";
    if (this.owner == 0) this.owner = randomU64();
    this.retryAtMs = 0;
    this.cachedCas = 0;
    this.cachedVerdict = RlsVerdict.Unknown;
    this.cachedAtMs = 0;
  }

  /** The verdict in shared data (every worker's), read again only when it changed. */
  verdict(): RlsVerdict {
    if (!this.on) return RlsVerdict.Unknown;
    this.read();
    return this.cachedVerdict;
  }

  private read(): void {
    const v = getShared(this.key);
    if (v.result != Result.Ok || v.value.byteLength != RECORD_BYTES) {
      this.cachedCas = 0;
      this.cachedVerdict = RlsVerdict.Unknown;
      this.cachedAtMs = 0;
      return;
    }
    if (v.cas != 0 && v.cas == this.cachedCas) return;
    const p = changetype<usize>(v.value);
    const verdict = load<u32>(p);
    this.cachedVerdict = verdict <= 3 ? <RlsVerdict>verdict : RlsVerdict.Unknown;
    this.cachedAtMs = load<i64>(p, 8);
    this.cachedCas = v.cas;
  }

  /** Does this VM check now (one worker per process, none in flight, the verdict unknown or old)? */
  due(now: i64, tickMs: i64): bool {
    if (!this.on || this.token != 0 || now < this.retryAtMs) return false;
    this.read();
    if (this.cachedVerdict != RlsVerdict.Unknown && now - this.cachedAtMs < RECHECK_MS) return false;
    return acquireLease(this.leaseKey, this.owner, now, tickMs * 3);
  }

  /** The check: one descriptor never used before, its own limit 0 per second, hits_addend 0. */
  request(): Uint8Array {
    const d = new RlsDescriptor(0).entry(CHECK_KEY, hex(randomU64(), 16)).limit(0, RLS_UNIT_SECOND);
    return encodeRateLimitRequest(this.domain, [d]);
  }

  sent(token: u32, now: i64): void {
    this.token = token;
    this.tokenKey = this.key;
    this.sentMs = now;
  }

  owns(token: u32): bool {
    return token != 0 && token == this.token;
  }

  /** Older than `limitMs`: the call is failed here, whatever the host does. */
  late(now: i64, limitMs: i64): bool {
    return this.token != 0 && now - this.sentMs > limitMs;
  }

  /** The call could not be made or failed: asked again after `retryMs`. */
  failed(now: i64, retryMs: i64): void {
    this.token = 0;
    this.retryAtMs = now + retryMs;
  }

  /** The answer to the check. False when unreadable (then asked again after `retryMs`). */
  answered(res: RlsResponse, now: i64, retryMs: i64): bool {
    const forKey = this.tokenKey;
    this.token = 0;
    if (!res.ok || res.statuses.length != 1) {
      this.retryAtMs = now + retryMs;
      return false;
    }
    // Answered for a configuration replaced meanwhile: ask again under the current one.
    if (forKey != this.key) return true;
    const st = unchecked(res.statuses[0]);
    const verdict = !st.limited ? RlsVerdict.NoLimit : st.code == 2 ? RlsVerdict.Legacy : RlsVerdict.Current;
    this.read();
    const before = this.cachedVerdict;
    const buf = new ArrayBuffer(RECORD_BYTES);
    store<u32>(changetype<usize>(buf), <u32>verdict);
    store<i64>(changetype<usize>(buf), now, 8);
    const w = setShared(this.key, buf, this.cachedCas != 0 ? this.cachedCas : CREATE_CAS);
    // Another worker wrote first (a lease moved): its verdict stands, and it said so.
    if (w != Result.Ok) return true;
    this.cachedCas = 0;
    if (verdict != before) this.announce(verdict, before);
    return true;
  }

  private announce(verdict: RlsVerdict, before: RlsVerdict): void {
    if (verdict == RlsVerdict.Legacy) {
      log(Level.Error, "ai-failover: cluster limits: the rate limit service (cluster " + this.cluster + ") counted a check-only call " +
        "(a descriptor's own hits_addend 0) as a hit: it is envoyproxy/ratelimit older than commit 38500fe (2024-12-27), which " +
        "ignores a descriptor's own hits_addend. There every check would hold every provider in cooldown on every replica and a " +
        "lease would count 1 instead of its tokens, so cooldown sharing and token leases are off: each replica limits itself to " +
        "its configured limits / replicas. The filter needs " + RLS_MINIMUM);
    } else if (verdict == RlsVerdict.NoLimit) {
      log(Level.Warn, "ai-failover: cluster limits: the rate limit service (cluster " + this.cluster + ") does not know the domain \"" +
        this.domain + "\": it applied no limit even to a descriptor carrying its own (envoyproxy/ratelimit config_impl.go GetLimit " +
        "returns none in an unknown domain), so every cluster-wide limit is off and cooldowns are not shared. Add the domain \"" +
        this.domain + "\" to the service's configuration (or set clusterLimits.rateLimitService.domain to one it has)");
    } else if (verdict == RlsVerdict.Current && before != RlsVerdict.Unknown && enabled(Level.Info)) {
      log(Level.Info, "ai-failover: cluster limits: the rate limit service now honours a descriptor's own hits_addend in domain \"" +
        this.domain + "\": cooldown sharing and token leases are on");
    }
  }
}
