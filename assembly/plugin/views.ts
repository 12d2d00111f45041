// The configurations a request can run under: the global one, and one per Higress `_rules_`
// entry (global ⊕ overrides), each with the registry slots of its providers, and access to
// those providers' shared state.

import { Config, ProviderConfig, RuleMatch } from "../config/model";
import { ProviderState } from "../health/state";
import { StateOp } from "../lib/state_op";
import { getShared, SharedValue } from "../host/calls";
import { stateOf, updateState } from "../host/store";
import { ProviderRegistry, ProviderSlot } from "../provider/registry";

/**
 * Current state of each slot (one shared-data read each). `reads`, when given, receives each
 * slot's read (value and cas: a reservation's first CAS round reuses it).
 */
export function loadStates(slots: ProviderSlot[], reads: SharedValue[] | null = null): ProviderState[] {
  const n = slots.length;
  const out = new Array<ProviderState>(n);
  if (reads !== null) reads.length = n;
  for (let i = 0; i < n; i++) {
    const s = unchecked(slots[i]);
    const v = getShared(s.stateKey);
    if (reads !== null) unchecked((reads[i] = v));
    unchecked((out[i] = stateOf<ProviderState>(v, s.stateFingerprint)));
  }
  return out;
}

export function updateProvider(slot: ProviderSlot, op: StateOp<ProviderState>): ProviderState | null {
  return updateState<ProviderState>(slot.stateKey, slot.stateFingerprint, op);
}

export class ConfigView {
  /**
   * The candidates a request chooses among: one per provider of `config.providers`, in order,
   * except that a provider whose credentials each have their own quota has one per credential.
   * `slots[i]` is candidate i's state, `providers[i]` its provider's record.
   */
  readonly slots: ProviderSlot[];
  readonly providers: ProviderConfig[];
  match: RuleMatch = RuleMatch.Route;
  matchRoutes: string[] = [];
  matchDomains: string[] = [];
  matchServices: string[] = [];
  matchRoutePrefixes: string[] = [];
  /** This view's place in the root's list (0: the global configuration). */
  ordinal: i32 = 0;
  /** Every model name the configuration knows (deployment keys and models), numbered from 0. */
  readonly modelCodes: Map<string, i32> = new Map();

  constructor(public readonly config: Config, registry: ProviderRegistry) {
    this.slots = registry.slotsOf(config);
    // This view's own records (priority, weight and limits may differ between rules; the slot's is the first view's).
    this.providers = [];
    const providers = config.providers;
    for (let i = 0; i < providers.length; i++) {
      const p = unchecked(providers[i]);
      const n = p.quotaPerCredential && p.credentials.length > 1 ? p.credentials.length : 1;
      for (let k = 0; k < n; k++) this.providers.push(p);
    }
    for (let i = 0; i < providers.length; i++) {
      const p = unchecked(providers[i]);
      for (let k = 0; k < p.deploymentKeys.length; k++) this.addModel(unchecked(p.deploymentKeys[k]));
      for (let k = 0; k < p.models.length; k++) this.addModel(unchecked(p.models[k]));
    }
  }

  private addModel(m: string): void {
    if (!this.modelCodes.has(m)) this.modelCodes.set(m, this.modelCodes.size);
  }

  /** A model name's number among the configured ones (isConfiguredModel as a lookup), -1 when unknown. */
  modelCode(model: string): i32 {
    return this.modelCodes.has(model) ? this.modelCodes.get(model) : -1;
  }

  /**
   * Does this rule apply to a request on `route` for `authority`, routed to `cluster`? One
   * category per rule, as Higress's plugins match (wasm-go pkg/matcher/rule_matcher.go).
   */
  matches(route: string, authority: string, cluster: string): bool {
    switch (this.match) {
      case RuleMatch.Route: return this.matchRoutes.includes(route);
      case RuleMatch.RouteAndService: return this.matchRoutes.includes(route) && serviceMatches(this.matchServices, cluster);
      case RuleMatch.Domain: return domainMatches(this.matchDomains, authority);
      case RuleMatch.Service: return serviceMatches(this.matchServices, cluster);
      default: {
        for (let i = 0; i < this.matchRoutePrefixes.length; i++) if (route.startsWith(unchecked(this.matchRoutePrefixes[i]))) return true;
        return false;
      }
    }
  }
}

function domainMatches(domains: string[], authority: string): bool {
  // The host name as DNS means it: case-insensitive, without a port, and a fully qualified
  // "name." is "name" (else "a.team.example." would skip the rule for "*.team.example").
  let host = authority.toLowerCase();
  const colon = host.lastIndexOf(":");
  if (colon > 0 && !host.endsWith("]")) host = host.substring(0, colon);
  if (host.length > 1 && host.endsWith(".")) host = host.substring(0, host.length - 1);
  for (let i = 0; i < domains.length; i++) {
    const d = unchecked(domains[i]).toLowerCase();
    if (d.startsWith("*.")) {
      if (host.endsWith(d.substring(1)) && host.length > d.length - 1) return true;
    } else if (d == host) return true;
  }
  return false;
}

/**
 * A cluster "outbound|<port>|<subset>|<fqdn>" (the names Higress and Istio give service clusters)
 * against "fqdn" or "fqdn:port" entries; any other cluster name matches none.
 */
function serviceMatches(services: string[], cluster: string): bool {
  const parts = cluster.split("|");
  if (parts.length != 4) return false;
  const port = unchecked(parts[1]);
  const fqdn = unchecked(parts[3]);
  for (let i = 0; i < services.length; i++) {
    const s = unchecked(services[i]);
    if (s == fqdn) return true;
    const colon = s.lastIndexOf(":");
    if (colon >= 0 && s.substring(0, colon) == fqdn && s.substring(colon + 1) == port) return true;
  }
  return false;
}

/** Global view first, then one per `_rules_` entry. */
export function buildViews(cfg: Config, registry: ProviderRegistry): ConfigView[] {
  const views: ConfigView[] = [new ConfigView(cfg, registry)];
  for (let r = 0; r < cfg.rules.length; r++) {
    const rule = unchecked(cfg.rules[r]);
    const rc = rule.config;
    if (rc === null) continue;
    const v = new ConfigView(rc, registry);
    v.ordinal = views.length;
    v.match = rule.match;
    v.matchRoutes = rule.matchRoutes;
    v.matchDomains = rule.matchDomains;
    v.matchServices = rule.matchServices;
    v.matchRoutePrefixes = rule.matchRoutePrefixes;
    views.push(v);
  }
  return views;
}

/** Does any rule match on the cluster (then the request's cluster name is read)? */
export function needsCluster(views: ConfigView[]): bool {
  for (let i = 1; i < views.length; i++) if (unchecked(views[i]).matchServices.length > 0) return true;
  return false;
}

/** The view a request runs under: the first matching rule, else the global configuration. */
export function viewFor(views: ConfigView[], route: string, authority: string, cluster: string): ConfigView {
  for (let i = 1; i < views.length; i++) {
    const v = unchecked(views[i]);
    if (v.matches(route, authority, cluster)) return v;
  }
  return unchecked(views[0]);
}
