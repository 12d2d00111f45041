// Every provider the configuration names (the global list and every `_rules_` entry), once per
// name, built at configure time: where its state lives in shared data. Views refer to these slots
// by index. Pure.
//
// The key holds the record's fingerprint: a changed record (new key, host, deployments…) has a
// state of its own, so while an old configuration still runs next to the new one (a reload
// drains the old plugin instance) neither resets the other's state; an unchanged record keeps
// its state across reloads.

import { Config, ProviderConfig } from "../config/model";
import { fnv1a32, hex } from "../lib/hash";

const STATE_PREFIX = "ai-failover/provider/";

export class ProviderSlot {
  /** Shared-data key of the provider's state. */
  readonly stateKey: string;
  /** Hash of the record's fingerprint (a changed record starts from a fresh state). */
  readonly stateFingerprint: u32;

  /**
   * `credential` ≥ 0: the slot of one credential of a provider whose credentials each have their
   * own quota (auth.quota perCredential), with a state of its own. -1: the provider's one slot,
   * its credentials used in order.
   */
  constructor(public readonly config: ProviderConfig, public readonly credential: i32 = -1) {
    const fp = fnv1a32(config.fingerprint);
    this.stateKey = STATE_PREFIX + config.name + "/" + hex(<u64>fp, 8) + (credential >= 0 ? "/c" + credential.toString() : "");
    this.stateFingerprint = fp;
  }

  /** For messages: the provider, and its credential when the slot is one credential's. */
  get label(): string {
    return this.credential >= 0 ? this.config.name + " (credentials[" + this.credential.toString() + "])" : this.config.name;
  }
}

export class ProviderRegistry {
  /** One slot per provider name, in first-seen order (global providers first). */
  readonly all: ProviderSlot[] = [];
  /** Provider name → its slot (1024 rules × 64 providers are looked up at configure time). */
  private byName: Map<string, ProviderSlot> = new Map<string, ProviderSlot>();

  /**
   * The slots of `cfg.providers`, in its order (registering names not seen before): one per
   * provider, or one per credential of a provider with auth.quota perCredential.
   */
  slotsOf(cfg: Config): ProviderSlot[] {
    const out = new Array<ProviderSlot>();
    for (let i = 0; i < cfg.providers.length; i++) {
      const p = unchecked(cfg.providers[i]);
      if (p.quotaPerCredential && p.credentials.length > 1) {
        for (let k = 0; k < p.credentials.length; k++) out.push(this.slot(p, k));
      } else {
        out.push(this.slot(p, -1));
      }
    }
    return out;
  }

  private slot(p: ProviderConfig, credential: i32): ProviderSlot {
    const key = credential >= 0 ? p.name + "\u0000" + credential.toString() : p.name;
    if (this.byName.has(key)) return this.byName.get(key);
    const s = new ProviderSlot(p, credential);
    this.all.push(s);
    this.byName.set(key, s);
    return s;
  }
}
