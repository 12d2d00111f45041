// The configurations a request can run under: the global one, and one per Higress `_rules_`
// entry (global ⊕ overrides), each with the registry slots of its providers, and access to
// those providers' shared state.

import { Config } from "../config/model";
import { ProviderState } from "../health/state";
import { StateOp } from "../lib/state_op";
import { loadState, updateState } from "../host/store";
import { ProviderRegistry, ProviderSlot } from "../provider/registry";

/** Current state of each slot (one shared-data read each). */
export function loadStates(slots: ProviderSlot[]): ProviderState[] {
  const n = slots.length;
  const out = new Array<ProviderState>(n);
  for (let i = 0; i < n; i++) {
    const s = unchecked(slots[i]);
    unchecked((out[i] = loadState<ProviderState>(s.stateKey, s.stateFingerprint)));
  }
  return out;
}

export function updateProvider(slot: ProviderSlot, op: StateOp<ProviderState>): ProviderState | null {
  return updateState<ProviderState>(slot.stateKey, slot.stateFingerprint, op);
}

export class ConfigView {
  /** `slots[i]` is `config.providers[i]`'s. */
  readonly slots: ProviderSlot[];
  matchRoutes: string[] = [];
  matchDomains: string[] = [];

  constructor(public readonly config: Config, registry: ProviderRegistry) {
    this.slots = registry.slotsOf(config);
  }

  /** Does this rule apply to a request on `route` for `authority`? */
  matches(route: string, authority: string): bool {
    for (let i = 0; i < this.matchRoutes.length; i++) if (unchecked(this.matchRoutes[i]) == route) return true;
    // The host name as DNS means it: case-insensitive, without a port, and a fully qualified
    // "name." is "name" (else "a.team.example." would skip the rule for "*.team.example").
    let host = authority.toLowerCase();
    const colon = host.lastIndexOf(":");
    if (colon > 0 && !host.endsWith("]")) host = host.substring(0, colon);
    if (host.length > 1 && host.endsWith(".")) host = host.substring(0, host.length - 1);
    for (let i = 0; i < this.matchDomains.length; i++) {
      const d = unchecked(this.matchDomains[i]).toLowerCase();
      if (d.startsWith("*.")) {
        if (host.endsWith(d.substring(1)) && host.length > d.length - 1) return true;
      } else if (d == host) return true;
    }
    return false;
  }
}

/** Global view first, then one per `_rules_` entry. */
export function buildViews(cfg: Config, registry: ProviderRegistry): ConfigView[] {
  const views: ConfigView[] = [new ConfigView(cfg, registry)];
  for (let r = 0; r < cfg.rules.length; r++) {
    const rule = unchecked(cfg.rules[r]);
    const rc = rule.config;
    if (rc === null) continue;
    const v = new ConfigView(rc, registry);
    v.matchRoutes = rule.matchRoutes;
    v.matchDomains = rule.matchDomains;
    views.push(v);
  }
  return views;
}

/** The view a request runs under: the first matching rule, else the global configuration. */
export function viewFor(views: ConfigView[], route: string, authority: string): ConfigView {
  for (let i = 1; i < views.length; i++) {
    const v = unchecked(views[i]);
    if (v.matches(route, authority)) return v;
  }
  return unchecked(views[0]);
}
