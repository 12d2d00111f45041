/**
 * Fuzz class "plugin configurations": a valid configuration with random nodes replaced by values
 * in the schema's vocabulary, and random `_rules_` (`_match_route_`, `_match_domain_`,
 * `_match_service_`, `_match_route_prefix_`, alone or combined, with overrides), loaded into a
 * fresh host each case; a loaded one then serves a request with a random route name, cluster and
 * :authority.
 *
 * Per case: loading either succeeds or is a configuration rejection (never a trap); no log line
 * holds a configured key; a forwarded request carries exactly the key of a configured provider
 * with that cluster and host, and no other configured key; no key reaches the client.
 */
import fc from "fast-check";
import { PluginLoadError } from "../host/index.ts";
import { CHAT_OK, chatBody, reqHeaders, rig } from "../rig/host-rig.ts";
import { check, linear, noTrap, productModule, runProperty, type ClassResult } from "./common.ts";

const K = { a: "cfg-key-aaaaaaaaaaaa-0001", b: "cfg-key-bbbbbbbbbbbb-0002", c: "sk-cfg-cccccccccccc-0003", d: "cfg-key-dddddddddddd-0004", consumer: "cfg-consumer-eeeeeeee-0005" };
const ALL_KEYS = Object.values(K);

const base = () => ({
  providers: [
    { name: "a", type: "azure-openai", cluster: "ca", host: "a.openai.azure.com", apiVersion: "2024-10-21",
      deployments: { "gpt-4o": { name: "a-dep", limits: { tokensPerMinute: 50000 } }, "gpt-4o-mini": "a-mini" }, auth: { apiKey: K.a }, priority: 0,
      limits: { tokensPerMinute: 100000 }, firstByteTimeout: "20s", upstreamTimeout: "5m" },
    { name: "b", type: "azure-openai", api: "v1", cluster: "cb", host: "b.openai.azure.com:8443", auth: { apiKey: K.b }, priority: 1 },
    { name: "c", type: "openai", cluster: "cc", host: "api.c.example", models: ["gpt-4o"], auth: { apiKey: K.c }, priority: 0, weight: 3 },
  ],
  healthCheck: { enabled: false },
  retry: { maxAttempts: 2 },
  affinity: { header: "x-session-id", consumer: true, providerHeader: true },
  firstByteTimeout: "30s",
  seed: 3,
  _rules_: [{ _match_route_: ["r1"], providers: [{ name: "d", type: "openai", cluster: "cd", host: "d.example", auth: { apiKey: K.d } }] }],
});

const words = [
  "providers", "name", "type", "cluster", "host", "basePath", "api", "apiVersion", "deployments", "models", "auth", "apiKey", "apiKeyEnv",
  "priority", "weight", "limits", "tokensPerMinute", "requestsPerMinute", "window", "healthCheck", "enabled", "retry", "maxAttempts", "onStatus",
  "cooldown", "consumers", "streaming", "allow", "defaults", "maxTokens", "seed", "mode", "logLevel", "_rules_", "_match_route_", "_match_domain_",
  "_match_service_", "_match_route_prefix_", "upstreamTimeout", "maxRequestBodyBytes",
  "firstByteTimeout", "affinity", "header", "consumer", "providerHeader", "audioTokensPerSecond", "imageTokens",
];
const scalars = fc.oneof(
  fc.constantFrom("azure-openai", "openai", "10s", "500ms", "-1s", "", "/v1", "h:99999", "2024-10-21", "headers", "body", "v1", "classic",
    "*.example", "r1", "r", "outbound|443||svc.dns", "cx", "ca", K.a, K.d),
  fc.integer({ min: -5, max: 70000 }), fc.constantFrom(0, 1, 2 ** 31, 2 ** 53, 1e308, -0), fc.boolean(), fc.constant(null), fc.string({ maxLength: 10 }),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalars, tie("obj"), tie("arr")),
  obj: fc.dictionary(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 6 })), tie("tree"), { maxKeys: 5 }),
  arr: fc.array(tie("tree"), { maxLength: 3 }),
}));

const names = fc.array(fc.constantFrom("r1", "r2", "ns/llm", "llm", "*.team.example", "team.example", "GW.Example", "*.example", "svc.dns", "svc.dns:443", "other.dns", "", "*", "*."), { minLength: 1, maxLength: 3 });
const list = (...xs: string[]) => fc.array(fc.constantFrom(...xs), { minLength: 1, maxLength: 3 });
const validNames: Record<string, fc.Arbitrary<string[]>> = {
  _match_route_: list("r1", "r2", "ns/llm", "llm", "other"),
  _match_route_prefix_: list("r", "ns/", "l", "x"),
  _match_domain_: list("*.team.example", "team.example", "GW.Example", "*.example", "d.example"),
  _match_service_: list("svc.dns", "svc.dns:443", "other.dns", "other.dns:80"),
};
const matchList = fc.oneof({ weight: 4, arbitrary: names }, { weight: 1, arbitrary: scalars });
const D = { name: "d", type: "openai", cluster: "cd", host: "d.example", auth: { apiKey: K.d } };
const A = base().providers[0]!;
const ruleProviders = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom([D], [A], [D, A]) },
  { weight: 1, arbitrary: fc.constant([{ name: "a", type: "openai", cluster: "ca2", host: "other.example", auth: { apiKey: K.b } }]) }, // redefines a: an error
  { weight: 1, arbitrary: fc.array(tree, { maxLength: 2 }) },
);
const overrides = fc.record({ providers: ruleProviders, retry: fc.oneof(fc.constant({ maxAttempts: 1 }), tree), streaming: fc.constant({ allow: false }) }, { requiredKeys: [] });
/** One match category (or route + service), as Higress builds them; sometimes any combination. */
const rule = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(["_match_route_"], ["_match_domain_"], ["_match_service_"], ["_match_route_prefix_"], ["_match_route_", "_match_service_"]), overrides)
    .chain(([keys, o]) => fc.tuple(...keys.map((k) => validNames[k]!)).map((vs) => ({ ...o, ...Object.fromEntries(keys.map((k, i) => [k, vs[i]])) }))) },
  { weight: 1, arbitrary: fc.record({ _match_route_: matchList, _match_domain_: matchList, _match_service_: matchList, _match_route_prefix_: matchList, providers: ruleProviders }, { requiredKeys: [] }) },
);

/** A JSON path (keys / indices) to every node. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...at, k], out);
  return out;
}
function replaceAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let o = copy;
  for (const p of path.slice(0, -1)) {
    o = o?.[p] as Record<string | number, unknown>;
    if (o === null || typeof o !== "object") return root; // an earlier edit removed the path
  }
  if (copy === null || typeof copy !== "object") return root;
  o[path[path.length - 1]!] = value;
  return copy;
}
const PATHS = paths(base());

export interface ConfigCase {
  edits: Array<[(string | number)[], unknown]>;
  rules: unknown[] | null;
  consumers: boolean;
  route: string;
  authority: string;
  cluster: string;
}

export const configCase: fc.Arbitrary<ConfigCase> = fc.record({
  edits: fc.oneof(fc.constant<Array<[(string | number)[], unknown]>>([]), fc.array(fc.tuple(fc.constantFrom(...PATHS), fc.oneof(tree, scalars)), { maxLength: 2 })),
  rules: fc.option(fc.array(rule, { maxLength: 4 }), { nil: null }),
  consumers: fc.boolean(),
  route: fc.constantFrom("r1", "r2", "r10", "ns/llm", "llm", "", "other"),
  authority: fc.constantFrom("gw.local", "x.team.example", "team.example:8080", "GW.EXAMPLE.", "[::1]:80", "a.team.example."),
  cluster: fc.constantFrom("outbound|443||svc.dns", "outbound|80|v1|other.dns", "outbound|443||svc.dns.", "plain"),
});

export function configOf(c: ConfigCase): Record<string, unknown> {
  let cfg = base() as Record<string, unknown>;
  if (c.rules) cfg._rules_ = c.rules;
  if (c.consumers) cfg.consumers = [{ name: "team", apiKey: K.consumer }];
  for (const [p, v] of c.edits) cfg = replaceAt(cfg, p, v) as Record<string, unknown>;
  return cfg;
}

/** cluster → the keys configured for it (global and rule providers, as written). */
function keysByCluster(cfg: unknown): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  const scan = (ps: unknown) => {
    if (!Array.isArray(ps)) return;
    for (const p of ps) {
      const key = p?.auth?.apiKey;
      if (typeof p?.cluster === "string" && typeof key === "string") m.set(p.cluster, (m.get(p.cluster) ?? new Set()).add(key));
    }
  };
  const c = cfg as { providers?: unknown; _rules_?: unknown };
  scan(c?.providers);
  if (Array.isArray(c?._rules_)) for (const r of c._rules_) scan((r as { providers?: unknown })?.providers);
  return m;
}

/**
 * The keys that must never be logged: strings that sit only in `apiKey` fields. (The fuzz may
 * also put a key string into another field, e.g. `type`, whose invalid value the error quotes.)
 */
function secretsOf(cfg: unknown): string[] {
  const secret = new Set<string>();
  const other = new Set<string>();
  const walk = (v: unknown, key: string) => {
    if (typeof v === "string") (key === "apiKey" ? secret : other).add(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, ""));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) { other.add(k); walk(x, k); }
  };
  walk(cfg, "");
  return ALL_KEYS.filter((k) => secret.has(k) && !other.has(k));
}

async function oneConfig(c: ConfigCase): Promise<void> {
  const cfg = configOf(c);
  const secrets = secretsOf(cfg);
  let r;
  try {
    r = await rig(cfg, { wasm: productModule(), logLevel: 0 });
  } catch (e) {
    check(e instanceof PluginLoadError, `loading threw ${(e as Error).name}: ${(e as Error).message}`);
    const text = (e as PluginLoadError).logs.map((l) => l.message).join("\n") + (e as Error).message;
    check(!/Wasm VM failed|RuntimeError|unreachable/.test(text), `configuring trapped: ${text.slice(0, 300)}`);
    for (const k of secrets) check(!text.includes(k), `a configured key (${k.slice(0, 12)}…) was logged`);
    return;
  }
  try {
    noTrap(r, "after configure");
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.setProperty(["xds", "route_name"], c.route);
    f.setProperty(["xds", "cluster_name"], c.cluster);
    const h = reqHeaders("/v1/chat/completions", body, [["authorization", "Bearer " + K.consumer]]).map(([k, v]): [string, string] => (k === ":authority" ? [k, c.authority] : [k, v]));
    f.callOnRequestHeaders(h, false);
    if (f.localReply === null) f.callOnRequestBody(body, true);
    noTrap(r, "after the request");
    const routed = f.upstreamHeaders ? f.up("x-ai-failover-cluster") : undefined;
    if (f.upstreamHeaders && routed !== undefined) {
      const own = keysByCluster(cfg).get(routed);
      check(own !== undefined, `routed to ${routed}, a cluster no provider names`);
      const creds = f.upstreamHeaders.filter(([k]) => k === "api-key" || k === "authorization");
      check(creds.length === 1, `${creds.length} credentials upstream`);
      const v = creds[0]![1].replace(/^Bearer /, "");
      check(own.has(v), `the key sent to ${routed} is not one configured for it`);
      const all = JSON.stringify(f.upstreamHeaders) + f.upstreamBody;
      // (a key string the fuzz wrote into a public field, e.g. a host, is that field's value)
      for (const k of secrets) if (k !== v) check(!all.includes(k), `another key (${k.slice(0, 12)}…) went upstream`);
      f.respond(200, CHAT_OK);
    }
    f.complete();
    noTrap(r, "after the response");
    const seen = JSON.stringify(f.responseHeaders) + Buffer.concat(f.responseData).toString("latin1");
    for (const k of secrets) check(!seen.includes(k), "a configured key reached the client"); // a key string the fuzz put in `name` is a name
    const logs = r.logs.map((l) => l.message).join("\n");
    for (const k of secrets) check(!logs.includes(k), `a configured key (${k.slice(0, 12)}…) was logged`);
  } finally {
    await r.close();
  }
}

export async function fuzzConfigs(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  return runProperty("plugin configurations", configCase, oneConfig, numRuns, mode, seed);
}

/** Linear work: configure 8× the rules (each with a provider of its own). */
export async function configsLinear(): Promise<{ small: number; big: number }> {
  const make = (n: number) => JSON.stringify({
    ...base(),
    _rules_: Array.from({ length: 50 * n }, (_, i) => ({
      _match_route_: [`route-${i}`],
      providers: [{ name: `p${i}`, type: "openai", cluster: `c${i}`, host: `p${i}.example`, auth: { apiKey: `rule-key-${i}-xxxxxxxx` } }],
    })),
  });
  const texts = [make(1), make(8)];
  return linear("configuration", async (scale) => {
    const r = await rig(texts[scale === 1 ? 0 : 1]!, { wasm: productModule(), logLevel: 3 });
    noTrap(r);
    await r.close();
  }, 60);
}
