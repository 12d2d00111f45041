// Cluster-wide cooldowns (issue 11, Redis engine): a provider that one replica put in cooldown (a
// 429 with its retry-after, an insufficient_quota, a rejected key, an ejection after failures) is
// skipped by every replica until then. Each tick, one worker per process (a lease in shared data)
// looks at every provider's Redis key (plugin/cluster/limiter.ts sync), publishing a cooldown of its
// process that is newer than what it last published or learned, and learning one another replica
// published; leases for a provider (per request mode: every admission) learn it too. Redis keeps
// the deadline on its own clock (the script stores its end, answers the ms left), so replicas'
// clocks do not matter.
//
// Staleness: a cooldown reaches Redis at its process's next tick and the other processes at
// theirs — at most two ticks (≤ 1 s each) plus two calls after the 429; sooner for a replica that
// leases for that provider meanwhile. Not shared: a model's cooldown (Azure per-deployment and
// OpenAI per-model 429s, plugin/capacity/model_records.ts), a key set aside among several, and health
// checks (each replica probes for itself).

import { ClusterLimitsConfig } from "../../config/model";
import { ProviderState, Reason, reasonName } from "../../health/state";
import { acquireLease } from "../../host/lease";
import { enabled, Level, log } from "../../host/log";
import { randomU64 } from "../../host/wasi";
import { StateOp } from "../../lib/state_op";
import { ProviderSlot } from "../../provider/registry";
import { EngineCall } from "./engine";
import { loadStates, updateProvider } from "../views";

/** Deadlines closer than this are the same one (clocks and call times differ by a few ms). */
const SAME_MS: i64 = 100;

/** The reasons a cooldown is shared for (a learned one, Reason.Remote, is not: it is someone else's). */
export function sharedReason(r: Reason): bool {
  return r == Reason.RateLimited || r == Reason.Quota || r == Reason.Failures || r == Reason.CredentialBad;
}

/** Applies a cooldown another replica published (never shortens one of ours). */
class RemoteCooldownOp extends StateOp<ProviderState> {
  applied: bool = false;
  constructor(public until: i64, public reason: Reason) { super(); }
  apply(s: ProviderState): bool {
    if (this.until <= s.cooldownUntilMs + SAME_MS) return false;
    s.cooldownUntilMs = this.until;
    s.reason = this.reason;
    this.applied = true;
    return true;
  }
}

export class ClusterCooldowns {
  private on: bool = false;
  private owner: u64 = 0;
  private leaseKey: string = "";
  /** Provider name → its one slot (providers whose keys each have their own quota are not shared). */
  private slots: Map<string, ProviderSlot> = new Map();
  /** Provider name → the latest cooldown end this VM published or learned. */
  private known: Map<string, i64> = new Map();
  private degradedUntilMs: i64 = 0;

  configure(c: ClusterLimitsConfig, providers: ProviderSlot[]): void {
    this.on = c.redis !== null && c.shareCooldowns;
    this.slots = new Map();
    this.known = new Map();
    if (this.owner == 0) this.owner = randomU64();
    this.leaseKey = "ai-failover/cluster/" + c.domain + "/cooldown-sync";
    for (let i = 0; i < providers.length; i++) {
      const s = unchecked(providers[i]);
      if (s.credential < 0) this.slots.set(s.config.name, s);
    }
  }

  /** Does this VM look at the providers' keys this tick (one worker per process)? */
  holds(now: i64): bool {
    return this.on && acquireLease(this.leaseKey, this.owner, now, 3000);
  }

  /** Redis failed: providers without a cluster limit (whose pools are not degraded) wait too. */
  failed(untilMs: i64): void {
    if (untilMs > this.degradedUntilMs) this.degradedUntilMs = untilMs;
  }

  degraded(now: i64): bool {
    return now < this.degradedUntilMs;
  }

  /** Fills `call` with the provider's cooldown if this process has one newer than the last shared. */
  toPublish(slot: ProviderSlot, now: i64, call: EngineCall): void {
    if (!this.on || slot.credential >= 0) return;
    const name = slot.config.name;
    const s = unchecked(loadStates([slot])[0]);
    const until = s.cooldownUntilMs;
    if (until <= now + SAME_MS || !sharedReason(s.reason)) return;
    const known = this.known.has(name) ? this.known.get(name) : 0;
    if (until <= known + SAME_MS) return;
    call.publishMs = until - now;
    call.publishReason = <i32>s.reason;
    this.known.set(name, until);
  }

  /** A provider's key says it cools down for `ms` more (published by some replica). */
  learned(name: string, now: i64, ms: i64, reason: i32): void {
    if (!this.on || !this.slots.has(name)) return;
    const until = now + ms;
    const known = this.known.has(name) ? this.known.get(name) : 0;
    if (until <= known + SAME_MS) return;
    this.known.set(name, until);
    const r: Reason = sharedReason(<Reason>reason) ? <Reason>reason : Reason.RateLimited;
    const op = new RemoteCooldownOp(until, r);
    updateProvider(this.slots.get(name), op);
    if (op.applied && enabled(Level.Info)) {
      log(Level.Info, "ai-failover: provider " + name + " cooling down for " + ms.toString() + " ms (" + reasonName(r) +
        "), published by another replica");
    }
  }
}
