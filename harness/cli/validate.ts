/**
 * `ai-failover validate FILE`: checks a plugin configuration before it is deployed, with the
 * filter's own validation (the built .wasm loaded in the harness host, as Envoy would configure
 * it) plus what only the surrounding file can tell. FILE is one of
 *  - a plugin configuration, JSON or YAML (a Higress `defaultConfig` written out is one);
 *  - an Envoy bootstrap (the gateway's accepted subset, harness/gateway/bootstrap.ts): its
 *    embedded configuration, and cross-checks — every provider `cluster` exists, every
 *    `apiKeyEnv` is listed in vm_config.environment_variables (the filter reports it then), a
 *    route has `cluster_header: x-ai-failover-cluster`, body mode has
 *    `allow_on_headers_stop_iteration: true`;
 *  - a Higress WasmPlugin file (kind: WasmPlugin): defaultConfig + matchRules as Higress's
 *    controller delivers them, and every apiKeyEnv in vmConfig.env.
 * Every problem is listed with its path, and the provider's or consumer's name where the path is
 * inside one. Variables whose values only the deployment knows (host_env_keys, vmConfig.env from
 * the host) are given placeholders: their values are not checked.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { BootstrapError, higressPluginConfig, loadBootstrap, type WasmPluginSpec } from "../gateway/index.ts";
import { PluginHost, PluginLoadError } from "../host/index.ts";

export const CLUSTER_HEADER = "x-ai-failover-cluster";

export interface ValidateResult {
  kind: "plugin configuration" | "Envoy bootstrap" | "Higress WasmPlugin";
  problems: string[];
  /** One line on what was checked. */
  summary: string;
}

type Json = any;

const placeholder = (name: string) => `validate-placeholder-for-${name}`;

/** Every provider and consumer of the configuration with its path (global and in rules). */
function members(config: Json): { providers: Array<{ path: string; p: Json }>; consumers: Array<{ path: string; c: Json }> } {
  const providers: Array<{ path: string; p: Json }> = [];
  const consumers: Array<{ path: string; c: Json }> = [];
  const add = (prefix: string, o: Json) => {
    if (Array.isArray(o?.providers)) o.providers.forEach((p: Json, i: number) => providers.push({ path: `${prefix}providers[${i}]`, p }));
    if (Array.isArray(o?.consumers)) o.consumers.forEach((c: Json, i: number) => consumers.push({ path: `${prefix}consumers[${i}]`, c }));
  };
  add("", config);
  if (Array.isArray(config?._rules_)) config._rules_.forEach((r: Json, i: number) => add(`_rules_[${i}].`, r));
  return { providers, consumers };
}

/** "providers[1].host: …" → "providers[1].host (provider "west"): …" */
function named(problem: string, config: Json): string {
  const m = /^((?:_rules_\[\d+\]\.)?(providers|consumers)\[\d+\])/.exec(problem);
  if (!m) return problem;
  const { providers, consumers } = members(config);
  const hit = m[2] === "providers" ? providers.find((x) => x.path === m[1])?.p : consumers.find((x) => x.path === m[1])?.c;
  const name = hit?.name;
  if (typeof name !== "string" || !name) return problem;
  const colon = problem.indexOf(": ");
  const kind = m[2] === "providers" ? "provider" : "consumer";
  return colon < 0 ? `${problem} (${kind} "${name}")` : `${problem.slice(0, colon)} (${kind} "${name}")${problem.slice(colon)}`;
}

/**
 * The filter's own verdict on `configuration` with `environment`: its error lines, as problems.
 * `higress`: configured as Higress would (its host rules and the module Higress deployments load);
 * a Higress configuration with clusterLimits.redis needs the Higress build, which has Redis calls.
 */
async function filterProblems(root: string, configuration: string, environment: Record<string, string>, higress = false): Promise<string[]> {
  const wasmPath = join(root, higress && usesRedis(configuration) ? "build/ai-failover-higress.wasm" : "build/ai-failover.wasm");
  if (!existsSync(wasmPath)) return [`${wasmPath} is missing: run npm run build first`];
  try {
    const host = await PluginHost.create({
      wasm: new Uint8Array(readFileSync(wasmPath)), rootId: "ai-failover", vmId: "validate", configuration, environment,
      workers: 1, allowOnHeadersStopIteration: !higress, flavour: higress ? "higress" : "envoy", logLevel: 4, logger: () => {},
    });
    await host.close();
    return [];
  } catch (e) {
    if (!(e instanceof PluginLoadError)) throw e;
    const lines = e.logs.map((l) => l.message);
    const listed = lines.filter((l) => l.startsWith("ai-failover: invalid configuration: ")).map((l) => l.slice("ai-failover: invalid configuration: ".length));
    if (listed.length > 0) return listed;
    const other = lines.filter((l) => l.startsWith("ai-failover: configuration rejected: ")).map((l) => l.slice("ai-failover: configuration rejected: ".length));
    return other.length > 0 ? other : [e.message];
  }
}

/**
 * The environment variables a configuration names: apiKeyEnv of providers (also in their
 * credentials lists) and consumers, and the identities' clientSecretEnv / identityHeaderEnv.
 */
function envNames(config: Json): string[] {
  const { providers, consumers } = members(config);
  const listed = providers.flatMap((x) => (Array.isArray(x.p?.auth?.credentials) ? x.p.auth.credentials : []).map((c: Json) => c?.apiKeyEnv));
  const identities: Json[] = Array.isArray(config?.identities) ? config.identities : [];
  const secrets = identities.flatMap((id) => [id?.clientSecretEnv, id?.identityHeaderEnv ?? (id?.type === "appService" && id?.identityHeader === undefined ? "IDENTITY_HEADER" : undefined)]);
  return [...new Set([...providers.map((x) => x.p?.auth?.apiKeyEnv), ...listed, ...consumers.map((x) => x.c?.apiKeyEnv), ...secrets]
    .filter((n) => typeof n === "string"))];
}

function dig(o: Json, path: Array<string | number>): Json {
  return path.reduce((v, k) => (v == null ? undefined : v[k]), o);
}

async function validateBootstrap(root: string, file: string, text: string, doc: Json): Promise<ValidateResult> {
  const problems: string[] = [];
  try {
    loadBootstrap(text, { source: file, baseDir: process.cwd() });
  } catch (e) {
    if (!(e instanceof BootstrapError)) throw e;
    problems.push(...e.problems);
  }
  // The wasm filter and its configuration, read from the document itself (so a structural problem
  // elsewhere does not hide the configuration's).
  const hcmPath = ["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config"];
  const filters: Json[] = dig(doc, [...hcmPath, "http_filters"]) ?? [];
  const wi = filters.findIndex((f) => String(f?.typed_config?.["@type"] ?? "").endsWith("envoy.extensions.filters.http.wasm.v3.Wasm"));
  const wasm = wi >= 0 ? filters[wi].typed_config.config : undefined;
  const wasmPath = `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[${wi}].typed_config.config`;
  const raw = wasm?.configuration?.value;
  if (typeof raw !== "string") {
    problems.push(`${wasmPath}.configuration.value: the plugin configuration (a google.protobuf.StringValue holding the JSON) is missing`);
    return { kind: "Envoy bootstrap", problems, summary: "" };
  }
  const env: Record<string, string> = { ...(wasm?.vm_config?.environment_variables?.key_values ?? {}) };
  for (const k of wasm?.vm_config?.environment_variables?.host_env_keys ?? []) env[k] = placeholder(k);
  let config: Json;
  try {
    config = JSON.parse(raw);
  } catch {
    config = undefined;
  }
  problems.push(...(await filterProblems(root, raw, env)).map((p) => `${wasmPath}.configuration: ${config ? named(p, config) : p}`));
  if (config && typeof config === "object") {
    const clusters: string[] = (dig(doc, ["static_resources", "clusters"]) ?? []).map((c: Json) => c?.name);
    for (const { path, p } of members(config).providers) {
      if (typeof p?.cluster === "string" && !clusters.includes(p.cluster)) {
        problems.push(`${wasmPath}.configuration: ${path}.cluster (provider "${p.name}"): cluster "${p.cluster}" is not in static_resources.clusters (${clusters.join(", ") || "none"})`);
      }
    }
    // Entra identities fetch their tokens through a cluster too.
    const identities: Json[] = Array.isArray(config.identities) ? config.identities : [];
    identities.forEach((id: Json, i: number) => {
      if (typeof id?.cluster === "string" && !clusters.includes(id.cluster)) {
        problems.push(`${wasmPath}.configuration: identities[${i}].cluster (identity "${id.name}"): cluster "${id.cluster}" is not in static_resources.clusters (${clusters.join(", ") || "none"})`);
      }
    });
    const vhosts: Json[] = dig(doc, [...hcmPath, "route_config", "virtual_hosts"]) ?? [];
    const routes = vhosts.flatMap((v) => v?.routes ?? []);
    if (!routes.some((r) => r?.route?.cluster_header === CLUSTER_HEADER)) {
      problems.push(`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config: no route has cluster_header: ${CLUSTER_HEADER} (the filter names each request's cluster in that header)`);
    }
    const bodyMode = (config.mode ?? "body") !== "headers";
    if (bodyMode && wasm.allow_on_headers_stop_iteration !== true) {
      problems.push(`${wasmPath}.allow_on_headers_stop_iteration: must be true in body mode (the default): without it Envoy holds the body and requests hang; or set "mode": "headers"`);
    }
  }
  const providers = config ? members(config).providers.length : 0;
  return { kind: "Envoy bootstrap", problems, summary: `${providers} provider(s), ${config?._rules_?.length ?? 0} rule(s)` };
}

function usesRedis(configuration: string): boolean {
  try {
    const c = JSON.parse(configuration);
    return !!c && typeof c === "object" && !!c.clusterLimits && typeof c.clusterLimits === "object" && c.clusterLimits.redis != null;
  } catch {
    return false;
  }
}

async function validateWasmPlugin(root: string, spec: WasmPluginSpec & { vmConfig?: { env?: Array<{ name: string; valueFrom?: string; value?: string }> } }): Promise<ValidateResult> {
  const problems: string[] = [];
  let config: Json;
  try {
    config = higressPluginConfig(spec);
  } catch (e) {
    return { kind: "Higress WasmPlugin", problems: [`spec.${(e as Error).message}`], summary: "" };
  }
  const env: Record<string, string> = {};
  for (const e of spec.vmConfig?.env ?? []) env[e.name] = e.valueFrom === "HOST" ? placeholder(e.name) : (e.value ?? "");
  problems.push(...(await filterProblems(root, JSON.stringify(config), env, true)).map((p) => {
    // Paths of the delivered configuration → the WasmPlugin's fields.
    const q = named(p, config);
    const r = /^_rules_\[(\d+)\]/.exec(q);
    return r ? `spec.matchRules[${ruleIndex(spec, Number(r[1]))}].config${q.slice(r[0].length)}` : `spec.defaultConfig.${q}`;
  }));
  return { kind: "Higress WasmPlugin", problems, summary: `${members(config).providers.length} provider(s), ${config._rules_?.length ?? 0} rule(s)` };
}

/** The matchRules index of the n-th delivered rule (configDisable'd rules are not delivered). */
function ruleIndex(spec: WasmPluginSpec, n: number): number {
  let k = -1;
  for (const [i, r] of (spec.matchRules ?? []).entries()) if (!r.configDisable && ++k === n) return i;
  return n;
}

export async function validateFile(root: string, file: string): Promise<ValidateResult> {
  const text = readFileSync(file, "utf8");
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc });
  const errs = (Array.isArray(docs) ? docs : [docs]).flatMap((d) => d.errors);
  if (errs.length > 0) {
    return {
      kind: "plugin configuration",
      problems: errs.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}, column ${e.linePos?.[0]?.col ?? "?"}: ${e.message.split("\n")[0]}`),
      summary: "",
    };
  }
  const values = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS());
  const plugin = values.find((v) => v?.kind === "WasmPlugin");
  if (plugin) return validateWasmPlugin(root, plugin.spec ?? {});
  const doc = values[0];
  if (doc?.static_resources) return validateBootstrap(root, file, text, doc);
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    return { kind: "plugin configuration", problems: ["expected a plugin configuration object, an Envoy bootstrap or a Higress WasmPlugin"], summary: "" };
  }
  const names = envNames(doc);
  const env = Object.fromEntries(names.map((n) => [n, placeholder(n)]));
  // A bare plugin configuration: Higress's when it uses Redis (only the Higress build can serve it).
  const problems = (await filterProblems(root, JSON.stringify(doc), env, usesRedis(JSON.stringify(doc)))).map((p) => named(p, doc));
  return {
    kind: "plugin configuration",
    problems,
    summary: `${members(doc).providers.length} provider(s), ${doc._rules_?.length ?? 0} rule(s)` +
      (names.length ? `; needs the environment variables ${names.join(", ")} in the VM` : ""),
  };
}
