// providers[]: each entry validated field by field into a ProviderConfig. A provider's
// identity is its name; host, path, cluster and credential form one record.

import { JSON } from "json-as";
import { AzureApi, IdentityConfig, Limits, ProviderConfig, ProviderType } from "./model";
import { EnvLookup } from "./env";
import { Errors } from "./errors";
import { ArrReader, MAX_SAFE_INT, ObjReader, readNonEmpty } from "./walk";
import { checkHost } from "./host";
import { NAME_RULE, checkPathPrefix, checkProbePath, isApiVersion, isHeaderToken, isName } from "./patterns";
import { readProviderAuth } from "./credential";
import { fingerprintOf } from "./fingerprint";
import { childPath, indexPath, quote } from "./text";

export const MAX_PROVIDERS: i32 = 64;

/** The providers with where each entry is in the list (rules compare records by name). */
export class ProviderList {
  providers: ProviderConfig[] = [];
  /** Path of the `providers` list. */
  path: string = "";
  /** Index of each provider's entry in the list (an entry that is not an object has none). */
  indices: i32[] = [];

  /** Path of provider k's entry (made when asked: most are never needed). */
  pathAt(k: i32): string {
    return indexPath(this.path, unchecked(this.indices[k]));
  }

  /** The same providers, listed at `path`. */
  at(path: string): ProviderList {
    const out = new ProviderList();
    out.providers = this.providers.slice(0);
    out.path = path;
    out.indices = this.indices;
    return out;
  }
}

function readType(o: ObjReader, p: ProviderConfig): bool {
  const t = o.str("type", true, "\"azure-openai\" or \"openai\"");
  if (t === null) return false;
  if (t == "azure-openai") p.type = ProviderType.AzureOpenAI;
  else if (t == "openai") p.type = ProviderType.OpenAI;
  else {
    o.errs.add(o.pathOf("type"), "must be \"azure-openai\" or \"openai\", found " + quote(t));
    return false;
  }
  return true;
}

function readAzure(o: ObjReader, p: ProviderConfig): void {
  const api = o.str("api", false);
  if (api !== null) {
    if (api == "classic") p.azureApi = AzureApi.Classic;
    else if (api == "v1") p.azureApi = AzureApi.V1;
    else o.errs.add(o.pathOf("api"), "must be \"classic\" or \"v1\", found " + quote(api));
  }
  const classic = p.azureApi == AzureApi.Classic;
  const version = o.str("apiVersion", classic, "the api-version for classic Azure paths, e.g. \"2024-10-21\"");
  if (version !== null) {
    const ok = isApiVersion(version) || (!classic && (version == "preview" || version == "latest"));
    if (!ok) {
      o.errs.add(o.pathOf("apiVersion"), "must look like \"2024-10-21\" or \"2024-10-21-preview\"" +
        (classic ? "" : " (or \"preview\"/\"latest\" for api v1)") + ", found " + quote(version));
    } else {
      p.apiVersion = version;
    }
  }
  const d = o.obj("deployments");
  if (d !== null) {
    for (let i = 0; i < d.keys.length; i++) {
      const model = unchecked(d.keys[i]);
      const path = unchecked(d.keyPaths[i]);
      const v = d.field(model)!;
      if (model.length == 0) {
        d.errs.add(path, "model name (the key) must not be empty");
        continue;
      }
      // "model": "deployment", or "model": { "name": "deployment", "limits": { … } } (Azure's
      // quota is per deployment).
      let dep: string | null = null;
      let lim = new Limits();
      if (v.type == JSON.Types.Object) {
        const od = ObjReader.of(v, path, d.errs);
        if (od === null) continue;
        dep = od.nonEmpty("name", true, "the deployment's name");
        lim = readLimits(od);
        od.finish();
        if (dep === null) continue;
        if (!isName(dep)) {
          d.errs.add(od.pathOf("name"), "deployment name " + NAME_RULE + ", found " + quote(dep));
          continue;
        }
      } else {
        dep = readNonEmpty(v, path, d.errs);
        if (dep === null) continue;
        if (!isName(dep)) {
          d.errs.add(path, "deployment name " + NAME_RULE + ", found " + quote(dep));
          continue;
        }
      }
      // Without limits of its own the deployment's window is the provider's (readProvider sets it).
      if (lim.tokensPerMinute == 0 && lim.requestsPerMinute == 0 && lim.minRemainingTokens == 0 && lim.minRemainingRequests == 0) lim.windowMs = 0;
      p.deploymentKeys.push(model);
      p.deploymentValues.push(dep);
      p.deploymentLimits.push(lim);
      p.models.push(model);
    }
  }
  o.reject("models", "not allowed for type \"azure-openai\": list the models as keys of deployments");
}

function readOpenAI(o: ObjReader, p: ProviderConfig): void {
  const v = o.opt("models");
  if (v !== null && v.type == JSON.Types.Object) readModelMap(o, p);
  else {
    const models = o.strings("models", true);
    if (models !== null) p.models = models;
  }
  o.reject("deployments", "not allowed for type \"openai\" (Azure only): list the models in models");
  o.reject("api", "not allowed for type \"openai\" (Azure only)");
  o.reject("apiVersion", "not allowed for type \"openai\" (Azure only)");
}

/**
 * `models` as an object: model → the name this provider knows it by (`{ "gpt-4o": "gpt-4o-2024-08-06" }`),
 * written into the body's "model" of every request it gets for that model (plan/upstream.ts).
 */
function readModelMap(o: ObjReader, p: ProviderConfig): void {
  const m = o.obj("models");
  if (m === null) return;
  for (let i = 0; i < m.keys.length; i++) {
    const model = unchecked(m.keys[i]);
    const path = unchecked(m.keyPaths[i]);
    const v = m.field(model)!;
    if (model.length == 0) {
      m.errs.add(path, "model name (the key) must not be empty");
      continue;
    }
    const name = readNonEmpty(v, path, m.errs);
    if (name === null) continue;
    p.models.push(model);
    p.modelTargets.push(name);
  }
}

function readLimits(o: ObjReader): Limits {
  const l = new Limits();
  const r = o.obj("limits");
  if (r === null) return l;
  l.tokensPerMinute = r.int("tokensPerMinute", 0, 0, MAX_SAFE_INT);
  l.requestsPerMinute = r.int("requestsPerMinute", 0, 0, MAX_SAFE_INT);
  l.minRemainingTokens = r.int("minRemainingTokens", 0, 0, MAX_SAFE_INT);
  l.minRemainingRequests = r.int("minRemainingRequests", 0, 0, MAX_SAFE_INT);
  // The provider's rate-limit window (one minute for Azure and OpenAI; shorter only to compress time in tests).
  l.windowMs = r.duration("window", 60000, 1000, 3600000);
  r.finish();
  return l;
}

export function readProvider(o: ObjReader, env: EnvLookup, identities: IdentityConfig[] = []): ProviderConfig {
  const p = new ProviderConfig();
  const name = o.str("name", true, "a unique name: letters, digits, '.', '_' or '-'");
  if (name !== null) {
    if (isName(name)) p.name = name;
    else o.errs.add(o.pathOf("name"), NAME_RULE + " (it becomes part of shared-data keys, metric names and a response header), found " + quote(name));
  }
  const typed = readType(o, p);
  const cluster = o.nonEmpty("cluster", true, "the Envoy cluster that reaches host");
  if (cluster !== null) {
    if (isHeaderToken(cluster) && cluster.length <= 255) p.cluster = cluster;
    else o.errs.add(o.pathOf("cluster"), "must be at most 255 printable ASCII characters without spaces (it is sent in a header), found " + quote(cluster));
  }
  const host = o.str("host", true, "host name or IPv4 address with optional :port, no scheme");
  if (host !== null) {
    const why = checkHost(host);
    if (why.length == 0) p.host = host;
    else o.errs.add(o.pathOf("host"), why);
  }
  if (typed) {
    if (p.type == ProviderType.AzureOpenAI) readAzure(o, p);
    else readOpenAI(o, p);
    p.basePath = p.type == ProviderType.OpenAI ? "/v1" : "";
  } else {
    // Unknown type: still mark the type-specific fields as known, so they are not also
    // reported as unknown fields.
    o.field("api");
    o.field("apiVersion");
    o.field("deployments");
    o.field("models");
  }
  const base = o.str("basePath", false);
  if (base !== null) {
    const why = checkPathPrefix(base);
    if (why.length == 0) p.basePath = base;
    else o.errs.add(o.pathOf("basePath"), why + ", found " + quote(base));
  }
  const auth = o.obj("auth", true, "{ apiKey }, { apiKeyEnv }, { identity } or { credentials: [...] }");
  if (auth !== null) {
    readProviderAuth(auth, env, identities, p);
    auth.finish();
  }
  p.priority = <i32>o.int("priority", 0, 0, 2147483647);
  p.weight = <i32>o.int("weight", 1, 0, 1000);
  p.includeUsage = o.boolean("includeUsage", true);
  p.upstreamTimeoutMs = o.duration("upstreamTimeout", -1, 1, 3600000);
  p.firstByteTimeoutMs = o.duration("firstByteTimeout", -1, 0, 3600000);
  p.firstTokenTimeoutMs = o.duration("firstTokenTimeout", -1, 0, 3600000);
  p.streamIdleTimeoutMs = o.duration("streamIdleTimeout", -1, 0, 3600000);
  p.limits = readLimits(o);
  for (let i = 0; i < p.deploymentLimits.length; i++) {
    const l = unchecked(p.deploymentLimits[i]);
    if (l.windowMs == 0) l.windowMs = p.limits.windowMs;
    else p.hasDeploymentLimits = true;
  }
  const hc = o.obj("healthCheck");
  if (hc !== null) {
    const path = hc.str("path", false);
    if (path !== null) {
      const why = checkProbePath(path);
      if (why.length == 0) p.healthPath = path;
      else hc.errs.add(hc.pathOf("path"), why + ", found " + quote(path));
    }
    hc.finish();
  }
  o.finish();
  p.fingerprint = fingerprintOf(p);
  return p;
}

/** Values read without a problem, by the JSON text they were read from (see ProviderMemo). */
class TextMemo<T> {
  /** Hash of the text → the newest entry with that hash; older ones follow through `next`. */
  private byHash: Map<u64, i32> = new Map<u64, i32>();
  private next: i32[] = [];
  private starts: usize[] = [];
  private sizes: usize[] = [];
  private values: T[] = [];

  /** The value read from exactly the text of `slice`, or null. */
  find(slice: u64, h: u64): T | null {
    if (!this.byHash.has(h)) return null;
    const start = <usize>(slice >>> 32);
    const size = <usize>(<u32>slice) - start;
    for (let i = this.byHash.get(h); i >= 0; i = unchecked(this.next[i])) {
      if (unchecked(this.sizes[i]) == size && memory.compare(unchecked(this.starts[i]), start, size) == 0) return unchecked(this.values[i]);
    }
    return null;
  }

  remember(slice: u64, h: u64, value: T): void {
    const start = <usize>(slice >>> 32);
    this.next.push(this.byHash.has(h) ? this.byHash.get(h) : -1);
    this.byHash.set(h, this.values.length);
    this.starts.push(start);
    this.sizes.push(<usize>(<u32>slice) - start);
    this.values.push(value);
  }
}

/**
 * Provider records and lists already read without a problem, by the JSON text they were read
 * from, for one parse of one configuration text. A record is a function of its text and the
 * environment alone (paths only name errors), and a list of its text, so a rule that repeats
 * a provider or the whole list byte for byte (the usual way: the same list in every rule) gets
 * what was read before instead of a second validation of the same text: 1024 rules × 64
 * providers would otherwise read 65,536 providers per configure. Text that was read with a
 * problem is not remembered: it is read, and reported, again where it recurs.
 */
export class ProviderMemo {
  /** The configuration text every remembered slice points into (kept alive with the memo). */
  private readonly text: string;
  records: TextMemo<ProviderConfig> = new TextMemo<ProviderConfig>();
  lists: TextMemo<ProviderList> = new TextMemo<ProviderList>();

  constructor(text: string) {
    this.text = text;
  }

  /**
   * The raw text of `v` while json-as has not parsed it yet (it defers nested values), packed
   * as start << 32 | end (UTF-16 byte addresses in the configuration text); 0 otherwise.
   */
  sliceOf(v: JSON.Value): u64 {
    const slice = v.__lazySlice();
    if (slice == 0) return 0;
    const from = changetype<usize>(this.text);
    const to = from + ((<usize>this.text.length) << 1);
    const start = <usize>(slice >>> 32);
    const end = <usize>(<u32>slice);
    return start >= from && end <= to && start < end ? slice : 0;
  }
}

/** Hash of a slice's text (see ProviderMemo.sliceOf). */
function sliceHash(slice: u64): u64 {
  let p = <usize>(slice >>> 32);
  const end = <usize>(<u32>slice);
  let h: u64 = 0xcbf29ce484222325 ^ <u64>(end - p);
  while (p + 8 <= end) {
    h = (h ^ load<u64>(p)) * 0x100000001b3;
    h ^= h >> 29;
    p += 8;
  }
  while (p < end) {
    h = (h ^ <u64>load<u16>(p)) * 0x100000001b3;
    p += 2;
  }
  return h ^ (h >> 32);
}

/** Reads `providers` (required, 1..64 entries, unique names). */
export function readProviders(root: ObjReader, env: EnvLookup, memo: ProviderMemo | null = null, identities: IdentityConfig[] = []): ProviderList {
  const errs: Errors = root.errs;
  // The whole list, when its text was read before without a problem.
  const field = root.field("providers");
  const listSlice = memo !== null && field !== null ? memo.sliceOf(field) : 0;
  const listHash = listSlice != 0 ? sliceHash(listSlice) : 0;
  if (listSlice != 0) {
    const known = memo!.lists.find(listSlice, listHash);
    if (known !== null) return known.at(root.pathOf("providers"));
  }
  const before = errs.count;
  const out = new ProviderList();
  const list: ArrReader | null = root.arr("providers", true, "at least one provider");
  if (list === null) return out;
  out.path = list.path;
  if (list.length == 0) errs.add(list.path, "must list at least one provider");
  if (list.length > MAX_PROVIDERS) {
    errs.add(list.path, "at most " + MAX_PROVIDERS.toString() + " providers are supported, found " + list.length.toString());
  }
  const names = new Map<string, i32>();
  for (let i = 0; i < list.length; i++) {
    const v: JSON.Value = list.at(i);
    const slice = memo !== null ? memo.sliceOf(v) : 0;
    const h = slice != 0 ? sliceHash(slice) : 0;
    const known: ProviderConfig | null = slice != 0 ? memo!.records.find(slice, h) : null;
    let o: ObjReader | null = null;
    let p: ProviderConfig;
    if (known !== null) {
      p = known;
    } else {
      o = ObjReader.of(v, list.pathAt(i), errs);
      if (o === null) continue;
      const problems = errs.count;
      p = readProvider(o, env, identities);
      if (slice != 0 && errs.count == problems) memo!.records.remember(slice, h, p);
    }
    if (p.name.length > 0) {
      if (names.has(p.name)) {
        const j = names.get(p.name);
        errs.add(o !== null ? o.pathOf("name") : childPath(list.pathAt(i), "name"),
          "duplicate provider name " + quote(p.name) + " (also " + out.pathAt(j) + "); names must be unique");
      } else {
        names.set(p.name, out.providers.length);
      }
    }
    out.providers.push(p);
    out.indices.push(i);
  }
  if (listSlice != 0 && errs.count == before) memo!.lists.remember(listSlice, listHash, out);
  return out;
}
