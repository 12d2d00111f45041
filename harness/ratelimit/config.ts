/**
 * The rate limit service's limits, in envoyproxy/ratelimit's YAML shape (src/config/config_impl.go):
 *
 *   domain: ai-failover
 *   descriptors:
 *     - key: consumer                       # any value of "consumer": 100/minute each
 *       rate_limit: { unit: minute, requests_per_unit: 100 }
 *     - key: consumer
 *       value: batch                        # this value: its own limit, and nested keys
 *       rate_limit: { unit: hour, requests_per_unit: 1000, name: batch }
 *       descriptors:
 *         - key: model
 *           rate_limit: { unit: second, requests_per_unit: 5 }
 *     - key: internal
 *       rate_limit: { unlimited: true }
 *
 * Lookup as GetLimit does it: per request entry, "key_value" first, then "key"; the limit applies
 * only when it sits at the request descriptor's last entry. Not supported here: wildcard values
 * (`value: foo*`), replaces, shadow_mode, quota_mode, detailed_metric, share_threshold, metadata.
 */
import { parse as parseYaml } from "yaml";
import { Unit, type UnitName } from "./rls-proto.ts";

export interface YamlRateLimit {
  unit?: string;
  requests_per_unit?: number;
  unlimited?: boolean;
  name?: string;
}

export interface YamlDescriptor {
  key: string;
  value?: string;
  rate_limit?: YamlRateLimit;
  descriptors?: YamlDescriptor[];
}

export interface YamlDomain {
  domain: string;
  descriptors?: YamlDescriptor[];
}

export interface Limit {
  requestsPerUnit: number;
  unit: number;
  name: string;
  unlimited: boolean;
}

interface Node {
  limit?: Limit;
  children: Map<string, Node>;
}

const SUPPORTED = new Set(["key", "value", "rate_limit", "descriptors"]);

function build(list: YamlDescriptor[] | undefined, at: string): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const [i, d] of (list ?? []).entries()) {
    const where = `${at}.descriptors[${i}]`;
    for (const k of Object.keys(d)) if (!SUPPORTED.has(k)) throw new Error(`${where}.${k}: not supported by the rate limit stand-in`);
    if (!d.key) throw new Error(`${where}: descriptor has empty key`);
    const composite = d.value ? `${d.key}_${d.value}` : d.key;
    if (out.has(composite)) throw new Error(`${where}: duplicate descriptor composite key '${composite}'`);
    let limit: Limit | undefined;
    if (d.rate_limit) {
      const r = d.rate_limit;
      const unitName = (r.unit ?? "").toUpperCase() as UnitName;
      const unit = Unit[unitName];
      if (r.unlimited) {
        if (unit) throw new Error(`${where}: should not specify rate limit unit when unlimited`);
        limit = { requestsPerUnit: 0, unit: 0, name: r.name ?? "", unlimited: true };
      } else {
        if (!unit) throw new Error(`${where}: invalid rate limit unit '${r.unit ?? ""}'`);
        limit = { requestsPerUnit: r.requests_per_unit ?? 0, unit, name: r.name ?? "", unlimited: false };
      }
    }
    out.set(composite, { limit, children: build(d.descriptors, where) });
  }
  return out;
}

export class RateLimitConfig {
  private readonly domains = new Map<string, Map<string, Node>>();

  constructor(domains: YamlDomain[]) {
    for (const d of domains) {
      if (!d.domain) throw new Error("config: domain must not be empty");
      if (this.domains.has(d.domain)) throw new Error(`config: duplicate domain '${d.domain}'`);
      this.domains.set(d.domain, build(d.descriptors, d.domain));
    }
  }

  /** One YAML document per domain (a multi-document text, or one document). */
  static fromYaml(text: string): RateLimitConfig {
    const docs = text.split(/^---\s*$/m).map((t) => t.trim()).filter(Boolean).map((t) => parseYaml(t) as YamlDomain);
    return new RateLimitConfig(docs);
  }

  hasDomain(domain: string): boolean {
    return this.domains.has(domain);
  }

  /** The limit for one descriptor's entries, or undefined (no limit applies). */
  getLimit(domain: string, entries: Array<{ key: string; value: string }>): Limit | undefined {
    let level: Map<string, Node> | undefined = this.domains.get(domain);
    if (!level) return undefined;
    let found: Limit | undefined;
    for (const [i, e] of entries.entries()) {
      const next: Node | undefined = level.get(`${e.key}_${e.value}`) ?? level.get(e.key);
      if (!next) return undefined;
      if (next.limit && i === entries.length - 1) found = next.limit;
      if (next.children.size === 0) break;
      level = next.children;
    }
    return found;
  }
}

/** utils.UnitToDivider: the window length in seconds. */
export function unitSeconds(unit: number): number {
  switch (unit) {
    case Unit.SECOND: return 1;
    case Unit.MINUTE: return 60;
    case Unit.HOUR: return 3600;
    case Unit.DAY: return 86_400;
    case Unit.WEEK: return 604_800;
    case Unit.MONTH: return 2_592_000;
    case Unit.YEAR: return 31_536_000;
    default: throw new Error(`unknown rate limit unit ${unit}`);
  }
}
