// The validated, completed configuration: what every other module reads.
// Built only by config/parse.ts (parse → validate → complete); immutable afterwards.
// Pure: never imports proxy-runtime.

import { ClusterLimitsConfig } from "./cluster_limits";

export const enum ProviderType {
  AzureOpenAI = 0, // "azure-openai"
  OpenAI = 1,      // "openai" (also any OpenAI-compatible endpoint)
}

/** Which Azure URL family a provider is reached through. */
export const enum AzureApi {
  Classic = 0, // /openai/deployments/{deployment}/{op}?api-version=…
  V1 = 1,      // /openai/v1/{op}  (model in the body is the deployment name)
}

/**
 * A secret. Its only printable form is masked; the raw value is read by the auth code that
 * builds the outgoing header and by nothing else.
 */
export class Credential {
  private readonly secret: string;
  /**
   * A Microsoft Entra identity instead of a key: the provider gets `Authorization: Bearer` with
   * that identity's current token (plugin/credentials/tokens.ts); `secret` is then empty.
   */
  readonly identity: IdentityConfig | null;
  constructor(secret: string, identity: IdentityConfig | null = null) {
    this.secret = secret;
    this.identity = identity;
  }
  /** For building the credential header only. Never log or format this. */
  reveal(): string {
    return this.secret;
  }
  isEmpty(): bool {
    return this.secret.length == 0 && this.identity === null;
  }
  /** All but the last 4 characters replaced ("****abcd"); short secrets are fully masked; an identity by its name. */
  masked(): string {
    const id = this.identity;
    if (id !== null) return "identity " + id.name;
    const n = this.secret.length;
    if (n <= 8) return "****";
    return "****" + this.secret.substring(n - 4);
  }
  equals(other: Credential): bool {
    const a = this.identity;
    const b = other.identity;
    if (a !== null || b !== null) return a !== null && b !== null && a.fingerprint == b.fingerprint;
    return this.secret == other.secret;
  }
}

/** How an identity gets its tokens. */
export const enum IdentityKind {
  /** Entra ID client credentials: POST {tenant}/oauth2/v2.0/token with client id + secret. */
  ClientCredentials = 0,
  /** Managed identity through the Azure Instance Metadata Service (VMs, VM scale sets, AKS nodes). */
  ManagedIdentity = 1,
  /** Managed identity through the App Service / Container Apps / Functions identity endpoint. */
  AppService = 2,
}

/** A Microsoft Entra identity providers authenticate with (top-level `identities`). */
export class IdentityConfig {
  name: string = "";
  kind: IdentityKind = IdentityKind.ClientCredentials;
  /** Envoy cluster reaching the token endpoint. */
  cluster: string = "";
  /** :authority of the token endpoint. */
  host: string = "";
  /** Path of the token endpoint (without the query). */
  path: string = "";
  tenantId: string = "";
  /** Client credentials: the application id; managed identity: the user-assigned identity's client id ("" = system-assigned). */
  clientId: string = "";
  /** Client credentials: the client secret. App Service: the X-IDENTITY-HEADER value. */
  secret: Credential = new Credential("");
  secretSource: string = "";
  /** The token's audience as an OAuth scope (".default" form). */
  scope: string = "https://cognitiveservices.azure.com/.default";
  timeoutMs: i64 = 5000;
  /** Hash of everything above (the secret as its FNV hash): names the shared token cache entry. */
  fingerprint: string = "";

  /** The resource form of the scope (IMDS and App Service take a resource, not a scope). */
  resource(): string {
    const s = this.scope;
    return s.endsWith("/.default") ? s.substring(0, s.length - 9) : s;
  }
}

export class Limits {
  /** 0 = not limited by the gateway. */
  tokensPerMinute: i64 = 0;
  requestsPerMinute: i64 = 0;
  /** Spill to the next provider when the provider reports fewer remaining than this (0 = off). */
  minRemainingTokens: i64 = 0;
  minRemainingRequests: i64 = 0;
  /** The provider's rate-limit window (Azure and OpenAI: one minute). */
  windowMs: i64 = 60000;
}

/** Azure deployment names: letters, digits, '.', '_' and '-', at most 64. */
export function isDeploymentName(s: string): bool {
  const n = s.length;
  if (n == 0 || n > 64) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return s != "." && s != "..";
}

/** Does any provider of `providers` name `model` explicitly (deployments key or models list)? */
export function isConfiguredModel(providers: ProviderConfig[], model: string): bool {
  for (let i = 0; i < providers.length; i++) {
    const p = unchecked(providers[i]);
    if (p.deploymentKeys.includes(model) || p.models.includes(model)) return true;
  }
  return false;
}

/** One provider: identity is `name`; host, path, cluster and credential form one record. */
export class ProviderConfig {
  name: string = "";
  type: ProviderType = ProviderType.AzureOpenAI;
  /** Envoy cluster reaching `host`. */
  cluster: string = "";
  /** :authority sent upstream (host[:port], no scheme, no path). */
  host: string = "";
  /** Path prefix before the API path (OpenAI: default "/v1"; Azure: default "" → /openai/…). */
  basePath: string = "";
  /** Azure only: api-version query parameter for classic paths. */
  apiVersion: string = "";
  /** Azure only: classic (deployment in path) or v1 (deployment as body model). */
  azureApi: AzureApi = AzureApi.Classic;
  /** model → deployment (Azure). Empty map: the model name is the deployment name. */
  deploymentKeys: string[] = [];
  deploymentValues: string[] = [];
  /**
   * Each deployment's own limits (parallel to deploymentKeys; all zero when it has none): Azure's
   * quota is per deployment. The provider's `limits` then bound the resource as a whole.
   */
  deploymentLimits: Limits[] = [];
  /** Some deployment has limits of its own. */
  hasDeploymentLimits: bool = false;
  /** OpenAI: models this provider serves (empty = any). Azure: derived from deployments. */
  models: string[] = [];
  /**
   * OpenAI, `models` written as an object: the name this provider knows models[i] by (parallel to
   * `models`; empty when `models` is a list: each model goes under its own name).
   */
  modelTargets: string[] = [];
  /** The first of `credentials` (the only one unless auth lists several). */
  credential: Credential = new Credential("");
  /** Where the credential came from, for messages: "apiKey", "apiKeyEnv:NAME" or "identity:NAME". */
  credentialSource: string = "";
  /** Every credential of the provider, in order of preference (1..MAX_CREDENTIALS). */
  credentials: Credential[] = [];
  credentialSources: string[] = [];
  /**
   * auth.quota "perCredential": each credential has its own rate-limit window and health (OpenAI
   * keys of different projects). "shared" (default): one window; the first credential not
   * rejected is used (Azure key1/key2 rotation).
   */
  quotaPerCredential: bool = false;
  priority: i32 = 0;
  weight: i32 = 1;
  /**
   * Ask this provider for the usage chunk of a stream (stream_options.include_usage), when the
   * gateway's streaming.includeUsage does. Off for servers that reject stream_options (some
   * OpenAI-compatible ones, old Azure api-versions): their streams are accounted by estimate.
   */
  includeUsage: bool = true;
  /**
   * Whole-attempt time at this provider, ms (-1: the top-level upstreamTimeout for failover
   * attempts and the Envoy route's timeout for the first attempt). When set it bounds both: the
   * first attempt through x-envoy-upstream-rq-timeout-ms, which the router consumes.
   */
  upstreamTimeoutMs: i64 = -1;
  /**
   * Time this provider may take to start answering (its response headers), ms, before the
   * attempt is given up and the request moves on (-1: the top-level firstByteTimeout; 0: none).
   * Sent as x-envoy-upstream-rq-per-try-timeout-ms: Envoy's router ignores a per-try timeout
   * once the response started (router/upstream_request.cc onPerTryTimeout), so a stream whose
   * first token takes minutes is not cut once its headers came.
   */
  firstByteTimeoutMs: i64 = -1;
  /**
   * Time a streamed answer of this provider may take to its first token, ms, from when the
   * attempt went upstream (-1: the top-level firstTokenTimeout; 0: none). The stream's headers are
   * held until then (plugin/request/response.ts): past it, the attempt fails over like a first-byte timeout.
   */
  firstTokenTimeoutMs: i64 = -1;
  /** Longest silence of a stream that is answering, ms, before it is given up as stalled (-1: the top-level streamIdleTimeout; 0: none). */
  streamIdleTimeoutMs: i64 = -1;
  limits: Limits = new Limits();
  /** Health probe path override (default: the models endpoint for the type). */
  healthPath: string = "";

  /** Credential k (the first also when the list was never filled, as in records built by tests). */
  credentialAt(k: i32): Credential {
    return k >= 0 && k < this.credentials.length ? unchecked(this.credentials[k]) : this.credential;
  }

  /** Deployment for a model, or "" when this provider does not serve it. */
  deploymentFor(model: string): string {
    if (this.deploymentKeys.length == 0) return model;
    for (let i = 0; i < this.deploymentKeys.length; i++) {
      if (unchecked(this.deploymentKeys[i]) == model) return unchecked(this.deploymentValues[i]);
    }
    return "";
  }

  /**
   * The model name this provider expects in a request body for `model`: Azure, the deployment
   * (v1 and the Responses API read it there); OpenAI, its `models` map's name for it, else `model`.
   * Per-model rate-limit state (plugin/capacity/model_records.ts) is keyed by it.
   */
  upstreamModel(model: string): string {
    if (this.type == ProviderType.AzureOpenAI) return this.deploymentFor(model);
    const targets = this.modelTargets;
    if (targets.length == 0) return model;
    const models = this.models;
    for (let i = 0; i < models.length && i < targets.length; i++) {
      if (unchecked(models[i]) == model) return unchecked(targets[i]);
    }
    return model;
  }

  /**
   * The limits of `model`'s own window (plugin/capacity/model_records.ts). Azure: its deployment's
   * (deploymentLimitsFor). OpenAI-type: no per-minute limits of its own (the provider's `limits`
   * bound all its models together), but the provider's spill-over thresholds and window length:
   * the provider's x-ratelimit-remaining-* are the model's, so minRemaining* apply to them there.
   */
  modelLimitsFor(model: string): Limits {
    if (this.type == ProviderType.AzureOpenAI) return this.deploymentLimitsFor(model);
    let l = this.openModelLimits;
    if (l === null) {
      l = new Limits();
      l.minRemainingTokens = this.limits.minRemainingTokens;
      l.minRemainingRequests = this.limits.minRemainingRequests;
      l.windowMs = this.limits.windowMs;
      this.openModelLimits = l;
    }
    return l;
  }
  private openModelLimits: Limits | null = null;

  /** The limits of the deployment serving `model` (none configured: all zero, the provider's window length). */
  deploymentLimitsFor(model: string): Limits {
    for (let i = 0; i < this.deploymentKeys.length; i++) {
      if (unchecked(this.deploymentKeys[i]) == model && i < this.deploymentLimits.length) return unchecked(this.deploymentLimits[i]);
    }
    const none = new Limits();
    none.windowMs = this.limits.windowMs;
    return none;
  }

  /** Does this provider serve `model` ("" = unknown model: any provider may serve). */
  serves(model: string): bool {
    if (model.length == 0) return true;
    if (this.type == ProviderType.AzureOpenAI) {
      const d = this.deploymentFor(model);
      // Without a deployments map the client's model becomes the deployment in the URL path:
      // only a plain deployment name may (never "../", "?", "#", CR/LF…).
      return d.length > 0 && (this.deploymentKeys.length > 0 || isDeploymentName(d));
    }
    if (this.models.length == 0) return true;
    return this.models.includes(model);
  }

  /**
   * A fingerprint of everything that makes the record (type, cluster, host, path, version,
   * deployments, credential). Shared state survives reconfiguration only when it is unchanged.
   * Contains no secret: the credential enters as a 32-bit FNV hash of its value.
   */
  fingerprint: string = "";
}

export class HealthCheckConfig {
  enabled: bool = true;
  intervalMs: i64 = 10000;
  timeoutMs: i64 = 3000;
  unhealthyThreshold: i32 = 2;
  healthyThreshold: i32 = 1;
}

export class RetryConfig {
  /** Total attempts per client request, the first included. */
  maxAttempts: i32 = 3;
  onStatus: i32[] = [429, 500, 502, 503, 504];
  /**
   * Also retry when a failover attempt (http_call) fails to connect, is reset or times out. (On
   * the first attempt Envoy's router turns those into 503/504, which onStatus covers.)
   */
  onConnectFailure: bool = true;
  /**
   * Largest answer of a failover attempt passed to the client. Such an answer arrives whole
   * (http_call) and is copied into the VM to be sent as one reply; above this the client gets
   * 502 upstream_answer_too_large (the provider's usage is still accounted).
   */
  maxAnswerBytes: i64 = 16 << 20;
  /**
   * Also move on after a 400 `content_filter` (another deployment may have another filter
   * policy) / `context_length_exceeded` (another may have a longer context). Never counted
   * against the provider's health.
   */
  onContentFilter: bool = false;
  onContextLength: bool = false;
  /**
   * Retries at the same provider per request (not counted in maxAttempts): after a 429 whose
   * Retry-After is at most sameProviderMaxWaitMs, or one transient 500/502/503/reset, when no
   * provider of the same priority group can take the request (only a costlier group, or none).
   * 0 turns them off.
   */
  sameProviderRetries: i32 = 1;
  sameProviderMaxWaitMs: i64 = 2000;
  /** Back-off before a retry after a transient failure: this × 2^k, jittered ±50 %. */
  sameProviderBackoffMs: i64 = 200;
}

export class CooldownConfig {
  /** Cooldown after a 429 without retry-after(-ms). */
  defaultRateLimitMs: i64 = 10000;
  /** Ejection after 401/403 (credential bad) or insufficient_quota. */
  authFailureMs: i64 = 300000;
  /** Base ejection after `consecutiveFailures` 5xx/connect failures; doubles, capped at maxEjectionMs. */
  consecutiveFailures: i32 = 3;
  baseEjectionMs: i64 = 30000;
  maxEjectionMs: i64 = 300000;
}

export class ConsumerConfig {
  name: string = "";
  credential: Credential = new Credential("");
  credentialSource: string = "";
  tokensPerMinute: i64 = 0;
  requestsPerMinute: i64 = 0;
  /** Allowed models (empty = all). */
  models: string[] = [];
}

/** Sticking requests to one provider (select/selector.ts rendezvous choice). */
export class AffinityConfig {
  /** Requests carrying this header (lower case) stick to one provider per value ("" = off). */
  header: string = "";
  /** Requests of an authenticated consumer (without the header) stick to one provider per consumer. */
  consumer: bool = false;
  /** Honour x-ai-failover-provider: <name> on requests: that provider only, never failed over. */
  providerHeader: bool = false;
}

export class StreamingConfig {
  allow: bool = true;
  /** Inject stream_options.include_usage into streaming chat requests that lack it. */
  includeUsage: bool = true;
  /**
   * The time-to-headers limit of a streaming request when no firstByteTimeout is configured (0:
   * none): a stream's headers come at once, so a silent provider costs the client at most this.
   * Applied only when shorter than the attempt's upstream timeout.
   */
  firstByteTimeoutMs: i64 = 30000;
}

/** A Higress `_rules_` entry: match + a complete config built from global ⊕ overrides. */
/** What a Higress rule matches on (wasm-go pkg/matcher/rule_matcher.go: one category per rule). */
export const enum RuleMatch { Route = 0, RouteAndService = 1, Domain = 2, Service = 3, RoutePrefix = 4 }

export class RuleConfig {
  match: RuleMatch = RuleMatch.Route;
  matchRoutes: string[] = [];
  matchDomains: string[] = [];
  /** "fqdn" or "fqdn:port", against the cluster name "outbound|port|subset|fqdn". */
  matchServices: string[] = [];
  matchRoutePrefixes: string[] = [];
  config: Config | null = null;
}

export class Config {
  providers: ProviderConfig[] = [];
  /** Entra identities the providers may authenticate with (top level only; rules share them). */
  identities: IdentityConfig[] = [];
  healthCheck: HealthCheckConfig = new HealthCheckConfig();
  retry: RetryConfig = new RetryConfig();
  cooldown: CooldownConfig = new CooldownConfig();
  consumers: ConsumerConfig[] = [];
  streaming: StreamingConfig = new StreamingConfig();
  affinity: AffinityConfig = new AffinityConfig();
  /** Output tokens reserved when the client sets no max_tokens/max_completion_tokens. */
  defaultMaxTokens: i64 = 1024;
  /** Tokens an image in the prompt is counted as (defaults.imageTokens). */
  defaultImageTokens: i64 = 1445;
  /** Tokens a second of audio in the prompt is counted as (defaults.audioTokensPerSecond). */
  defaultAudioTokensPerSecond: i64 = 10;
  /** Largest request body the filter buffers (413 above). */
  maxRequestBodyBytes: i64 = 1048576;
  /** Upstream request timeout for in-request retries (http_call), ms. */
  upstreamTimeoutMs: i64 = 60000;
  /** Default time to a provider's response headers before moving on, ms (0: none). */
  firstByteTimeoutMs: i64 = 0;

  /** The whole-attempt timeout of a failover attempt (http_call) at `p`, ms. */
  calloutTimeoutFor(p: ProviderConfig): i64 {
    return p.upstreamTimeoutMs > 0 ? p.upstreamTimeoutMs : this.upstreamTimeoutMs;
  }

  /** The time-to-headers limit of an attempt at `p`, ms (0: none); `stream`: a streaming request (streaming.firstByteTimeout by default). */
  firstByteTimeoutFor(p: ProviderConfig, stream: bool = false): i64 {
    const set = p.firstByteTimeoutMs >= 0 ? p.firstByteTimeoutMs : this.firstByteTimeoutMs;
    if (set > 0 || !stream || p.firstByteTimeoutMs == 0 || this.firstByteExplicit) return set;
    const d = this.streaming.firstByteTimeoutMs;
    return d > 0 && d < this.calloutTimeoutFor(p) ? d : 0;
  }
  /** firstByteTimeout was set at the top level (even to 0: no limit, streams included). */
  firstByteExplicit: bool = false;
  /** Default time a streamed answer may take to its first token, ms (0: none; per provider too). */
  firstTokenTimeoutMs: i64 = 0;
  /**
   * Default longest silence of a stream that is answering, ms (0: none): below the HCM's own
   * stream_idle_timeout (5 min by default), so that the gateway, not Envoy's reset, ends it.
   */
  streamIdleTimeoutMs: i64 = 240000;

  /** The first-token limit of a streamed answer of `p`, ms (0: none). */
  firstTokenTimeoutFor(p: ProviderConfig): i64 {
    return p.firstTokenTimeoutMs >= 0 ? p.firstTokenTimeoutMs : this.firstTokenTimeoutMs;
  }

  /** The stall limit of a stream of `p`, ms (0: none). */
  streamIdleTimeoutFor(p: ProviderConfig): i64 {
    return p.streamIdleTimeoutMs >= 0 ? p.streamIdleTimeoutMs : this.streamIdleTimeoutMs;
  }
  /**
   * `mode: "headers"`: route from the path and headers alone (x-ai-model, Azure deployment in
   * the path; tokens estimated from content-length) — for Envoys without
   * allow_on_headers_stop_iteration (< 1.35). Default `mode: "body"` reads the body first.
   */
  headerOnly: bool = false;
  /** Filter log threshold: 0 trace … 5 critical. */
  logLevel: i32 = 2;
  /** The access line's level (accessLog "info" | "debug"); -1: "off", no line. */
  accessLogLevel: i32 = 2;
  /** Seed for weighted choice (0 = random from WASI random_get); tests set it. */
  seed: u64 = 0;
  rules: RuleConfig[] = [];
  /** Limits counted across gateway replicas by the rate limit service (null: per process only). */
  clusterLimits: ClusterLimitsConfig | null = null;
  /**
   * `fallbacks`: model → the models to use instead, in order, when no provider of that model can
   * take the request (plan/fallback.ts). Every model named is served by a provider of this config.
   */
  fallbacks: Map<string, string[]> = new Map<string, string[]>();
  /** `contextWindowFallbacks`: model → the larger-context model to use after a 400 context_length_exceeded. */
  contextWindowFallbacks: Map<string, string> = new Map<string, string>();

  providerIndex(name: string): i32 {
    for (let i = 0; i < this.providers.length; i++) {
      if (unchecked(this.providers[i]).name == name) return i;
    }
    return -1;
  }
}

/** Outcome of parsing: a config, or every problem found, each "path: message". */
export class ConfigResult {
  config: Config | null = null;
  errors: string[] = [];
  ok(): bool {
    return this.errors.length == 0 && this.config !== null;
  }
}
