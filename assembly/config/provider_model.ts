// Providers as the validated configuration holds them: type, URL family, credential (a secret that
// prints masked), Entra identity, limits. Part of config/model.ts (which re-exports it); kept apart
// so the readers of credentials and cluster limits can use it without importing the whole model.
// Pure: never imports proxy-runtime.

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
