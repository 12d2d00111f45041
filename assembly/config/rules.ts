// Higress `_rules_`: [{ _match_route_ | _match_domain_ | _match_service_ | _match_route_prefix_: [...], ...overrides }].
// Each rule's config is the global object with the rule's members replacing the top-level
// ones, read as a full config. Errors in the rule's own members are reported under
// `_rules_[i].…`; errors that only arise from the combination are prefixed with `_rules_[i]: `;
// errors already reported for the global config are not repeated.
// Provider identity is the name across the whole configuration: the same name with a
// different record (fingerprint) in a rule is an error.

import { JSON } from "json-as";
import { Config, ProviderConfig, RuleConfig, RuleMatch } from "./model";
import { ConsumerList } from "./consumers";
import { EnvLookup } from "./env";
import { Errors } from "./errors";
import { ArrReader, ObjReader } from "./walk";
import { checkDomainPattern, checkHost } from "./host";
import { readConfig, ReadConfig } from "./root";
import { ProviderMemo } from "./providers";
import { quote } from "./text";

export const RULES_KEY = "_rules_";
const MATCH_ROUTE = "_match_route_";
const MATCH_DOMAIN = "_match_domain_";
const MATCH_SERVICE = "_match_service_";
const MATCH_ROUTE_PREFIX = "_match_route_prefix_";
const MAX_RULES: i32 = 1024;

/** name → fingerprint and where it was first defined. */
class Identities {
  /** name → index into fingerprints and paths. */
  names: Map<string, i32> = new Map<string, i32>();
  fingerprints: string[] = [];
  paths: string[] = [];

  /**
   * Records provider k of `read`, or returns the path of a conflicting earlier record
   * ("" = fine).
   */
  check(name: string, fingerprint: string, read: ReadConfig, k: i32): string {
    if (!this.names.has(name)) {
      this.names.set(name, this.fingerprints.length);
      this.fingerprints.push(fingerprint);
      this.paths.push(read.providerPath(k));
      return "";
    }
    const i = this.names.get(name);
    return unchecked(this.fingerprints[i]) == fingerprint ? "" : unchecked(this.paths[i]);
  }
}

/** A non-empty list of distinct non-empty strings, or null when absent. */
function readList(o: ObjReader, key: string, what: string): string[] | null {
  const a = o.arr(key);
  if (a === null) return null;
  const list = a.strings(true);
  if (a.length == 0) o.errs.add(a.path, "must list at least one " + what);
  return list;
}

/**
 * A rule matches on exactly what Higress's own plugins match it on (wasm-go
 * pkg/matcher/rule_matcher.go): `_match_route_` (with `_match_service_`: both must match), else
 * `_match_domain_`, else `_match_service_`, else `_match_route_prefix_`. Higress ignores the other
 * keys of such a rule without a word; here a combination it would ignore is an error, so a rule
 * never silently matches less than it says.
 */
function readMatches(o: ObjReader, rule: RuleConfig): void {
  const routes = readList(o, MATCH_ROUTE, "route name");
  const domains = readList(o, MATCH_DOMAIN, "domain");
  const services = readList(o, MATCH_SERVICE, "service");
  const prefixes = readList(o, MATCH_ROUTE_PREFIX, "route name prefix");
  if (domains !== null) {
    checkEach(o, MATCH_DOMAIN, domains, false);
    rule.matchDomains = domains;
  }
  if (services !== null) {
    checkEach(o, MATCH_SERVICE, services, true);
    rule.matchServices = services;
  }
  if (routes !== null) rule.matchRoutes = routes;
  if (prefixes !== null) rule.matchRoutePrefixes = prefixes;
  if (routes !== null) {
    rule.match = services !== null ? RuleMatch.RouteAndService : RuleMatch.Route;
    if (domains !== null) ignored(o, MATCH_DOMAIN, MATCH_ROUTE);
    if (prefixes !== null) ignored(o, MATCH_ROUTE_PREFIX, MATCH_ROUTE);
  } else if (domains !== null) {
    rule.match = RuleMatch.Domain;
    if (services !== null) ignored(o, MATCH_SERVICE, MATCH_DOMAIN);
    if (prefixes !== null) ignored(o, MATCH_ROUTE_PREFIX, MATCH_DOMAIN);
  } else if (services !== null) {
    rule.match = RuleMatch.Service;
    if (prefixes !== null) ignored(o, MATCH_ROUTE_PREFIX, MATCH_SERVICE);
  } else if (prefixes !== null) {
    rule.match = RuleMatch.RoutePrefix;
  } else {
    o.errs.add(o.path, "needs " + MATCH_ROUTE + ", " + MATCH_DOMAIN + ", " + MATCH_SERVICE + " or " + MATCH_ROUTE_PREFIX);
  }
}

/** Reports each entry of `list` (read from `key`) that is not a domain / service pattern. */
function checkEach(o: ObjReader, key: string, list: string[], services: bool): void {
  const a = o.arr(key)!;
  for (let i = 0; i < list.length; i++) {
    const v = unchecked(list[i]);
    const why = services ? checkServicePattern(v) : checkDomainPattern(v);
    if (why.length > 0) o.errs.add(a.pathAt(i), why);
  }
}

function ignored(o: ObjReader, key: string, winner: string): void {
  o.errs.add(o.pathOf(key), "cannot be combined with " + winner + ": Higress matches such a rule on " + winner +
    " alone and ignores this list; write one rule for each");
}

/** A `_match_service_` entry: a service FQDN, optionally ":port" (Higress's form, e.g. "llm.dns:443"). */
function checkServicePattern(s: string): string {
  if (s.includes("|")) return "must be a service name (\"name.namespace.svc.cluster.local\", \"name.dns\"), optionally \":port\", not a cluster name: found " + quote(s);
  return checkHost(s);
}

/** Is member i of `o` set to null (YAML `key:` with no value: "not set")? */
function isNull(o: ObjReader, i: i32): bool {
  if (i < 0) return false;
  const v = unchecked(o.values[i]);
  // A value json-as has not parsed yet is a string, an object or an array: asking its type
  // would parse it, and a provider list read later is recognised by its unparsed text.
  return v.__lazySlice() == 0 && v.type == JSON.Types.Null;
}

/**
 * The global members not overridden by `rule`, then the rule's own overrides. A rule member
 * set to null overrides nothing (null reads as "not set"): the global value stays.
 */
function mergedView(global: ObjReader, rule: ObjReader, errs: Errors): ObjReader {
  const keys = new Array<string>();
  const values = new Array<JSON.Value>();
  const paths = new Array<string>();
  for (let i = 0; i < global.keys.length; i++) {
    const k = unchecked(global.keys[i]);
    const r = rule.indexOf(k);
    if (k == RULES_KEY || (r >= 0 && !isNull(rule, r))) continue;
    keys.push(k);
    values.push(unchecked(global.values[i]));
    paths.push(unchecked(global.keyPaths[i]));
  }
  for (let i = 0; i < rule.keys.length; i++) {
    const k = unchecked(rule.keys[i]);
    if (k == MATCH_ROUTE || k == MATCH_DOMAIN || k == MATCH_SERVICE || k == MATCH_ROUTE_PREFIX || k == RULES_KEY) continue;
    if (isNull(rule, i) && global.indexOf(k) >= 0) continue; // the global member stays
    keys.push(k);
    values.push(unchecked(rule.values[i]));
    paths.push(unchecked(rule.keyPaths[i]));
  }
  return new ObjReader("", keys, values, paths, errs);
}

export function readRules(
  value: JSON.Value, global: ObjReader, globalRead: ReadConfig, env: EnvLookup, memo: ProviderMemo, errs: Errors,
): RuleConfig[] {
  const globalConfig = globalRead.config;
  const out = new Array<RuleConfig>();
  const list = ArrReader.of(value, global.pathOf(RULES_KEY), errs);
  if (list === null) return out;
  if (list.length > MAX_RULES) {
    errs.add(list.path, "at most " + MAX_RULES.toString() + " rules are supported, found " + list.length.toString());
    return out;
  }
  const ids = new Identities();
  // Every view's consumers and providers: a consumer key may equal no provider credential of any
  // view (a client could present it wherever that provider serves).
  const views: ReadConfig[] = [];
  for (let i = 0; i < globalConfig.providers.length; i++) {
    const p = unchecked(globalConfig.providers[i]);
    if (p.name.length == 0) continue;
    const path = globalRead.providerPath(i);
    if (!errs.anyUnder(path)) ids.check(p.name, p.fingerprint, globalRead, i);
  }
  for (let i = 0; i < list.length; i++) {
    const o = list.objAt(i);
    if (o === null) continue;
    const rule = new RuleConfig();
    readMatches(o, rule);
    o.reject(RULES_KEY, "rules cannot be nested");
    o.reject("identities", "identities are shared by every rule: list them at the top level");
    const ruleErrs = new Errors();
    const read = readConfig(mergedView(global, o, ruleErrs), env, memo, globalConfig.identities);
    const prefix = o.path;
    for (let k = 0; k < ruleErrs.list.length; k++) {
      const e = unchecked(ruleErrs.list[k]);
      if (errs.has(e)) continue; // already reported for the global config
      errs.push(e.startsWith(prefix + ".") ? e : prefix + ": " + e);
    }
    const cfg = read.config;
    for (let k = 0; k < cfg.providers.length; k++) {
      const p = unchecked(cfg.providers[k]);
      if (p.name.length == 0) continue;
      if (ruleErrs.count > 0 && ruleErrs.anyUnder(read.providerPath(k))) continue;
      const other = ids.check(p.name, p.fingerprint, read, k);
      if (other.length > 0) {
        const path = read.providerPath(k);
        errs.add(path.startsWith(prefix + ".") ? path : prefix + ": " + path,
          "provider " + quote(p.name) + " is already defined at " + other +
            " with a different record (type, cluster, host, basePath, api, apiVersion, deployments or credential);" +
            " a provider's name is its identity: rename one or make them equal");
      }
    }
    if (ruleErrs.count == 0) rule.config = cfg;
    out.push(rule);
    views.push(read);
  }
  checkKeysAcrossViews(globalConfig, globalRead.consumers, views, errs);
  return out;
}

/**
 * Consumer keys of the global configuration and every rule against every view's provider
 * credentials. A collision inside one view is that view's own check's (readConfig); this adds
 * the ones across views.
 */
function checkKeysAcrossViews(globalConfig: Config, globalConsumers: ConsumerList, rules: ReadConfig[], errs: Errors): void {
  const owners = new Map<string, string>();
  for (let i = 0; i < globalConfig.providers.length; i++) addCredential(owners, unchecked(globalConfig.providers[i]));
  for (let r = 0; r < rules.length; r++) {
    const ps = unchecked(rules[r]).config.providers;
    for (let i = 0; i < ps.length; i++) addCredential(owners, unchecked(ps[i]));
  }
  // (consumer key path, secret) pairs some view holds together with that provider: reported there.
  const covered = new Set<string>();
  for (let r = -1; r < rules.length; r++) {
    const list = r < 0 ? globalConsumers : unchecked(rules[r]).consumers;
    if (list.consumers.length == 0) continue;
    const own = new Set<string>();
    const ps = r < 0 ? globalConfig.providers : unchecked(rules[r]).config.providers;
    for (let i = 0; i < ps.length; i++) {
      const cs = unchecked(ps[i]).credentials;
      for (let k = 0; k < cs.length; k++) if (unchecked(cs[k]).reveal().length > 0) own.add(unchecked(cs[k]).reveal());
    }
    for (let i = 0; i < list.consumers.length; i++) {
      const c = unchecked(list.consumers[i]);
      if (!c.credential.isEmpty() && own.has(c.credential.reveal())) covered.add(unchecked(list.keyPaths[i]) + "\u0000" + c.credential.reveal());
    }
  }
  for (let r = -1; r < rules.length; r++) {
    const list = r < 0 ? globalConsumers : unchecked(rules[r]).consumers;
    for (let i = 0; i < list.consumers.length; i++) {
      const c = unchecked(list.consumers[i]);
      if (c.credential.isEmpty()) continue;
      const secret = c.credential.reveal();
      // A rule's own consumer has a path inside the rule; one it inherits, the global path.
      const path = unchecked(list.keyPaths[i]);
      if (!owners.has(secret) || covered.has(path + "\u0000" + secret)) continue;
      const e = path + ": equals the credential of provider " + quote(owners.get(secret)) +
        ": a client could present a provider key; issue consumers their own keys";
      if (!errs.has(e)) errs.push(e);
    }
  }
}

function addCredential(owners: Map<string, string>, p: ProviderConfig): void {
  for (let i = 0; i < p.credentials.length; i++) {
    const c = unchecked(p.credentials[i]);
    if (c.reveal().length > 0 && !owners.has(c.reveal())) owners.set(c.reveal(), p.name);
  }
}
