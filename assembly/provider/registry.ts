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

  constructor(public readonly config: ProviderConfig) {
    const fp = fnv1a32(config.fingerprint);
    this.stateKey = STATE_PREFIX + config.name + "/" + hex(<u64>fp, 8);
    this.stateFingerprint = fp;
  }
}

export class ProviderRegistry {
  /** One slot per provider name, in first-seen order (global providers first). */
  readonly all: ProviderSlot[] = [];
  /** Provider name → its slot (1024 rules × 64 providers are looked up at configure time). */
  private byName: Map<string, ProviderSlot> = new Map<string, ProviderSlot>();

  /** The slots of `cfg.providers`, in its order (registering names not seen before). */
  slotsOf(cfg: Config): ProviderSlot[] {
    const out = new Array<ProviderSlot>(cfg.providers.length);
    for (let i = 0; i < cfg.providers.length; i++) unchecked((out[i] = this.slot(unchecked(cfg.providers[i]))));
    return out;
  }

  private slot(p: ProviderConfig): ProviderSlot {
    if (this.byName.has(p.name)) return this.byName.get(p.name);
    const s = new ProviderSlot(p);
    this.all.push(s);
    this.byName.set(p.name, s);
    return s;
  }
}
