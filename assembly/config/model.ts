// The validated, completed configuration: what every other module reads.
// Built only by config/parse.ts (parse → validate → complete); immutable afterwards.
// Pure: never imports proxy-runtime.

export * from "./provider_model";
import { Credential, IdentityConfig, ProviderConfig } from "./provider_model";

/** `clusterLimits.redis`: Redis reached through Higress's Redis calls (the Higress build only). */
export class RedisEngineConfig {
  /** The cluster Higress generated for the Redis service (`outbound|6379||redis.dns`), plus `?db=N`. */
  cluster: string = "";
  /** As configured (for messages). */
  service: string = "";
  username: string = "";
  /** AUTH password; empty: none. Masked whenever printed. */
  password: Credential = new Credential("");
  /** Where the password came from ("password", "passwordEnv:NAME", or "" for none). */
  passwordSource: string = "";
  database: i64 = 0;
  /** Keys are `<keyPrefix>:provider:<name>` and `<keyPrefix>:consumer:<name>`. */
  keyPrefix: string = "ai-failover";
}

export class ClusterLimitsConfig {
  /** The Envoy cluster of the rate limit service (HTTP/2); "" with `redis`. */
  cluster: string = "";
  /** Redis instead of the rate limit service (exactly one of the two). */
  redis: RedisEngineConfig | null = null;
  /** The rate limit domain the descriptors belong to (the `domain` of the service's YAML); Redis: the key prefix. */
  domain: string = "ai-failover";
  /** Timeout of one ShouldRateLimit call (Redis: of one Redis call, Higress's op timeout). */
  timeoutMs: i64 = 100;
  /**
   * Tokens leased per call (0 = per request: each request asks for exactly its estimate). A
   * request larger than the lease leases its estimate.
   */
  leaseTokens: i64 = 0;
  /** Service unreachable: true = each replica admits up to limit / replicas; false = refuse (503). */
  failOpen: bool = true;
  /** Gateway replicas sharing the limits (fail-open divides each limit by it). */
  replicas: i64 = 1;
  /** After a failed call, how long the service is not asked again (requests use the failure mode meanwhile). */
  retryMs: i64 = 1000;
  /**
   * Share provider cooldowns and ejections across the replicas (a 429 seen by one cools the
   * provider for all): Redis carries them in the provider's key (plugin/cluster/cooldowns.ts), the
   * rate limit service in a per-second descriptor per provider (plugin/cluster/rls_cooldowns.ts).
   */
  shareCooldowns: bool = true;
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
   * Most request-body bytes one worker VM keeps for re-sending on failover, all requests together
   * (plugin/request/held_bodies.ts). A request whose body would go beyond it is still served, on its first
   * provider, without failover. 0: no body is kept (only bodiless requests fail over).
   */
  maxHeldBodyBytes: i64 = 256 << 20;
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
}

/** Outcome of parsing: a config, or every problem found, each "path: message". */
export class ConfigResult {
  config: Config | null = null;
  errors: string[] = [];
  ok(): bool {
    return this.errors.length == 0 && this.config !== null;
  }
}
