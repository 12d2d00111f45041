// Configuration builders shared by the config and schema tests.

export const AZURE_KEY = "0123456789abcdef0123456789abcdef";
export const OPENAI_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz";
export const CONSUMER_KEY = "team-a-9f8e7d6c5b4a";

export const clone = <T>(v: T): T => structuredClone(v);

export const azure = () => ({
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

export const openai = () => ({
  name: "openai-payg",
  type: "openai",
  cluster: "openai",
  host: "api.openai.com:443",
  models: ["gpt-4o", "gpt-4o-mini"],
  auth: { apiKeyEnv: "OAI_KEY" },
  priority: 1,
});

export const full = () => ({
  providers: [azure(), { ...openai(), includeUsage: false }],
  healthCheck: { enabled: true, interval: "10s", timeout: "1.5s", unhealthyThreshold: 3, healthyThreshold: 2 },
  retry: { maxAttempts: 4, onStatus: [429, 503], onConnectFailure: false, maxAnswerBytes: 8388608, onContentFilter: true },
  cooldown: { rateLimitDefault: "5s", authFailure: "10m", baseEjection: "30s", maxEjection: "5m", consecutiveFailures: 5 },
  consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 5000, requestsPerMinute: 30, models: ["gpt-4o"] }],
  fallbacks: { "gpt-4o": ["gpt-4o-mini"] },
  contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o" },
  streaming: { allow: true, includeUsage: false },
  defaults: { maxTokens: 2048 },
  maxRequestBodyBytes: 2097152,
  upstreamTimeout: "2m",
  logLevel: "debug",
  seed: 42,
});

export const minimal = () => ({ providers: [openai()] });

/** Sets `value` at a dotted/indexed path ("providers.0.host") of a copy of `base`. */
export function withAt(base: any, path: string, value: unknown): any {
  const copy = clone(base);
  const parts = path.split(".");
  let o = copy;
  for (const p of parts.slice(0, -1)) o = o[p];
  const last = parts[parts.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
  return copy;
}

export const INVALID_ENV: Record<string, string> = { OAI_KEY: OPENAI_KEY, EMPTY_KEY: "" };

/** Invalid configurations and their exact errors (environment: INVALID_ENV). */
export const INVALID_CASES: [string, unknown, string[]][] = [
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
    ["providers[0].auth: a credential is required for every provider: set apiKey, apiKeyEnv naming an environment variable, identity naming an entry of identities, or credentials listing several"]],
  ["no auth", withAt(minimal(), "providers.0.auth", undefined), ["providers[0].auth: required ({ apiKey }, { apiKeyEnv }, { identity } or { credentials: [...] })"]],
  ["apiKeyEnv unset", withAt(minimal(), "providers.0.auth", { apiKeyEnv: "MISSING_KEY" }),
    ["providers[0].auth.apiKeyEnv: environment variable \"MISSING_KEY\" is not set: it must be listed in the VM's environment (Envoy: vm_config.environment_variables key_values, or host_env_keys with the variable set for Envoy; Higress: vmConfig.env)"]],
  ["apiKeyEnv empty", withAt(minimal(), "providers.0.auth", { apiKeyEnv: "EMPTY_KEY" }),
    ["providers[0].auth.apiKeyEnv: environment variable \"EMPTY_KEY\" is empty: give it the key (the VM sees it, with no value)"]],
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
  ["maxHeldBodyBytes out of range", { ...minimal(), retry: { maxHeldBodyBytes: -1 } }, ["retry.maxHeldBodyBytes: must be an integer between 0 and 1073741824, found -1"]],
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
