// The JSON Schema (assembly/config/ai-failover.schema.json) is the configuration's contract for
// editors and tests: every case of a corpus of valid and invalid configurations goes through
// the schema (ajv, draft 2020-12) and through the filter's own validator (configSummary), and
// both must say the same. What the schema cannot express (cross-field rules, the environment,
// ranges of durations) is listed below as known differences, and each is checked to really
// differ, so the list stays honest.
import { readFileSync } from "node:fs";
import Ajv2020Module from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";
import {
  AZURE_KEY, CONSUMER_KEY, INVALID_CASES, INVALID_ENV, OPENAI_KEY, azure, full, minimal, openai, withAt,
} from "./config-fixtures.js";

const schema = JSON.parse(readFileSync(new URL("../../assembly/config/ai-failover.schema.json", import.meta.url), "utf8"));
// ajv is CommonJS: under NodeNext its class is the module's default export.
const Ajv2020 = ((Ajv2020Module as unknown as { default?: typeof Ajv2020Module }).default ?? Ajv2020Module) as unknown as new (opts: object) => import("ajv").default;
const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true, strict: true });
const validate = ajv.compile(schema);

const ENV: Record<string, string> = { ...INVALID_ENV, C1_KEY: "consumer-1-12345678" };
const envText = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n");

function filterAccepts(cfg: unknown): { ok: boolean; errors: string[] } {
  const out = JSON.parse(configSummary(JSON.stringify(cfg), envText(ENV)));
  return { ok: out.config !== undefined, errors: out.errors ?? [] };
}
function schemaAccepts(cfg: unknown): { ok: boolean; errors: string[] } {
  const ok = validate(JSON.parse(JSON.stringify(cfg))) as boolean;
  return { ok, errors: (validate.errors ?? []).map((e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message}`) };
}

/** Invalid for the filter, valid for the schema: rules across fields or outside the document. */
const KNOWN_DIFFERENCES: Record<string, string> = {
  "apiKeyEnv unset": "environment variables are resolved by the filter (vm_config), not visible to a schema",
  "apiKeyEnv empty": "environment variables are resolved by the filter",
  "duplicate provider name": "uniqueness of a member across array items",
  "timeout ≥ interval": "comparison of two durations",
  "ejection bounds": "comparison of two durations",
  "consumer duplicate name and key": "uniqueness of members across array items",
  "consumer key = provider key": "equality of credentials across sections",
  "consumer key from env = provider key from env": "environment + cross-section equality",
  "limits.window below 1s": "duration ranges (a pattern checks the form, not the value)",
  "limits.window above 1h": "duration ranges",
  "healthCheck.interval below 100ms": "duration ranges",
  "rule: same name, different record": "provider identity across the global config and each rule",
  "rule: same name, different key": "provider identity across the global config and each rule",
  "rule: consumer key = a rule provider's key": "equality of credentials across the merged rule view",
  "a fallback to a model no provider serves": "models served by the providers, across sections",
  "a model falling back to itself": "a list entry equal to its own key",
  "a context fallback to itself": "a value equal to its own key",
  "a contextWindowFallbacks loop": "a walk through the map",
};

const VALID_CASES: [string, unknown][] = [
  ["full", full()],
  ["minimal", minimal()],
  ["Azure v1 with apiVersion", { providers: [{ ...azure(), api: "v1" }] }],
  ["Azure v1 without apiVersion", { providers: [{ ...azure(), api: "v1", apiVersion: undefined }] }],
  ["Azure v1 apiVersion preview/latest", { providers: [{ ...azure(), api: "v1", apiVersion: "latest" }, { ...azure(), name: "b", api: "v1", apiVersion: "preview" }] }],
  ["Azure without deployments", { providers: [{ ...azure(), deployments: undefined }] }],
  ["preview api-version", withAt({ providers: [azure()] }, "providers.0.apiVersion", "2025-04-01-preview")],
  ["IPv4 host with port and basePath", { providers: [{ ...openai(), host: "10.0.0.7:8080", basePath: "/compat/v1" }] }],
  ["host names: underscores, digits, a numeric label among others, port 65535", { providers: [
    { ...openai(), host: "my_svc.local" }, { ...openai(), name: "b", host: "1.2.3.4a:65535" }, { ...openai(), name: "c", host: "localhost:1" }] }],
  ["openai with empty basePath (root)", { providers: [{ ...openai(), basePath: "" }] }],
  ["weight 0 and a large priority", { providers: [{ ...openai(), weight: 0, priority: 2147483647 }] }],
  ["durations in ms, s, m, h and fractions", { ...minimal(), healthCheck: { interval: "1h", timeout: "250ms" }, upstreamTimeout: "0.5s" }],
  ["1.000ms is a whole millisecond", { ...minimal(), upstreamTimeout: "1.000ms" }],
  ["integers written as 1e3", { ...minimal(), defaults: { maxTokens: 1e3 } }],
  ["consumer credential from the environment", { ...minimal(), consumers: [{ name: "c1", apiKeyEnv: "C1_KEY" }] }],
  ["empty onStatus", { ...minimal(), retry: { onStatus: [] } }],
  ["probe paths", { providers: [{ ...openai(), healthCheck: { path: "/" } }, { ...openai(), name: "b", healthCheck: { path: "/v1/models/?a=b?c=./.." } }] }],
  ["mode headers and limits.window", { ...withAt(minimal(), "providers.0.limits", { window: "10s", tokensPerMinute: 100 }), mode: "headers" }],
  ["rules", {
    providers: [azure(), openai()], retry: { maxAttempts: 2 },
    _rules_: [
      { _match_route_: ["chat-route"], retry: { maxAttempts: 5 } },
      { _match_domain_: ["*.example.com", "api.example.org"], providers: [openai()], streaming: { allow: false } },
      { _match_route_: ["r"], _match_service_: ["llm.dns:443"], providers: [openai(), { ...openai(), name: "openai-2", host: "eu.api.openai.com" }] },
      { _match_service_: ["aoai.default.svc.cluster.local", "llm.dns"], retry: { maxAttempts: 1 } },
      { _match_route_prefix_: ["batch-"], upstreamTimeout: "120s" },
    ],
  }],
  ["nulls for optional members", {
    providers: [{ ...azure(), api: null, priority: null, limits: { window: null }, healthCheck: null }, { ...openai(), apiVersion: null, deployments: null, models: null }],
    healthCheck: null, retry: { onStatus: null }, consumers: [{ name: "c", apiKey: "consumer-key-1", apiKeyEnv: null }], mode: null, _rules_: null,
  }],
  ["a credential member null, the other set", withAt(minimal(), "providers.0.auth", { apiKey: null, apiKeyEnv: "OAI_KEY" })],
  ["a rule member null", { providers: [openai()], _rules_: [{ _match_route_: ["r"], retry: null, _rules_: null, _match_domain_: null }] }],
  ["OpenAI models as a map to the provider's names", { providers: [{ ...openai(), models: { "gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini" } }] }],
  ["fallbacks and contextWindowFallbacks", {
    providers: [azure(), openai()], fallbacks: { "gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": ["gpt-4o"] }, contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o" },
    _rules_: [{ _match_route_: ["r"], fallbacks: {}, contextWindowFallbacks: null }],
  }],
];

const EXTRA_INVALID: [string, unknown][] = [
  // Higress matches a rule on one category: the combinations it would silently ignore are errors.
  ["a rule with _match_route_ and _match_domain_", { providers: [openai()], _rules_: [{ _match_route_: ["r"], _match_domain_: ["a.example.com"] }] }],
  ["a rule with _match_domain_ and _match_service_", { providers: [openai()], _rules_: [{ _match_domain_: ["a.example.com"], _match_service_: ["llm.dns"] }] }],
  ["a rule with _match_service_ and _match_route_prefix_", { providers: [openai()], _rules_: [{ _match_service_: ["llm.dns"], _match_route_prefix_: ["a"] }] }],
  ["a _match_service_ written as a cluster name", { providers: [openai()], _rules_: [{ _match_service_: ["outbound|443||llm.dns"] }] }],
  ["an empty _match_route_prefix_ entry", { providers: [openai()], _rules_: [{ _match_route_prefix_: [""] }] }],
  ["healthCheck.interval below 100ms", { ...minimal(), healthCheck: { interval: "50ms", timeout: "10ms" } }],
  ["limits.window below 1s", withAt(minimal(), "providers.0.limits", { window: "500ms" })],
  ["limits.window above 1h", withAt(minimal(), "providers.0.limits", { window: "2h" })],
  ["limits.window as a number", withAt(minimal(), "providers.0.limits", { window: 60 })],
  ["mode unknown", { ...minimal(), mode: "header" }],
  ["host: IPv4 with a leading zero", withAt(minimal(), "providers.0.host", "01.2.3.4")],
  ["host: three numeric labels", withAt(minimal(), "providers.0.host", "1.2.3")],
  ["host: label ending in '-'", withAt(minimal(), "providers.0.host", "a-.example.com")],
  ["host: empty label", withAt(minimal(), "providers.0.host", "a..example.com")],
  ["host: too long", withAt(minimal(), "providers.0.host", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`)],
  ["host: label over 63", withAt(minimal(), "providers.0.host", `${"a".repeat(64)}.com`)],
  ["host: port 65536", withAt(minimal(), "providers.0.host", "h:65536")],
  ["host: two colons", withAt(minimal(), "providers.0.host", "h:1:2")],
  ["cluster with a space", withAt(minimal(), "providers.0.cluster", "my cluster")],
  ["name too long", withAt(minimal(), "providers.0.name", "n".repeat(65))],
  ["basePath '/'", { providers: [{ ...openai(), basePath: "/" }] }],
  ["basePath with a dot segment", { providers: [{ ...openai(), basePath: "/a/../b" }] }],
  ["basePath with //", { providers: [{ ...openai(), basePath: "/a//b" }] }],
  ["basePath with a query", { providers: [{ ...openai(), basePath: "/a?x=1" }] }],
  ["probe path with '#'", withAt(minimal(), "providers.0.healthCheck", { path: "/models#x" })],
  ["probe path with //", withAt(minimal(), "providers.0.healthCheck", { path: "//models" })],
  ["probe path with a dot segment", withAt(minimal(), "providers.0.healthCheck", { path: "/v1/./models" })],
  ["api on OpenAI", { providers: [{ ...openai(), api: "v1" }] }],
  ["Azure v1 with a bad apiVersion", { providers: [{ ...azure(), api: "v1", apiVersion: "newest" }] }],
  ["Azure classic apiVersion latest", { providers: [{ ...azure(), apiVersion: "latest" }] }],
  ["empty model key in deployments", { providers: [{ ...azure(), deployments: { "": "d" } }] }],
  ["duplicate model in models", { providers: [{ ...openai(), models: ["a", "a"] }] }],
  ["too many providers", { providers: Array.from({ length: 65 }, (_, i) => ({ ...openai(), name: `p${i}` })) }],
  ["seed beyond 2^53-1", { ...minimal(), seed: 2 ** 53 }],
  ["duration with four decimals", { ...minimal(), upstreamTimeout: "1.2345s" }],
  ["duration with ten digits", { ...minimal(), upstreamTimeout: "1234567890ms" }],
  ["consumer with both credentials", { ...minimal(), consumers: [{ name: "c", apiKey: "consumer-key-1", apiKeyEnv: "C1_KEY" }] }],
  ["consumer unknown field", { ...minimal(), consumers: [{ name: "c", apiKey: "consumer-key-1", budget: 1 }] }],
  ["consumer models empty string", { ...minimal(), consumers: [{ name: "c", apiKey: "consumer-key-1", models: [""] }] }],
  ["required member null", withAt(minimal(), "providers.0.host", null)],
  ["providers null", { providers: null }],
  ["auth with both null", withAt(minimal(), "providers.0.auth", { apiKey: null, apiKeyEnv: null })],
  ["a null deployment", { providers: [{ ...azure(), deployments: { "gpt-4o": null } }] }],
  ["OpenAI models map with an empty name", { providers: [{ ...openai(), models: { "gpt-4o": "" } }] }],
  ["OpenAI models map with an empty model", { providers: [{ ...openai(), models: { "": "x" } }] }],
  ["OpenAI models map with a number", { providers: [{ ...openai(), models: { "gpt-4o": 4 } }] }],
  ["fallbacks: a list that is a string", { ...minimal(), fallbacks: { "gpt-4o": "gpt-4o-mini" } }],
  ["fallbacks: an empty list", { ...minimal(), fallbacks: { "gpt-4o": [] } }],
  ["fallbacks: nine models", { ...minimal(), fallbacks: { "gpt-4o": Array.from({ length: 9 }, (_, i) => `m${i}`) } }],
  ["fallbacks: a duplicate", { ...minimal(), fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-4o-mini"] } }],
  ["fallbacks: an empty key", { ...minimal(), fallbacks: { "": ["gpt-4o"] } }],
  ["fallbacks: an array", { ...minimal(), fallbacks: ["gpt-4o"] }],
  ["contextWindowFallbacks: a list", { ...minimal(), contextWindowFallbacks: { "gpt-4o": ["gpt-4o-mini"] } }],
  ["contextWindowFallbacks: an empty model", { ...minimal(), contextWindowFallbacks: { "gpt-4o": "" } }],
  ["a fallback to a model no provider serves", { ...minimal(), fallbacks: { "gpt-4o": ["gpt-5"] } }],
  ["a model falling back to itself", { ...minimal(), fallbacks: { "gpt-4o": ["gpt-4o"] } }],
  ["a context fallback to itself", { ...minimal(), contextWindowFallbacks: { "gpt-4o": "gpt-4o" } }],
  ["a contextWindowFallbacks loop", { ...minimal(), contextWindowFallbacks: { "gpt-4o": "gpt-4o-mini", "gpt-4o-mini": "gpt-4o" } }],
  ["an unknown field set to null", { ...minimal(), retyr: null }],
  ["rule without a match", { ...minimal(), _rules_: [{ retry: { maxAttempts: 5 } }] }],
  ["rule with only a null match", { ...minimal(), _rules_: [{ _match_route_: null }] }],
  ["rule: empty _match_route_", { ...minimal(), _rules_: [{ _match_route_: [] }] }],
  ["rule: empty route name", { ...minimal(), _rules_: [{ _match_route_: [""] }] }],
  ["rule: duplicate route", { ...minimal(), _rules_: [{ _match_route_: ["a", "a"] }] }],
  ["rule: bad domains", { ...minimal(), _rules_: [{ _match_domain_: ["https://x.com"] }] }],
  ["rule: inner wildcard", { ...minimal(), _rules_: [{ _match_domain_: ["a.*.com"] }] }],
  ["rule not an object", { ...minimal(), _rules_: ["x"] }],
  ["_rules_ not an array", { ...minimal(), _rules_: { a: 1 } }],
  ["nested rules", { ...minimal(), _rules_: [{ _match_route_: ["r"], _rules_: [] }] }],
  ["unknown field in a rule", { ...minimal(), _rules_: [{ _match_route_: ["r"], retyr: {} }] }],
  ["invalid override", { ...minimal(), _rules_: [{ _match_route_: ["r"], retry: { maxAttempts: 0 } }] }],
  ["invalid provider in a rule", { ...minimal(), _rules_: [{ _match_route_: ["r"], providers: [{ ...openai(), name: "new", host: "http://x" }] }] }],
  ["rule: same name, different record", { ...minimal(), _rules_: [{ _match_route_: ["r"], providers: [{ ...openai(), host: "other.example.com" }] }] }],
  ["rule: same name, different key", { ...minimal(), _rules_: [{ _match_route_: ["r"], providers: [{ ...openai(), auth: { apiKey: "another-key-1234" } }] }] }],
  ["rule: consumer key = a rule provider's key", {
    ...minimal(), consumers: [{ name: "team-a", apiKey: CONSUMER_KEY }],
    _rules_: [{ _match_route_: ["r"], providers: [{ ...openai(), name: "p2", auth: { apiKey: CONSUMER_KEY } }] }],
  }],
];

/** The shared invalid cases (config.test.ts) that are JSON documents (not raw text). */
const INVALID: [string, unknown][] = [...INVALID_CASES.map(([n, c]) => [n, c] as [string, unknown]), ...EXTRA_INVALID];

describe("JSON Schema ⇔ the filter's validator", () => {
  it("the schema is itself valid draft 2020-12 and compiles in strict mode", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(ajv.validateSchema(schema)).toBe(true);
  });

  it.each(VALID_CASES)("valid for both: %s", (_n, cfg) => {
    const f = filterAccepts(cfg);
    expect(f.errors).toEqual([]);
    expect(schemaAccepts(cfg).errors).toEqual([]);
  });

  it.each(INVALID.filter(([n]) => !(n in KNOWN_DIFFERENCES)))("invalid for both: %s", (_n, cfg) => {
    expect(filterAccepts(cfg).ok, "the filter accepts it").toBe(false);
    expect(schemaAccepts(cfg).ok, "the schema accepts it").toBe(false);
  });

  it.each(Object.entries(KNOWN_DIFFERENCES))("known difference, still a difference: %s (%s)", (name) => {
    const found = INVALID.find(([n]) => n === name);
    expect(found, `no corpus case named ${name}`).toBeDefined();
    const cfg = found![1];
    expect(filterAccepts(cfg).ok, "the filter must reject it").toBe(false);
    expect(schemaAccepts(cfg).ok, "the schema accepts it (else drop it from KNOWN_DIFFERENCES)").toBe(true);
  });

  it("covers every field the filter reads: each member of the full config is known to the schema", () => {
    // Adding an unknown member anywhere fails both; removing the schema's knowledge of a real
    // member would fail the "valid for both" cases above.
    const unknownAt = ["", "providers.0", "providers.0.auth", "providers.0.limits", "providers.0.healthCheck", "healthCheck", "retry",
      "cooldown", "consumers.0", "streaming", "defaults"];
    for (const at of unknownAt) {
      const cfg = withAt(full(), at ? `${at}.zzUnknown` : "zzUnknown", 1);
      expect(filterAccepts(cfg).ok, at).toBe(false);
      expect(schemaAccepts(cfg).ok, at).toBe(false);
    }
    expect([AZURE_KEY, OPENAI_KEY].every((k) => !JSON.stringify(schema).includes(k))).toBe(true);
  });
});
