/**
 * A Higress WasmPlugin (extensions.higress.io/v1alpha1) → the plugin configuration the filter
 * receives, as Higress's controller builds it (alibaba/higress pkg/ingress/config/ingress_config.go,
 * `convertToWasmPluginWrapper`): `pluginConfig` if set wins; else `defaultConfig` (unless
 * `defaultConfigDisable`), plus one `_rules_` entry per `matchRules` item that is not
 * `configDisable`d — the item's `config` with `ingress` → `_match_route_`, `service` →
 * `_match_service_` and `domain` → `_match_domain_` set on it. An item with none of the three is an
 * error (the controller refuses the plugin).
 */
export interface WasmPluginSpec {
  pluginConfig?: Record<string, unknown>;
  defaultConfig?: Record<string, unknown>;
  defaultConfigDisable?: boolean;
  matchRules?: Array<{
    ingress?: string[];
    domain?: string[];
    service?: string[];
    config?: Record<string, unknown>;
    configDisable?: boolean;
  }>;
}

export function higressPluginConfig(spec: WasmPluginSpec): Record<string, unknown> {
  if (spec.pluginConfig) return { ...spec.pluginConfig };
  const out: Record<string, unknown> = spec.defaultConfigDisable ? {} : { ...(spec.defaultConfig ?? {}) };
  const rules: Record<string, unknown>[] = [];
  for (const [i, r] of (spec.matchRules ?? []).entries()) {
    if (r.configDisable) continue;
    const rule: Record<string, unknown> = { ...(r.config ?? {}) };
    let valid = false;
    if (r.ingress?.length) (rule._match_route_ = [...r.ingress]), (valid = true);
    if (r.service?.length) (rule._match_service_ = [...r.service]), (valid = true);
    if (r.domain?.length) (rule._match_domain_ = [...r.domain]), (valid = true);
    if (!valid) throw new Error(`matchRules[${i}]: invalid match rule has no match condition (ingress, domain or service)`);
    rules.push(rule);
  }
  if (rules.length > 0) out._rules_ = rules;
  return out;
}
