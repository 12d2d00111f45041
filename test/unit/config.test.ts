// Configuration layer (assembly/config/) through the unit build: parse → validate → complete.
// Table-driven: valid configs → the exact summary; each invalid config → the exact error(s)
// with their JSON paths; malformed JSON → a positioned syntax error, never a trap.
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";

type Json = unknown;
type Summary = { config?: any; errors?: string[] };

const AZURE_KEY = "0123456789abcdef0123456789abcdef";
const OPENAI_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz";
const CONSUMER_KEY = "team-a-9f8e7d6c5b4a";

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

const clone = <T>(v: T): T => structuredClone(v);

const azure = () => ({
  name: "aoai-east-ptu",
  type: "azure-openai",
  cluster: "aoai-east",
  host: "aoai-east.openai.azure.com",
  apiVersion: "2024-10-21",
  deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini" },
  auth: { apiKey: AZURE_KEY },
  priority: 0,
  weight: 3,
  limits: { tokensPerMinute: 10000, requestsPerMinute: 60, minRemainingTokens: 500, minRemainingRequests: 2 },
  healthCheck: { path: "/openai/models?api-version=2024-10-21" },
});

const openai = () => ({
  name: "openai-payg",
  type: "openai",
  cluster: "openai",
  host: "api.openai.com:443",
  models: ["gpt-4o", "gpt-4o-mini"],
  auth: { apiKeyEnv: "OAI_KEY" },
  priority: 1,
});

const full = () => ({
  providers: [azure(), openai()],
  healthCheck: { enabled: true, interval: "10s", timeout: "1.5s", unhealthyThreshold: 3, healthyThreshold: 2 },
  retry: { maxAttempts: 4, onStatus: [429, 503], onConnectFailure: false },
  cooldown: { rateLimitDefault: "5s", authFailure: "10m", baseEjection: "30s", maxEjection: "5m", consecutiveFailures: 5 },
  consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 5000, requestsPerMinute: 30, models: ["gpt-4o"] }],
  streaming: { allow: true, includeUsage: false },
  defaults: { maxTokens: 2048 },
  maxRequestBodyBytes: 2097152,
  upstreamTimeout: "2m",
  logLevel: "debug",
  seed: 42,
});

const minimal = () => ({ providers: [openai()] });

/** Sets `value` at a dotted/indexed path ("providers.0.host") of a copy of `base`. */
function withAt(base: any, path: string, value: unknown): any {
  const copy = clone(base);
  const parts = path.split(".");
  let o = copy;
  for (const p of parts.slice(0, -1)) o = o[p];
  const last = parts[parts.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
  return copy;
}

describe("valid configuration → completed model", () => {
  it("a full config: every field read, defaults filled, credentials resolved and masked", () => {
    const c = configOf(full());
    expect(c).toEqual({
      providers: [
        {
          name: "aoai-east-ptu", type: "azure-openai", cluster: "aoai-east", host: "aoai-east.openai.azure.com",
          basePath: "", api: "classic", apiVersion: "2024-10-21",
          deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini" }, models: ["gpt-4o", "gpt-4o-mini"],
          credential: "****cdef", credentialSource: "apiKey", priority: 0, weight: 3,
          limits: { tokensPerMinute: 10000, requestsPerMinute: 60, minRemainingTokens: 500, minRemainingRequests: 2, windowMs: 60000 },
          healthPath: "/openai/models?api-version=2024-10-21", fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        },
        {
          name: "openai-payg", type: "openai", cluster: "openai", host: "api.openai.com:443",
          basePath: "/v1", api: "", apiVersion: "", deployments: {}, models: ["gpt-4o", "gpt-4o-mini"],
          credential: "****wxyz", credentialSource: "apiKeyEnv:OAI_KEY", priority: 1, weight: 1,
          limits: { tokensPerMinute: 0, requestsPerMinute: 0, minRemainingTokens: 0, minRemainingRequests: 0, windowMs: 60000 },
          healthPath: "", fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        },
      ],
      healthCheck: { enabled: true, intervalMs: 10000, timeoutMs: 1500, unhealthyThreshold: 3, healthyThreshold: 2 },
      retry: { maxAttempts: 4, onStatus: [429, 503], onConnectFailure: false },
      cooldown: { defaultRateLimitMs: 5000, authFailureMs: 600000, consecutiveFailures: 5, baseEjectionMs: 30000, maxEjectionMs: 300000 },
      consumers: [{ name: "team-a", credential: "****5b4a", credentialSource: "apiKey", tokensPerMinute: 5000, requestsPerMinute: 30, models: ["gpt-4o"] }],
      streaming: { allow: true, includeUsage: false },
      defaultMaxTokens: 2048,
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
    expect(c.retry).toEqual({ maxAttempts: 3, onStatus: [429, 500, 502, 503, 504], onConnectFailure: true });
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
  const cases: [string, Json, string[]][] = [
    ["no providers", {}, ["providers: required (at least one provider)"]],
    ["empty providers", { providers: [] }, ["providers: must list at least one provider"]],
    ["providers not an array", { providers: { a: 1 } }, ["providers: expected an array, found an object"]],
    ["provider not an object", { providers: ["x"] }, ["providers[0]: expected an object, found a string"]],
    ["empty apiKey", withAt(minimal(), "providers.0.auth", { apiKey: "" }), ["providers[0].auth.apiKey: must not be empty"]],
    ["apiKey with a space (header injection)", withAt(minimal(), "providers.0.auth", { apiKey: "Bearer x" }),
      ["providers[0].auth.apiKey: must contain only printable ASCII characters without spaces (it is sent as a header value); value not shown"]],
    ["both apiKey and apiKeyEnv", withAt(minimal(), "providers.0.auth", { apiKey: "k-123", apiKeyEnv: "OAI_KEY" }),
      ["providers[0].auth: set exactly one of apiKey or apiKeyEnv, not both"]],
    ["no credential", withAt(minimal(), "providers.0.auth", {}),
      ["providers[0].auth: a credential is required for every provider: set apiKey, or apiKeyEnv naming an environment variable"]],
    ["no auth", withAt(minimal(), "providers.0.auth", undefined), ["providers[0].auth: required ({ apiKey } or { apiKeyEnv })"]],
    ["apiKeyEnv unset", withAt(minimal(), "providers.0.auth", { apiKeyEnv: "MISSING_KEY" }),
      ["providers[0].auth.apiKeyEnv: environment variable \"MISSING_KEY\" is not set: it must be listed in vm_config.environment_variables (key_values, or host_env_keys with the variable set for Envoy)"]],
    ["apiKeyEnv empty", withAt(minimal(), "providers.0.auth", { apiKeyEnv: "EMPTY_KEY" }),
      ["providers[0].auth.apiKeyEnv: environment variable \"EMPTY_KEY\" is empty: it must be listed in vm_config.environment_variables (key_values, or host_env_keys with the variable set for Envoy)"]],
    ["apiKeyEnv not a variable name", withAt(minimal(), "providers.0.auth", { apiKeyEnv: "sk-live-123" }),
      ["providers[0].auth.apiKeyEnv: must be an environment variable name (letters, digits and '_', not starting with a digit); value not shown"]],
    ["duplicate provider name", { providers: [openai(), { ...openai(), host: "other.example.com" }] },
      ["providers[1].name: duplicate provider name \"openai-payg\" (also providers[0]); names must be unique"]],
    ["bad name", withAt(minimal(), "providers.0.name", "open ai/1"),
      ["providers[0].name: must be 1-64 characters of letters, digits, '.', '_' or '-' (it becomes part of shared-data keys, metric names and a response header), found \"open ai/1\""]],
    ["host with scheme", withAt(minimal(), "providers.0.host", "https://x.openai.azure.com"),
      ["providers[0].host: must not include a scheme: drop \"https://\" and write \"x.openai.azure.com\" (TLS is configured on the Envoy cluster)"]],
    ["host with path", withAt(minimal(), "providers.0.host", "api.openai.com/v1"),
      ["providers[0].host: must not include a path: write \"api.openai.com\" and put a path prefix in basePath"]],
    ["host with space", withAt(minimal(), "providers.0.host", "api.openai.com "), ["providers[0].host: must not contain spaces or control characters"]],
    ["host port 0", withAt(minimal(), "providers.0.host", "api.openai.com:0"), ["providers[0].host: port must be a number between 1 and 65535"]],
    ["host port 70000", withAt(minimal(), "providers.0.host", "h:70000"), ["providers[0].host: port must be a number between 1 and 65535"]],
    ["bad IPv4", withAt(minimal(), "providers.0.host", "300.1.2.3"), ["providers[0].host: is not a valid IPv4 address (four numbers 0-255 separated by dots)"]],
    ["IPv6", withAt(minimal(), "providers.0.host", "[::1]:80"), ["providers[0].host: IPv6 addresses are not supported: use a host name"]],
    ["empty host", withAt(minimal(), "providers.0.host", ""), ["providers[0].host: must not be empty"]],
    ["missing cluster", withAt(minimal(), "providers.0.cluster", undefined), ["providers[0].cluster: required (the Envoy cluster that reaches host)"]],
    ["empty cluster", withAt(minimal(), "providers.0.cluster", ""), ["providers[0].cluster: must not be empty"]],
    ["unknown field with hint", withAt(minimal(), "providers.0.hots", "x"), ["providers[0].hots: unknown field (did you mean host?)"]],
    ["unknown top-level field", { ...minimal(), retries: {} }, ["retries: unknown field (did you mean retry?)"]],
    ["unknown field, transposed", { ...minimal(), retyr: {} }, ["retyr: unknown field (did you mean retry?)"]],
    ["unknown field, no near name", { ...minimal(), zzzzzz: 1 }, ["zzzzzz: unknown field"]],
    ["unknown type", withAt(minimal(), "providers.0.type", "anthropic"), ["providers[0].type: must be \"azure-openai\" or \"openai\", found \"anthropic\""]],
    ["missing type", withAt(minimal(), "providers.0.type", undefined), ["providers[0].type: required (\"azure-openai\" or \"openai\")"]],
    ["priority as string", withAt(minimal(), "providers.0.priority", "1"), ["providers[0].priority: expected an integer between 0 and 2147483647, found a string"]],
    ["negative priority", withAt(minimal(), "providers.0.priority", -1), ["providers[0].priority: must be an integer between 0 and 2147483647, found -1"]],
    ["weight too big", withAt(minimal(), "providers.0.weight", 1001), ["providers[0].weight: must be an integer between 0 and 1000, found 1001"]],
    ["fractional weight", withAt(minimal(), "providers.0.weight", 1.5), ["providers[0].weight: expected an integer between 0 and 1000, found 1.5"]],
    ["huge limit", withAt(minimal(), "providers.0.limits", { tokensPerMinute: 1e300 }), ["providers[0].limits.tokensPerMinute: must be an integer ≥ 0, found a very large number"]],
    ["required host null", withAt(minimal(), "providers.0.host", null),
      ["providers[0].host: required (host name or IPv4 address with optional :port, no scheme), found null"]],
    ["providers null", { providers: null }, ["providers: required (at least one provider), found null"]],
    ["limits.window as a number", withAt(minimal(), "providers.0.limits", { window: 60 }),
      ["providers[0].limits.window: expected a duration string such as \"500ms\", \"10s\", \"1.5s\" or \"2m\", found a number"]],
    ["limits.window below 1s", withAt(minimal(), "providers.0.limits", { window: "500ms" }),
      ["providers[0].limits.window: must be between 1s and 1h, found \"500ms\""]],
    ["limits.window above 1h", withAt(minimal(), "providers.0.limits", { window: "2h" }),
      ["providers[0].limits.window: must be between 1s and 1h, found \"2h\""]],
    ["mode unknown", { ...minimal(), mode: "header" },
      ["mode: must be \"body\" (read the body before routing; needs allow_on_headers_stop_iteration: true, Envoy >= 1.35) or \"headers\" (route from path and headers, for older Envoys), found \"header\""]],
    ["mode not a string", { ...minimal(), mode: true }, ["mode: expected a string, found a boolean"]],
    ["unknown limit", withAt(minimal(), "providers.0.limits", { tokensPerMin: 1 }), ["providers[0].limits.tokensPerMin: unknown field (did you mean tokensPerMinute?)"]],
    ["Azure classic without apiVersion", { providers: [{ ...azure(), apiVersion: undefined }] },
      ["providers[0].apiVersion: required (the api-version for classic Azure paths, e.g. \"2024-10-21\")"]],
    ["bad apiVersion", { providers: [{ ...azure(), apiVersion: "2024-13-01" }] },
      ["providers[0].apiVersion: must look like \"2024-10-21\" or \"2024-10-21-preview\", found \"2024-13-01\""]],
    ["bad Azure api", { providers: [{ ...azure(), api: "v2" }] }, ["providers[0].api: must be \"classic\" or \"v1\", found \"v2\""]],
    ["models on Azure", { providers: [{ ...azure(), models: ["gpt-4o"] }] },
      ["providers[0].models: not allowed for type \"azure-openai\": list the models as keys of deployments"]],
    ["deployments on OpenAI", { providers: [{ ...openai(), deployments: { a: "b" } }] },
      ["providers[0].deployments: not allowed for type \"openai\" (Azure only): list the models in models"]],
    ["apiVersion on OpenAI", { providers: [{ ...openai(), apiVersion: "2024-10-21" }] }, ["providers[0].apiVersion: not allowed for type \"openai\" (Azure only)"]],
    ["empty deployment", { providers: [{ ...azure(), deployments: { "gpt-4o": "" } }] }, ["providers[0].deployments.gpt-4o: must not be empty"]],
    ["deployment with a slash", { providers: [{ ...azure(), deployments: { "gpt-4o": "../x" } }] },
      ["providers[0].deployments.gpt-4o: deployment name must be 1-64 characters of letters, digits, '.', '_' or '-', found \"../x\""]],
    ["empty model in models", { providers: [{ ...openai(), models: ["gpt-4o", ""] }] }, ["providers[0].models[1]: must not be empty"]],
    ["basePath without /", { providers: [{ ...openai(), basePath: "v1" }] }, ["providers[0].basePath: must start with \"/\", found \"v1\""]],
    ["basePath with trailing /", { providers: [{ ...openai(), basePath: "/v1/" }] }, ["providers[0].basePath: must not end with \"/\", found \"/v1/\""]],
    ["probe path without /", withAt(minimal(), "providers.0.healthCheck", { path: "models" }), ["providers[0].healthCheck.path: must start with \"/\", found \"models\""]],
    ["duration without unit", { ...minimal(), healthCheck: { interval: "10" } },
      ["healthCheck.interval: a duration needs a unit: ms, s, m or h (found \"10\"; write e.g. \"500ms\", \"10s\", \"1.5s\" or \"2m\")"]],
    ["duration as a number", { ...minimal(), upstreamTimeout: 30 },
      ["upstreamTimeout: expected a duration string such as \"500ms\", \"10s\", \"1.5s\" or \"2m\", found a number"]],
    ["negative duration", { ...minimal(), upstreamTimeout: "-1s" },
      ["upstreamTimeout: a duration must not be negative (found \"-1s\"; write e.g. \"500ms\", \"10s\", \"1.5s\" or \"2m\")"]],
    ["sub-millisecond duration", { ...minimal(), upstreamTimeout: "1.5ms" },
      ["upstreamTimeout: a duration must be a whole number of milliseconds (found \"1.5ms\"; write e.g. \"500ms\", \"10s\", \"1.5s\" or \"2m\")"]],
    ["Go-style duration", { ...minimal(), upstreamTimeout: "1m30s" },
      ["upstreamTimeout: unknown duration unit (use ms, s, m or h) (found \"1m30s\"; write e.g. \"500ms\", \"10s\", \"1.5s\" or \"2m\")"]],
    ["timeout ≥ interval", { ...minimal(), healthCheck: { interval: "5s", timeout: "5s" } }, ["healthCheck.timeout: must be shorter than interval (5s ≥ 5s)"]],
    ["retry status out of range", { ...minimal(), retry: { onStatus: [429, 200, "503", 429] } }, [
      "retry.onStatus[1]: must be an integer between 400 and 599, found 200",
      "retry.onStatus[2]: expected an integer between 400 and 599, found a string",
      "retry.onStatus[3]: duplicate status 429",
    ]],
    ["maxAttempts 0 and 11", { ...minimal(), retry: { maxAttempts: 11 } }, ["retry.maxAttempts: must be an integer between 1 and 10, found 11"]],
    ["ejection bounds", { ...minimal(), cooldown: { baseEjection: "10m", maxEjection: "1m" } }, ["cooldown.maxEjection: maxEjection must be at least baseEjection (1m < 10m)"]],
    ["streaming.allow not a boolean", { ...minimal(), streaming: { allow: "yes" } }, ["streaming.allow: expected true or false, found a string"]],
    ["defaults.maxTokens 0", { ...minimal(), defaults: { maxTokens: 0 } }, ["defaults.maxTokens: must be an integer between 1 and 10000000, found 0"]],
    ["maxRequestBodyBytes too small", { ...minimal(), maxRequestBodyBytes: 100 }, ["maxRequestBodyBytes: must be an integer between 1024 and 67108864, found 100"]],
    ["logLevel unknown", { ...minimal(), logLevel: "verbose" },
      ["logLevel: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\", found \"verbose\""]],
    ["negative seed", { ...minimal(), seed: -1 }, ["seed: must be an integer ≥ 0, found -1"]],
    ["consumer duplicate name and key", { ...minimal(), consumers: [{ name: "a", apiKey: "key-aaaa-1" }, { name: "a", apiKey: "key-aaaa-1" }] }, [
      "consumers[1].name: duplicate consumer name \"a\" (also consumers[0])",
      "consumers[1].apiKey: same key as consumers[0].apiKey; consumer keys must be unique",
    ]],
    ["consumer key = provider key", { providers: [azure()], consumers: [{ name: "a", apiKey: AZURE_KEY }] },
      ["consumers[0].apiKey: equals the credential of provider \"aoai-east-ptu\": a client could present a provider key; issue consumers their own keys"]],
    ["consumer key from env = provider key from env", { ...minimal(), consumers: [{ name: "a", apiKeyEnv: "OAI_KEY" }] },
      ["consumers[0].apiKeyEnv: equals the credential of provider \"openai-payg\": a client could present a provider key; issue consumers their own keys"]],
    ["consumer without key", { ...minimal(), consumers: [{ name: "a" }] },
      ["consumers[0]: a credential is required for every consumer: set apiKey, or apiKeyEnv naming an environment variable"]],
    ["top level not an object", [1, 2], ["configuration: expected an object, found an array"]],
    ["top level null", null, ["configuration: expected an object, found null"]],
  ];

  it.each(cases)("%s", (_name, cfg, expected) => {
    expect(errorsOf(cfg, { OAI_KEY: OPENAI_KEY, EMPTY_KEY: "" })).toEqual(expected);
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
      "providers[0].auth.apiKeyEnv: environment variable \"NOPE\" is not set: it must be listed in vm_config.environment_variables (key_values, or host_env_keys with the variable set for Envoy)",
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
        { _match_domain_: ["*.example.com", "api.example.org:8443"], providers: [openai()], streaming: { allow: false } },
      ],
    });
    expect(c.retry.maxAttempts).toBe(2);
    expect(c.rules).toHaveLength(2);
    expect(c.rules[0]).toMatchObject({ matchRoutes: ["chat-route"], matchDomains: [] });
    expect(c.rules[0].config.retry.maxAttempts).toBe(5);
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["aoai-east-ptu", "openai-payg"]);
    expect(c.rules[1]).toMatchObject({ matchRoutes: [], matchDomains: ["*.example.com", "api.example.org:8443"] });
    expect(c.rules[1].config.providers.map((p: any) => p.name)).toEqual(["openai-payg"]);
    expect(c.rules[1].config.providers[0].fingerprint).toBe(c.providers[1].fingerprint);
    expect(c.rules[1].config.retry.maxAttempts).toBe(2);
    expect(c.rules[1].config.streaming.allow).toBe(false);
    expect(c.rules[1].config.rules).toEqual([]);
  });

  it("a rule may add a provider under a new name", () => {
    const extra = { ...openai(), name: "openai-2", host: "eu.api.openai.com" };
    const c = configOf({ ...rulesBase(), _rules_: [{ _match_route_: ["r"], providers: [openai(), extra] }] });
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["openai-payg", "openai-2"]);
  });

  it.each([
    ["rule without a match", [{ retry: { maxAttempts: 5 } }], ["_rules_[0]: needs _match_route_ or _match_domain_ (or both)"]],
    ["empty _match_route_", [{ _match_route_: [] }], ["_rules_[0]._match_route_: must list at least one route name"]],
    ["empty route name", [{ _match_route_: [""] }], ["_rules_[0]._match_route_[0]: must not be empty"]],
    ["bad domain", [{ _match_domain_: ["https://x.com", "a.*.com"] }], [
      "_rules_[0]._match_domain_[0]: must not include a scheme: drop \"https://\" and write \"x.com\" (TLS is configured on the Envoy cluster)",
      "_rules_[0]._match_domain_[1]: only a leading \"*.\" wildcard is allowed",
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
      // Entries of the deployments map are data, not optional fields: `gpt-4o:` with no
      // deployment is a mistake and stays an error (see below).
      if (/\.deployments\./.test(p)) continue;
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
    ["auth null", withAt(minimal(), "providers.0.auth", null), ["providers[0].auth: required ({ apiKey } or { apiKeyEnv }), found null"]],
    ["both credential members null", withAt(minimal(), "providers.0.auth", { apiKey: null, apiKeyEnv: null }),
      ["providers[0].auth: a credential is required for every provider: set apiKey, or apiKeyEnv naming an environment variable"]],
    ["Azure classic apiVersion null", { providers: [{ ...azure(), apiVersion: null }] },
      ["providers[0].apiVersion: required (the api-version for classic Azure paths, e.g. \"2024-10-21\"), found null"]],
    ["consumer name null", { ...minimal(), consumers: [{ name: null, apiKey: "consumer-key-1" }] },
      ["consumers[0].name: required (a unique name: letters, digits, '.', '_' or '-'), found null"]],
    ["null inside a list is still an error", { ...minimal(), retry: { onStatus: [429, null] } }, ["retry.onStatus[1]: expected an integer between 400 and 599, found null"]],
    ["a null deployment is still an error", { providers: [{ ...azure(), deployments: { "gpt-4o": null } }] }, ["providers[0].deployments.gpt-4o: expected a string, found null"]],
    ["an unknown field set to null is still unknown", { ...minimal(), retyr: null }, ["retyr: unknown field (did you mean retry?)"]],
  ] as [string, Json, string[]][])("errors stay errors: %s", (_n, cfg, expected) => {
    expect(errorsOf(cfg)).toEqual(expected);
  });

  it("a rule member set to null overrides nothing: the global value stays", () => {
    const c = configOf({ providers: [openai()], retry: { maxAttempts: 2 }, _rules_: [{ _match_route_: ["r"], retry: null, providers: null, _match_domain_: null }] });
    expect(c.rules[0].config.retry.maxAttempts).toBe(2);
    expect(c.rules[0].config.providers.map((p: any) => p.name)).toEqual(["openai-payg"]);
    expect(c.rules[0].matchDomains).toEqual([]);
    expect(errorsOf({ providers: [openai()], _rules_: [{ _match_route_: null }] })).toEqual(["_rules_[0]: needs _match_route_ or _match_domain_ (or both)"]);
  });
});
