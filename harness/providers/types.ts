/**
 * Public types of the mock LLM providers (Azure OpenAI and OpenAI look-alikes).
 * Shapes on the wire follow shared/reference/llm-wire-formats.md.
 */

export type ProviderKind = "azure" | "openai";

/** Which API a request addressed. */
export type ApiName =
  | "chat"
  | "embeddings"
  | "completions"
  | "responses"
  | "images"
  | "audio"
  | "conversations"
  | "files"
  | "batches"
  | "models"
  | "unknown";

/** Which URL family a request used. */
export type Surface = "azure-classic" | "azure-v1" | "openai";

/** Per-minute budget of one deployment (Azure) or model (OpenAI). */
export interface LimitSpec {
  /** Tokens per window (prompt estimate + max tokens, counted at admission). */
  tokensPerMinute?: number;
  /** Requests per window. */
  requestsPerMinute?: number;
}

export interface ReasoningSpec {
  /** Responses API: the answer starts with a reasoning item (`rs_…`) costing `reasoningTokens` output tokens. */
  reasoning?: boolean;
  /** Reasoning tokens per answer when `reasoning` (default 16). */
  reasoningTokens?: number;
}

export interface DeploymentSpec extends LimitSpec, ReasoningSpec {
  /** Underlying model version reported in responses, e.g. "gpt-4o-2024-08-06". */
  model: string;
}

export interface ModelSpec extends LimitSpec, ReasoningSpec {
  /** Model version reported in responses (default: the requested name). */
  model?: string;
}

/** How long stored work takes, on the provider clock (status is read when asked). */
export interface StateTiming {
  /** Background responses: queued for this long, then in_progress for `responseInProgressMs`, then completed. Default 50 / 100. */
  responseQueuedMs?: number;
  responseInProgressMs?: number;
  /** Batches: validating, then in_progress, then finalizing, then completed. Defaults 50 / 100 / 0. */
  batchValidatingMs?: number;
  batchInProgressMs?: number;
  batchFinalizingMs?: number;
}

/** Ids this mock holds (one Azure resource / OpenAI organisation). */
export interface StoredIds {
  responses: string[];
  /** Output and input items of stored responses and conversation items (msg_…, rs_…). */
  items: string[];
  conversations: string[];
  files: string[];
  batches: string[];
}

export interface StreamTiming {
  /** Delay between the response headers and the first SSE frame. */
  firstChunkMs?: number;
  /** Delay between consecutive SSE frames (every frame counts, [DONE] included). */
  chunkIntervalMs?: number;
  /**
   * Delay before the first content frame: the frames before it (Azure's prompt_filter_results,
   * the role delta) go at once after the headers, as a provider that is slow to its first token
   * sends them.
   */
  firstTokenMs?: number;
}

export interface MockProviderOptions {
  kind: ProviderKind;
  /** The prefix the API is served under (the plugin's basePath). Default: OpenAI "/v1", Azure "". */
  basePath?: string;
  /** Shown in records, default completion text and the `x-mock-target` match. */
  name: string;
  /** 0 (default) = ephemeral. The server binds 127.0.0.1 only. */
  port?: number;
  /** Accepted keys. Azure: `api-key` header anywhere, `Authorization: Bearer <key>` on /openai/v1.
   *  OpenAI: `Authorization: Bearer <key>`. */
  keys: string[];
  /** Azure only: Entra ID tokens accepted as `Authorization: Bearer` on every path. */
  entraTokens?: string[];
  /**
   * Azure: accept `Authorization: Bearer` tokens this authority issued (harness/providers/entra.ts)
   * for one of `acceptIdentities`, unexpired and for the Cognitive Services audience; any other
   * token gets Azure's 401.
   */
  tokenAuthority?: import("./entra.ts").TokenAuthority;
  acceptIdentities?: string[];
  /**
   * Each API key has its own rate window per deployment/model, as OpenAI keys of different
   * projects do (default: one window per deployment/model, whatever the key — Azure's quota).
   */
  perKeyWindows?: boolean;
  /**
   * Send x-ratelimit-remaining-* (and OpenAI's limit/reset) headers. Default true, as Azure and
   * OpenAI do; false plays a server that sends none (some OpenAI-compatible ones).
   */
  rateLimitHeaders?: boolean;
  /** Azure: deployment name → model and limits. */
  deployments?: Record<string, DeploymentSpec>;
  /** OpenAI: model name → limits. Absent = any model accepted (with `defaultLimits`). */
  models?: Record<string, ModelSpec> | string[];
  /** Limits for deployments/models that give none. Default: effectively unlimited (see DEFAULT_LIMITS). */
  defaultLimits?: LimitSpec;
  /** Length of a rate-limit window. Default 60000 (the real per-minute window). */
  windowMs?: number;
  /** Delay before the response headers of every answered request. Default 0. */
  latencyMs?: number;
  stream?: StreamTiming;
  /** Completion tokens generated per answer (capped by max tokens). Default 8. */
  completionTokens?: number;
  /** Fixed completion text instead of the generated one (one token per word). */
  completionText?: string;
  /** Counted at admission when the request gives no max_tokens/max_completion_tokens/max_output_tokens. Default 1024. */
  defaultMaxTokens?: number;
  /** Azure: start chat streams with the empty prompt_filter_results frame. Default true for azure. */
  promptFilterFrame?: boolean;
  /** Azure x-ms-region header. Default "East US". */
  region?: string;
  /** Honour test-only `x-mock-*` request headers. Default true. */
  scriptHeaders?: boolean;
  /** Embedding vector length when the request gives no `dimensions`. Default 8. */
  embeddingDimensions?: number;
  /** Time source for rate-limit windows, record times and stored-state timing. Default Date.now. */
  clock?: () => number;
  /** Background responses and batches timing. */
  timing?: StateTiming;
  /** Most stored responses, conversations, files and batches kept (each; oldest dropped first). Default 10000. */
  maxStored?: number;
}

/**
 * A scripted failure. Faults apply after authentication and routing (a wrong key still gets 401,
 * an unknown deployment still gets 404) and before rate-limit admission (a faulted request
 * consumes no budget). The first active fault whose scope matches the request wins.
 */
export type FaultAction =
  /** Any status with an optional body (object → JSON) and headers. Default body: the provider's 5xx/4xx shape. */
  | { type: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** A 429 in the provider's shape, with retry headers (retryAfterMs, default 1000) unless noRetryHeaders. */
  | { type: "rateLimit"; retryAfterMs?: number; noRetryHeaders?: boolean }
  /** OpenAI's non-transient 429 insufficient_quota. */
  | { type: "insufficientQuota" }
  /** Prompt blocked: 400 content_filter / ResponsibleAIPolicyViolation. */
  | { type: "contentFilter" }
  /** Output blocked: 200 whose answer stops early with finish_reason "content_filter". */
  | { type: "contentFilterOutput" }
  /** Accept the request, then reset the connection (TCP RST) without answering. */
  | { type: "reset" }
  /** Accept the request and never answer (until the client gives up or the mock closes). */
  | { type: "hang" }
  /** Stream normally, then destroy the connection after `afterChunks` SSE frames. */
  | { type: "cutStream"; afterChunks: number }
  /** Stream normally, then end the response cleanly (HTTP-wise) after `afterChunks` SSE frames: unfinished. */
  | { type: "endStream"; afterChunks: number }
  /** Stream normally, then go silent after `afterChunks` SSE frames: the connection stays open until the client goes. */
  | { type: "stallStream"; afterChunks: number }
  /** Extra delay before the response headers, then answer normally. */
  | { type: "latency"; ms: number };

export interface FaultScope {
  /** Apply to this many matching requests, then expire. Default: unlimited. */
  count?: number;
  /** Expire this many ms (on the provider clock) after setFault. Default: never. */
  forMs?: number;
  /** Only requests to this deployment (Azure) / model (OpenAI). */
  deployment?: string;
  /** Only this API. */
  api?: ApiName;
  /** Only streaming (true) or non-streaming (false) requests. */
  stream?: boolean;
}

export type Fault = FaultAction & FaultScope;

export type CredentialScheme =
  | "api-key"
  | "bearer"
  | "authorization"
  | "x-api-key"
  | "ocp-apim-subscription-key"
  | "none";

export interface Credential {
  scheme: CredentialScheme;
  /** Exactly as received (may be ""). For bearer: the token without "Bearer ". */
  value: string;
}

export interface RequestRecord {
  /** 1, 2, 3 … in arrival order. */
  seq: number;
  /** Provider clock at arrival. */
  time: number;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** All request headers, lower-case names; duplicates joined with ", ". */
  headers: Record<string, string>;
  /** Raw header pairs as received (lower-case names), duplicates kept. */
  rawHeaders: Array<[string, string]>;
  /** The credential the provider used to authenticate (Azure: api-key first, then bearer). */
  credential: Credential;
  /** Every credential-bearing header the request carried, in order (empty values included). */
  credentials: Credential[];
  surface: Surface | "unknown";
  api: ApiName;
  /** What on the API: "create", "get", "list", "delete", "cancel", "input_items", "content", "speech" … */
  op?: string;
  deployment?: string;
  model?: string;
  apiVersion?: string;
  /** Raw request body text (UTF-8 decoded). */
  body: string;
  /** The raw bytes, kept for multipart/form-data bodies (file uploads are binary). */
  bodyBytes?: Buffer;
  stream: boolean;
  includeUsage: boolean;
  /** Response status; 0 until decided, and for reset/hang faults. */
  status: number;
  /** Why the status: "ok", "unauthorized", "deployment-not-found", "rate-limited-tokens", "fault:reset" … */
  outcome: string;
  /** Prompt tokens estimated at admission (equal to usage.prompt_tokens / input_tokens). */
  promptTokens?: number;
  /** Tokens counted against the window at admission (prompt estimate + max tokens). */
  reservedTokens?: number;
  /** Completion tokens generated (usage.completion_tokens / output_tokens). */
  completionTokens?: number;
  /** Stream fully written (false while streaming, or when cut/reset). */
  completed: boolean;
  /** Streams: performance.now() when each SSE frame was written (for arrival-time tests). */
  frameSentAt?: number[];
}

export interface WindowState {
  limitTokens: number;
  limitRequests: number;
  remainingTokens: number;
  remainingRequests: number;
  /** ms until the current window ends (0 when no window is open). */
  resetsInMs: number;
}

export interface ProviderStats {
  requests: number;
  byStatus: Record<number, number>;
  byOutcome: Record<string, number>;
  /** Requests admitted by the rate limiter. */
  admitted: number;
  /** Usage reported in 200 answers (cut streams count what was sent). */
  promptTokens: number;
  completionTokens: number;
  /** TCP connections accepted (reset-mode outage connections included). */
  connections: number;
  /** Connections reset by an outage in reset mode. */
  outageResets: number;
  /** Per deployment (Azure) / model (OpenAI) with a window opened. */
  windows: Record<string, WindowState>;
  /** How many of each this mock holds now. */
  stored: { responses: number; conversations: number; files: number; batches: number };
}

export type OutageMode = "refused" | "reset";

export interface MockProvider {
  readonly name: string;
  readonly kind: ProviderKind;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Live list of every request that reached HTTP parsing, in arrival order. */
  readonly records: RequestRecord[];
  setFault(fault: Fault): void;
  clearFaults(): void;
  /** Replace the accepted keys (e.g. revoke one mid-run). */
  setKeys(keys: string[]): void;
  /** Replace the Entra identities whose tokens are accepted (a role assignment added or removed). */
  setAcceptIdentities(identities: string[]): void;
  setLatency(ms: number): void;
  setStreamTiming(timing: StreamTiming): void;
  /**
   * Start an outage: "refused" stops listening and drops open connections (clients get
   * ECONNREFUSED); "reset" keeps listening and resets every connection at once.
   * Ends after forMs, or at endOutage().
   */
  startOutage(mode: OutageMode, forMs?: number): Promise<void>;
  endOutage(): Promise<void>;
  /** Distinct credential values seen, in first-seen order, with their scheme. */
  credentialsSeen(): Credential[];
  /** Ids of the stored responses, items, conversations, files and batches this mock holds. */
  storedIds(): StoredIds;
  /** Whether this mock holds that response / item / conversation / file / batch id. */
  owns(id: string): boolean;
  stats(): ProviderStats;
  /** Clear records, faults, windows, stats and stored state; keys and options stay. */
  reset(): void;
  close(): Promise<void>;
}
