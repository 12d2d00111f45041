// Configuration layer (assembly/config/) through the unit build: parse → validate → complete.
// Table-driven: valid configs → the exact summary; each invalid config → the exact error(s)
// with their JSON paths; malformed JSON → a positioned syntax error, never a trap.
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";
import { AZURE_KEY, CONSUMER_KEY, INVALID_CASES, INVALID_ENV, OPENAI_KEY, azure, full, minimal, openai, withAt } from "./config-fixtures.js";

type Json = unknown;
type Summary = { config?: any; errors?: string[] };

function envText(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n");
}

function run(config: Json | string, env: Record<string, string> = { OAI_KEY: OPENAI_KEY }): Summary {
  const text = typeof config === "string" ? config : JSON.stringify(config);
  const out = configSummary(text, envText(env));
  return JSON.parse(out) as Summary;
}

function errorsOf(config: Json | string, env?: Record<string, string>): string[] {
  const r = run(config, env);
  expect(r.config, "expected errors, got a config").toBeUndefined();
  expect(Array.isArray(r.errors)).toBe(true);
  return r.errors!;
}

function configOf(config: Json | string, env?: Record<string, string>): any {
  const r = run(config, env);
  expect(r.errors, "expected a config").toBeUndefined();
  return r.config;
}

describe("valid configuration → completed model", () => {
  it("a full config: every field read, defaults filled, credentials resolved and masked", () => {
    const c = configOf(full());
    expect(c).toEqual({
      providers: [
        {
          name: "aoai-east-ptu", type: "azure-openai", cluster: "aoai-east", host: "aoai-east.openai.azure.com",
          basePath: "", api: "classic", apiVersion: "2024-10-21",
          deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini" }, models: ["gpt-4o", "gpt-4o-mini"], modelMap: {},
          credential: "****cdef", credentialSource: "apiKey", credentials: ["****cdef"], credentialSources: ["apiKey"], quota: "shared",
          priority: 0, weight: 3, includeUsage: true,
          limits: { tokensPerMinute: 10000, requestsPerMinute: 60, minRemainingTokens: 500, minRemainingRequests: 2, windowMs: 60000 },
          healthPath: "/openai/models?api-version=2024-10-21", fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        },
        {
          name: "openai-payg", type: "openai", cluster: "openai", host: "api.openai.com:443",
          basePath: "/v1", api: "", apiVersion: "", deployments: {}, models: ["gpt-4o", "gpt-4o-mini"], modelMap: {},
          credential: "****wxyz", credentialSource: "apiKeyEnv:OAI_KEY", credentials: ["****wxyz"], credentialSources: ["apiKeyEnv:OAI_KEY"],
          quota: "shared", priority: 1, weight: 1, includeUsage: false,
          limits: { tokensPerMinute: 0, requestsPerMinute: 0, minRemainingTokens: 0, minRemainingRequests: 0, windowMs: 60000 },
          healthPath: "", fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        },
      ],
      healthCheck: { enabled: true, intervalMs: 10000, timeoutMs: 1500, unhealthyThreshold: 3, healthyThreshold: 2 },
      retry: { maxAttempts: 4, onStatus: [429, 503], onConnectFailure: false, maxAnswerBytes: 8388608, maxHeldBodyBytes: 268435456, onContentFilter: true, onContextLength: false },
      cooldown: { defaultRateLimitMs: 5000, authFailureMs: 600000, consecutiveFailures: 5, baseEjectionMs: 30000, maxEjectionMs: 300000 },
      identities: [],
      consumers: [{ name: "team-a", credential: "****5b4a", credentialSource: "apiKey", tokensPerMinute: 5000, requestsPerMinute: 30, models: ["gpt-4o"] }],
      fallbacks: { "gpt-4o": ["gpt-4o-mini"] },
      contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o" },
      streaming: { allow: true, includeUsage: false },
      defaultMaxTokens: 2048,
      defaultImageTokens: 1445,
      maxRequestBodyBytes: 2097152,
      upstreamTimeoutMs: 120000,
      mode: "body",
      logLevel: 1,
      seed: 42,
      rules: [],
    });
  });

  it("a minimal config gets the documented defaults", () => {
    const c = configOf(minimal());
    expect(c.healthCheck).toEqual({ enabled: true, intervalMs: 10000, timeoutMs: 3000, unhealthyThreshold: 2, healthyThreshold: 1 });
    expect(c.retry).toEqual({ maxAttempts: 3, onStatus: [429, 500, 502, 503, 504], onConnectFailure: true, maxAnswerBytes: 16777216, maxHeldBodyBytes: 268435456, onContentFilter: false, onContextLength: false });
    expect(c.cooldown).toEqual({ defaultRateLimitMs: 10000, authFailureMs: 300000, consecutiveFailures: 3, baseEjectionMs: 30000, maxEjectionMs: 300000 });
    expect(c.streaming).toEqual({ allow: true, includeUsage: true });
    expect([c.defaultMaxTokens, c.maxRequestBodyBytes, c.upstreamTimeoutMs, c.logLevel, c.seed]).toEqual([1024, 1048576, 60000, 2, 0]);
    expect(c.providers[0]).toMatchObject({ priority: 1, weight: 1, basePath: "/v1" });
    expect(c.consumers).toEqual([]);
  });

  it.each([
    ["Azure v1 API with apiVersion", withAt(withAt(minimal(), "providers.0", azure()), "providers.0.api", "v1"), (c: any) => {
      expect(c.providers[0]).toMatchObject({ api: "v1", apiVersion: "2024-10-21" });
    }],
    ["Azure v1 API, apiVersion omitted", { providers: [{ ...azure(), api: "v1", apiVersion: undefined }] }, (c: any) => {
      expect(c.providers[0]).toMatchObject({ api: "v1", apiVersion: "" });
    }],
    ["Azure without deployments (model name = deployment)", { providers: [{ ...azure(), deployments: undefined }] }, (c: any) => {
      expect(c.providers[0]).toMatchObject({ deployments: {}, models: [] });
    }],
    ["preview api-version", withAt({ providers: [azure()] }, "providers.0.apiVersion", "2025-04-01-preview"), (c: any) => {
      expect(c.providers[0].apiVersion).toBe("2025-04-01-preview");
    }],
    ["IPv4 host with port and basePath", { providers: [{ ...openai(), host: "10.0.0.7:8080", basePath: "/compat/v1" }] }, (c: any) => {
      expect(c.providers[0]).toMatchObject({ host: "10.0.0.7:8080", basePath: "/compat/v1" });
    }],
    ["openai with empty basePath (root)", { providers: [{ ...openai(), basePath: "" }] }, (c: any) => {
      expect(c.providers[0].basePath).toBe("");
    }],
    ["weight 0 (drained) and a large priority", { providers: [{ ...openai(), weight: 0, priority: 7 }] }, (c: any) => {
      expect(c.providers[0]).toMatchObject({ weight: 0, priority: 7 });
    }],
    ["durations in ms, s, m, h and fractions", { ...minimal(), healthCheck: { interval: "1h", timeout: "250ms" }, upstreamTimeout: "0.5s" }, (c: any) => {
      expect([c.healthCheck.intervalMs, c.healthCheck.timeoutMs, c.upstreamTimeoutMs]).toEqual([3600000, 250, 500]);
    }],
    ["integers written as 1e3 / 10.0 (JSON numbers with integral values)", { ...minimal(), defaults: { maxTokens: 1e3 } }, (c: any) => {
      expect(c.defaultMaxTokens).toBe(1000);
    }],
    ["consumer credential from the environment", { ...minimal(), consumers: [{ name: "c1", apiKeyEnv: "C1_KEY" }] }, (c: any) => {
      expect(c.consumers[0]).toMatchObject({ name: "c1", credential: "****5678", credentialSource: "apiKeyEnv:C1_KEY" });
    }],
    ["empty onStatus list (no status retries)", { ...minimal(), retry: { onStatus: [] } }, (c: any) => {
      expect(c.retry.onStatus).toEqual([]);
    }],
  ] as [string, Json, (c: any) => void][])("%s", (_name, cfg, check) => {
    check(configOf(cfg, { OAI_KEY: OPENAI_KEY, C1_KEY: "consumer-1-12345678" }));
  });

  it("mode and limits.window", () => {
    expect(configOf(minimal()).mode).toBe("body");
    expect(configOf({ ...minimal(), mode: "body" }).mode).toBe("body");
    expect(configOf({ ...minimal(), mode: "headers" }).mode).toBe("headers");
    expect(configOf(withAt(minimal(), "providers.0.limits", { window: "10s" })).providers[0].limits.windowMs).toBe(10000);
    expect(configOf(withAt(minimal(), "providers.0.limits", { window: "1h" })).providers[0].limits.windowMs).toBe(3600000);
    expect(configOf(withAt(minimal(), "providers.0.limits", { window: "1s" })).providers[0].limits.windowMs).toBe(1000);
    expect(configOf(withAt(minimal(), "providers.0.limits", { tokensPerMinute: 5 })).providers[0].limits.windowMs).toBe(60000);
  });

  it("text details: byte order mark, escaped keys, pretty printing, CRLF", () => {
    const text = JSON.stringify(minimal(), null, 2).replace(/\n/g, "\r\n").replace('"providers"', '"provid\\u0065rs"');
    expect(configOf("\uFEFF" + text).providers[0].name).toBe("openai-payg");
  });
});

describe("invalid configuration → every error, by path", () => {

  it.each(INVALID_CASES)("%s", (_name, cfg, expected) => {
    expect(errorsOf(cfg, INVALID_ENV)).toEqual(expected);
  });

  it("lists several errors at once, in document order", () => {
    const cfg = {
      providers: [
        { name: "a", type: "openai", cluster: "", host: "https://api.openai.com", auth: { apiKeyEnv: "NOPE" }, weigth: 2 },
        { name: "a", type: "azure-openai", cluster: "c", host: "h", auth: { apiKey: "" } },
      ],
      retry: { maxAttempts: 0 },
      logLevel: 3,
    };
    expect(errorsOf(cfg)).toEqual([
      "providers[0].cluster: must not be empty",
      "providers[0].host: must not include a scheme: drop \"https://\" and write \"api.openai.com\" (TLS is configured on the Envoy cluster)",
      "providers[0].auth.apiKeyEnv: environment variable \"NOPE\" is not set: it must be listed in the VM's environment (Envoy: vm_config.environment_variables key_values, or host_env_keys with the variable set for Envoy; Higress: vmConfig.env)",
      "providers[0].weigth: unknown field (did you mean weight?)",
      "providers[1].apiVersion: required (the api-version for classic Azure paths, e.g. \"2024-10-21\")",
      "providers[1].auth.apiKey: must not be empty",
      "providers[1].name: duplicate provider name \"a\" (also providers[0]); names must be unique",
      "retry.maxAttempts: must be an integer between 1 and 10, found 0",
      "logLevel: expected a string, found a number",
    ]);
  });

  it("never puts a credential in an error message", () => {
    const secret = "SuperSecretValue0123456789";
    const bad = [
      { providers: [{ ...openai(), auth: { apiKey: secret + " " } }] },
      { providers: [{ ...openai(), auth: { apiKeyEnv: secret } }] },
      { providers: [{ ...openai(), auth: { apiKeyEnv: "SECRET_ENV" } }], consumers: [{ name: "x", apiKey: secret }, { name: "y", apiKey: secret }] },
      { providers: [{ ...openai(), auth: { apiKey: secret } }], consumers: [{ name: "x", apiKey: secret }] },
      { providers: [{ ...openai(), auth: { apiKey: secret, apiKeyEnv: "X" } }] },
      { providers: [{ ...openai(), auth: { apiKey: secret }, host: "https://h" }] },
      `{"providers":[{"auth":{"apiKey":"${secret}\u0001"}}]}`,
      `{"providers":[{"auth":{"apiKey":"${secret}`,
      `{"providers":[{"auth":{"apiKey":${secret}}}]}`,
      `{"providers":[{"auth":{"apiKey":"${secret}\\q"}}]}`,
    ];
    for (const cfg of bad) {
      const errors = errorsOf(cfg, { OAI_KEY: OPENAI_KEY, SECRET_ENV: secret + "\n" });
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        for (let i = 0; i + 6 <= secret.length; i++) expect(e).not.toContain(secret.slice(i, i + 6));
      }
    }
  });

  it("reports an env value with a trailing newline without showing it", () => {
    expect(errorsOf(withAt(minimal(), "providers.0.auth", { apiKeyEnv: "NL_KEY" }), { NL_KEY: "abc123\r" })).toEqual([
      "providers[0].auth.apiKeyEnv: environment variable \"NL_KEY\" must contain only printable ASCII characters without spaces (it is sent as a header value) (check for a trailing newline)",
    ]);
  });
});

describe("malformed JSON → one positioned syntax error, never a trap", () => {
  const cases: [string, string, string][] = [
    ["empty text", "", "line 1, column 1: expected a value (string, number, object, array, true, false or null), found end of input"],
    ["only spaces", "  \n ", "line 2, column 2: expected a value (string, number, object, array, true, false or null), found end of input"],
    ["trailing comma in object", '{"a":1,}', "line 1, column 8: trailing comma before '}'"],
    ["trailing comma in array", '{"a":[1,\n]}', "line 2, column 1: trailing comma before ']'"],
    ["single quotes", "{'a':1}", "line 1, column 2: expected a double-quoted key, found ' (strings and keys must use double quotes)"],
    ["unquoted key", "{a:1}", "line 1, column 2: expected a double-quoted key, found an unexpected character"],
    ["comment", '{"a":1 // x\n}', "line 1, column 8: expected ',' or '}' after an object member, found / (comments are not allowed in JSON)"],
    ["missing colon", '{"a" 1}', "line 1, column 6: expected ':' after the key, found an unexpected character"],
    ["missing comma", '{"a":1 "b":2}', "line 1, column 8: expected ',' or '}' after an object member, found '\"'"],
    ["content after the value", '{"a":1} x', "line 1, column 9: expected the end of the text after the JSON value, found an unexpected character"],
    ["two values", "{} {}", "line 1, column 4: expected the end of the text after the JSON value, found '{'"],
    ["mismatched bracket", '{"a":[1}', "line 1, column 8: expected ',' or ']' after an array element, found '}'"],
    ["unterminated object", '{"a":1', "line 1, column 7: expected ',' or '}' after an object member, found end of input"],
    ["unterminated string", '{"a":"xyz', "line 1, column 10: unterminated string"],
    ["raw newline in string", '{"a":"x\ny"}', "line 1, column 8: unterminated string (line break inside a string)"],
    ["raw tab in string", '{"a":"x\ty"}', "line 1, column 8: control character inside a string (write it as an escape such as \\t)"],
    ["bad escape", '{"a":"\\x"}', "line 1, column 7: invalid escape sequence in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"],
    ["bad unicode escape", '{"a":"\\u12G4"}', "line 1, column 7: invalid \\u escape in string (expected 4 hex digits)"],
    ["leading zero", '{"a":01}', "line 1, column 7: numbers must not have leading zeros"],
    ["bare minus", '{"a":-}', "line 1, column 7: expected a digit in number, found '}'"],
    ["dot without digits", '{"a":1.}', "line 1, column 8: expected a digit after the decimal point, found '}'"],
    ["exponent without digits", '{"a":1e}', "line 1, column 8: expected a digit in the exponent, found '}'"],
    ["NaN", '{"a":NaN}', "line 1, column 6: expected a value (string, number, object, array, true, false or null), found an unexpected character"],
    ["misspelled literal", '{"a":tru}', "line 1, column 6: expected a value (string, number, object, array, true, false or null), found 't'".replace("'t'", "an unexpected character")],
    ["non-breaking space", '{"a":\u00a01}', "line 1, column 6: expected a value (string, number, object, array, true, false or null), found a space character JSON does not allow (U+00A0)"],
    ["YAML instead of JSON", "providers:\n  - name: a", "line 1, column 1: expected a value (string, number, object, array, true, false or null), found an unexpected character"],
  ];

  it.each(cases)("%s", (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(["configuration: invalid JSON at " + expected]);
  });

  it("limits nesting depth (64) instead of recursing", () => {
    const deep = '{"x":' + "[".repeat(200) + "]".repeat(200) + "}";
    expect(errorsOf(deep)).toEqual(["configuration: invalid JSON at line 1, column 69: nesting deeper than 64 levels"]);
    const ok = { ...minimal(), x: JSON.parse("[".repeat(60) + "]".repeat(60)) };
    expect(errorsOf(ok)).toEqual(["x: unknown field"]);
  });

  it("reports every duplicate key with its path", () => {
    const text = '{"providers":[{"name":"a",\n"name":"b"}],"seed":1,"seed":2}';
    expect(errorsOf(text)).toEqual([
      "providers[0].name: duplicate key (line 2, column 1); a key may appear only once in an object",
      "seed: duplicate key (line 2, column 23); a key may appear only once in an object",
    ]);
  });

  it("treats keys that differ only by escapes as duplicates", () => {
    expect(errorsOf('{"seed":1,"s\\u0065ed":2}')).toEqual([
      "seed: duplicate key (line 1, column 11); a key may appear only once in an object",
    ]);
  });
});

describe("_rules_ (Higress per-route / per-domain overrides)", () => {
  const rulesBase = () => ({ providers: [azure(), openai()], retry: { maxAttempts: 2 } });

  it("accepts rules: each is the global config with the rule's members replacing top-level ones", () => {
    const c = configOf({
      ...rulesBase(),
      _rules_: [
        { _match_route_: ["chat-route"], retry: { maxAttempts: 5 } },
        { _match_domain_: ["*.example.com", "api.example.org"], providers: [openai()], streaming: { allow: false } },
      ],
    });
    expect(c.retry.maxAttempts).toBe(2);
    expect(c.rules).toHaveLength(2);
    expect(c.rules[0]).toMatchObject({ matchRoutes: ["chat-route"], matchDomains: [] });
    expect(c.rules[0].config.retry.maxAttempts).toBe(5);
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["aoai-east-ptu", "openai-payg"]);
    expect(c.rules[1]).toMatchObject({ matchRoutes: [], matchDomains: ["*.example.com", "api.example.org"] });
    expect(c.rules[1].config.providers.map((p: any) => p.name)).toEqual(["openai-payg"]);
    expect(c.rules[1].config.providers[0].fingerprint).toBe(c.providers[1].fingerprint);
    expect(c.rules[1].config.retry.maxAttempts).toBe(2);
    expect(c.rules[1].config.streaming.allow).toBe(false);
    expect(c.rules[1].config.rules).toEqual([]);
  });

  // A provider or list repeated byte for byte is read once (ProviderMemo); what was wrong with it
  // is still reported at every place it occurs.
  it("a provider list repeated byte for byte in rules is checked, and reported, in each", () => {
    const bad = { ...openai(), host: "https://api.openai.com" };
    const scheme = 'must not include a scheme: drop "https://" and write "api.openai.com" (TLS is configured on the Envoy cluster)';
    expect(errorsOf({ providers: [azure(), bad], _rules_: [{ _match_route_: ["a"], providers: [azure(), bad] }, { _match_route_: ["b"], providers: [azure(), bad] }] }))
      .toEqual([`providers[1].host: ${scheme}`, `_rules_[0].providers[1].host: ${scheme}`, `_rules_[1].providers[1].host: ${scheme}`]);
    const twice = [azure(), openai(), azure()];
    expect(errorsOf({ providers: [azure()], _rules_: [{ _match_route_: ["a"], providers: twice }, { _match_route_: ["b"], providers: twice }] })).toEqual([
      '_rules_[0].providers[2].name: duplicate provider name "aoai-east-ptu" (also _rules_[0].providers[0]); names must be unique',
      '_rules_[1].providers[2].name: duplicate provider name "aoai-east-ptu" (also _rules_[1].providers[0]); names must be unique',
    ]);
    const c = configOf({ ...rulesBase(), _rules_: [{ _match_route_: ["a"], providers: [azure(), openai()] }, { _match_route_: ["b"], providers: [openai(), azure()] }] });
    for (const r of c.rules) expect(r.config.providers).toEqual(r === c.rules[0] ? c.providers : [c.providers[1], c.providers[0]]);
  });

  it("a rule may add a provider under a new name", () => {
    const extra = { ...openai(), name: "openai-2", host: "eu.api.openai.com" };
    const c = configOf({ ...rulesBase(), _rules_: [{ _match_route_: ["r"], providers: [openai(), extra] }] });
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["openai-payg", "openai-2"]);
  });

  it.each([
    ["rule without a match", [{ retry: { maxAttempts: 5 } }], ["_rules_[0]: needs _match_route_, _match_domain_, _match_service_ or _match_route_prefix_"]],
    ["empty _match_route_", [{ _match_route_: [] }], ["_rules_[0]._match_route_: must list at least one route name"]],
    ["empty route name", [{ _match_route_: [""] }], ["_rules_[0]._match_route_[0]: must not be empty"]],
    // One category per rule, as Higress's plugins match: what Higress would ignore is an error here.
    ["route with domain", [{ _match_route_: ["r"], _match_domain_: ["a.example.com"] }],
      ["_rules_[0]._match_domain_: cannot be combined with _match_route_: Higress matches such a rule on _match_route_ alone and ignores this list; write one rule for each"]],
    ["domain with service and prefix", [{ _match_domain_: ["a.example.com"], _match_service_: ["llm.dns"], _match_route_prefix_: ["b"] }], [
      "_rules_[0]._match_service_: cannot be combined with _match_domain_: Higress matches such a rule on _match_domain_ alone and ignores this list; write one rule for each",
      "_rules_[0]._match_route_prefix_: cannot be combined with _match_domain_: Higress matches such a rule on _match_domain_ alone and ignores this list; write one rule for each",
    ]],
    ["bad services", [{ _match_service_: ["outbound|443||llm.dns", "llm.dns:99999", "", "llm.dns", "llm.dns"] }], [
      "_rules_[0]._match_service_[2]: must not be empty",
      "_rules_[0]._match_service_[4]: duplicate value \"llm.dns\"",
      "_rules_[0]._match_service_[0]: must be a service name (\"name.namespace.svc.cluster.local\", \"name.dns\"), optionally \":port\", not a cluster name: found \"outbound|443||llm.dns\"",
      "_rules_[0]._match_service_[1]: port must be a number between 1 and 65535",
    ]],
    ["empty route prefix list", [{ _match_route_prefix_: [] }], ["_rules_[0]._match_route_prefix_: must list at least one route name prefix"]],
    ["bad domain", [{ _match_domain_: ["https://x.com", "a.*.com", "a.example.com:8443"] }], [
      "_rules_[0]._match_domain_[0]: must not include a scheme: drop \"https://\" and write \"x.com\" (TLS is configured on the Envoy cluster)",
      "_rules_[0]._match_domain_[1]: only a leading \"*.\" wildcard is allowed",
      "_rules_[0]._match_domain_[2]: must be a host name without a port (rules match the host name of :authority, whatever its port)",
    ]],
    ["rule not an object", ["x"], ["_rules_[0]: expected an object, found a string"]],
    ["_rules_ not an array", { a: 1 }, ["_rules_: expected an array, found an object"]],
    ["nested rules", [{ _match_route_: ["r"], _rules_: [] }], ["_rules_[0]._rules_: rules cannot be nested"]],
    ["unknown field in a rule", [{ _match_route_: ["r"], retyr: {} }], ["_rules_[0].retyr: unknown field (did you mean retry?)"]],
    ["invalid override", [{ _match_route_: ["r"], retry: { maxAttempts: 0 } }], ["_rules_[0].retry.maxAttempts: must be an integer between 1 and 10, found 0"]],
    ["invalid provider in a rule", [{ _match_route_: ["r"], providers: [{ ...openai(), name: "new", host: "http://x" }] }],
      ["_rules_[0].providers[0].host: must not include a scheme: drop \"http://\" and write \"x\" (TLS is configured on the Envoy cluster)"]],
    ["same name, different record", [{ _match_route_: ["r"], providers: [{ ...openai(), host: "other.example.com" }] }],
      ["_rules_[0].providers[0]: provider \"openai-payg\" is already defined at providers[1] with a different record (type, cluster, host, basePath, api, apiVersion, deployments or credential); a provider's name is its identity: rename one or make them equal"]],
    ["same name, different key", [{ _match_route_: ["r"], providers: [{ ...openai(), auth: { apiKey: "another-key-1234" } }] }],
      ["_rules_[0].providers[0]: provider \"openai-payg\" is already defined at providers[1] with a different record (type, cluster, host, basePath, api, apiVersion, deployments or credential); a provider's name is its identity: rename one or make them equal"]],
    ["a combination error shows under the rule", [{ _match_route_: ["r"], providers: [{ ...openai(), name: "p2", auth: { apiKey: CONSUMER_KEY } }] }],
      ["_rules_[0]: consumers[0].apiKey: equals the credential of provider \"p2\": a client could present a provider key; issue consumers their own keys"]],
  ] as [string, Json, string[]][])("%s", (_name, rules, expected) => {
    const cfg = { ...rulesBase(), consumers: [{ name: "team-a", apiKey: CONSUMER_KEY }], _rules_: rules };
    expect(errorsOf(cfg)).toEqual(expected);
  });

  it("accessLog: info, debug or off; anything else is an error at its path", () => {
    expect(errorsOf({ ...rulesBase(), accessLog: "verbose" })).toEqual(["accessLog: must be one of \"info\", \"debug\", \"off\", found \"verbose\""]);
    for (const v of ["info", "debug", "off"]) expect(configOf({ ...rulesBase(), accessLog: v })).toBeDefined();
  });

  it("does not repeat a global error under every rule", () => {
    const cfg = { ...rulesBase(), logLevel: "loud", _rules_: [{ _match_route_: ["a"] }, { _match_route_: ["b"], seed: -2 }] };
    expect(errorsOf(cfg)).toEqual([
      "logLevel: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\", found \"loud\"",
      "_rules_[1].seed: must be an integer ≥ 0, found -2",
    ]);
  });
});

describe("provider fingerprint", () => {
  const fp = (p: Json, env: Record<string, string> = { OAI_KEY: OPENAI_KEY }) => configOf({ providers: [p] }, env).providers[0].fingerprint as string;

  it("changes with every part of the record, never with priority, weight or limits", () => {
    const base = fp(azure());
    for (const [k, v] of [
      ["cluster", "c2"], ["host", "h2.example.com"], ["basePath", "/x"], ["apiVersion", "2024-06-01"],
      ["deployments", { "gpt-4o": "other" }], ["auth", { apiKey: AZURE_KEY + "0" }], ["api", "v1"],
    ] as [string, unknown][]) {
      expect(fp({ ...azure(), [k]: v }), k).not.toBe(base);
    }
    expect(fp({ ...azure(), type: "openai", apiVersion: undefined, deployments: undefined, basePath: "" })).not.toBe(base);
    expect(fp({ ...azure(), priority: 5, weight: 9, limits: { tokensPerMinute: 1 }, name: "renamed" })).toBe(base);
    expect(fp({ ...azure(), deployments: { "gpt-4o-mini": "mini", "gpt-4o": "gpt4o-ptu" } })).toBe(base);
  });

  it("follows the resolved credential, not where it came from", () => {
    const inline = fp({ ...openai(), auth: { apiKey: OPENAI_KEY } });
    expect(fp(openai())).toBe(inline);
    expect(fp(openai(), { OAI_KEY: OPENAI_KEY + "x" })).not.toBe(inline);
    expect(inline).not.toContain(OPENAI_KEY.slice(-4));
  });
});

describe("null counts as absent for optional fields (Higress YAML `key:` with no value)", () => {
  const base = () => configOf(full());
  /** A copy without the object members that are null (array elements are kept). */
  const dropNulls = (v: any): any =>
    Array.isArray(v) ? v.map(dropNulls)
      : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]))
        : v;

  it("every optional member of the full config, set to null one at a time, reads as if absent", () => {
    const paths: string[] = [];
    const walk = (v: any, path: string) => {
      if (v === null || typeof v !== "object") return;
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        paths.push(p);
        walk(x, p);
      }
    };
    walk(full(), "");
    let optional = 0;
    for (const p of paths) {
      // Entries of the deployments and fallback maps are data, not optional fields: `gpt-4o:`
      // with no deployment (or fallback) is a mistake and stays an error (see below).
      if (/(^|\.)(deployments|fallbacks|contextWindowFallbacks)\./.test(p)) continue;
      const absent = run(withAt(full(), p, undefined));
      const nulled = run(withAt(full(), p, null));
      if (absent.config !== undefined) {
        optional++;
        expect(nulled, p).toEqual(absent);
      } else {
        // Required (or part of a list): null is an error too, never a config.
        expect(nulled.config, p).toBeUndefined();
      }
    }
    expect(optional).toBeGreaterThan(40);
  });

  it("every optional field set to null reads as its default", () => {
    const nulls = {
      providers: [
        {
          ...azure(), api: null, deployments: null, priority: null, weight: null, basePath: null, healthCheck: null,
          limits: { tokensPerMinute: null, requestsPerMinute: null, minRemainingTokens: null, minRemainingRequests: null, window: null },
        },
        { ...openai(), priority: null, limits: null, basePath: null, apiVersion: null, deployments: null, api: null },
      ],
      healthCheck: { enabled: null, interval: null, timeout: null, unhealthyThreshold: null, healthyThreshold: null },
      retry: { maxAttempts: null, onStatus: null, onConnectFailure: null },
      cooldown: { rateLimitDefault: null, authFailure: null, baseEjection: null, maxEjection: null, consecutiveFailures: null },
      consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, apiKeyEnv: null, tokensPerMinute: null, requestsPerMinute: null, models: null }],
      streaming: { allow: null, includeUsage: null },
      defaults: { maxTokens: null },
      maxRequestBodyBytes: null, upstreamTimeout: null, logLevel: null, seed: null, mode: null, _rules_: null,
      fallbacks: null, contextWindowFallbacks: null,
    };
    const c = configOf(nulls);
    expect(c).toEqual(configOf(dropNulls(nulls)));
    expect(c.providers[0]).toMatchObject({ api: "classic", priority: 0, weight: 1, basePath: "", deployments: {}, healthPath: "" });
    expect(c.providers[0].limits).toEqual({ tokensPerMinute: 0, requestsPerMinute: 0, minRemainingTokens: 0, minRemainingRequests: 0, windowMs: 60000 });
    expect(c.providers[1].basePath).toBe("/v1");
    expect(c.retry).toEqual(configOf(minimal()).retry);
    expect(c.mode).toBe("body");
    expect(c.rules).toEqual([]);
  });

  it("whole sections set to null read as absent", () => {
    const c = configOf({ ...minimal(), healthCheck: null, retry: null, cooldown: null, consumers: null, streaming: null, defaults: null });
    const d = configOf(minimal());
    expect(c).toEqual(d);
    expect(base().retry.maxAttempts).toBe(4); // (the full config is read, not defaulted)
  });

  it("a null credential member is absent: the other one is used", () => {
    const c = configOf(withAt(minimal(), "providers.0.auth", { apiKey: null, apiKeyEnv: "OAI_KEY" }));
    expect(c.providers[0].credentialSource).toBe("apiKeyEnv:OAI_KEY");
    expect(configOf({ ...minimal(), consumers: [{ name: "c", apiKey: "consumer-key-1", apiKeyEnv: null }] }).consumers[0].credentialSource).toBe("apiKey");
  });

  it.each([
    ["required provider fields", withAt(withAt(withAt(minimal(), "providers.0.name", null), "providers.0.type", null), "providers.0.cluster", null), [
      "providers[0].name: required (a unique name: letters, digits, '.', '_' or '-'), found null",
      "providers[0].type: required (\"azure-openai\" or \"openai\"), found null",
      "providers[0].cluster: required (the Envoy cluster that reaches host), found null",
    ]],
    ["auth null", withAt(minimal(), "providers.0.auth", null), ["providers[0].auth: required ({ apiKey }, { apiKeyEnv }, { identity } or { credentials: [...] }), found null"]],
    ["both credential members null", withAt(minimal(), "providers.0.auth", { apiKey: null, apiKeyEnv: null }),
      ["providers[0].auth: a credential is required for every provider: set apiKey, apiKeyEnv naming an environment variable, identity naming an entry of identities, or credentials listing several"]],
    ["Azure classic apiVersion null", { providers: [{ ...azure(), apiVersion: null }] },
      ["providers[0].apiVersion: required (the api-version for classic Azure paths, e.g. \"2024-10-21\"), found null"]],
    ["consumer name null", { ...minimal(), consumers: [{ name: null, apiKey: "consumer-key-1" }] },
      ["consumers[0].name: required (a unique name: letters, digits, '.', '_' or '-'), found null"]],
    ["null inside a list is still an error", { ...minimal(), retry: { onStatus: [429, null] } }, ["retry.onStatus[1]: expected an integer between 400 and 599, found null"]],
    ["a null deployment is still an error", { providers: [{ ...azure(), deployments: { "gpt-4o": null } }] }, ["providers[0].deployments.gpt-4o: expected a string, found null"]],
    ["a null fallback list is still an error", { ...minimal(), fallbacks: { "gpt-4o": null } }, ["fallbacks.gpt-4o: expected an array, found null"]],
    ["an unknown field set to null is still unknown", { ...minimal(), retyr: null }, ["retyr: unknown field (did you mean retry?)"]],
  ] as [string, Json, string[]][])("errors stay errors: %s", (_n, cfg, expected) => {
    expect(errorsOf(cfg)).toEqual(expected);
  });

  it("a rule member set to null overrides nothing: the global value stays", () => {
    const c = configOf({ providers: [openai()], retry: { maxAttempts: 2 }, _rules_: [{ _match_route_: ["r"], retry: null, providers: null, _match_domain_: null }] });
    expect(c.rules[0].config.retry.maxAttempts).toBe(2);
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["openai-payg"]);
    expect(c.rules[0].matchDomains).toEqual([]);
    expect(errorsOf({ providers: [openai()], _rules_: [{ _match_route_: null }] })).toEqual(["_rules_[0]: needs _match_route_, _match_domain_, _match_service_ or _match_route_prefix_"]);
  });
});
