// One HTTP stream: classify, strip client credentials, read the body, choose a provider,
// rewrite the request for it, fail over on retryable outcomes, decorate the response.

import { Context, FilterDataStatusValues, FilterHeadersStatusValues, FilterTrailersStatusValues } from "@solo-io/proxy-runtime/assembly";
import { Config, isConfiguredModel, ProviderConfig, ProviderType } from "../config/model";
import {
  BufferType, getBuffer, getHeader, getHeaderPairs, getProperty, MapType, nowMs, removeHeader, replaceHeader, Result,
  sendLocalResponse, setBuffer, setEffectiveContext,
} from "../host/calls";
import { enabled, Level, log } from "../host/log";
import { ProviderState } from "../health/state";
import { classifyStatus, Outcome } from "../health/transitions";
import { fits, requestsLeft, tokensLeft, windowResetAt } from "../health/capacity";
import { ByteBuilder, concat, utf8 } from "../lib/bytes";
import { RequestScan, scanRequest } from "../lib/json_scan";
import { UsageScanner } from "../lib/usage";
import { SseStripper } from "../lib/sse";
import { Needle } from "../lib/needle";
import { ReserveOp, ResponseOp, SettleOp } from "./admission";
import { allowsModel, consumerFingerprint, consumerKey, consumerLimits, findConsumer } from "./consumers";
import { loadState, updateState } from "../host/store";
import { shapeBody } from "./body";
import { ApiKind, ApiRequest, apiName, classifyPath } from "../provider/api";
import { authHeaderName, authHeaderValue, bodyNeedsModel, CLIENT_CREDENTIAL_HEADERS, upstreamPath } from "../provider/route";
import { choose, NoChoice } from "../select/selector";
import { intHeader, retryAfterMs } from "./headers";
import { quote, sendError } from "./replies";
import { ConfigView, FailoverRoot } from "./root";

export const CLUSTER_HEADER = "x-ai-failover-cluster";
const PROVIDER_HEADER = "x-ai-failover-provider";
const ATTEMPTS_HEADER = "x-ai-failover-attempts";

/** Response headers of an http_call attempt that are passed on to the client. */
const FORWARDED_RESPONSE_HEADERS: string[] = [
  "content-type", "retry-after", "retry-after-ms", "x-request-id", "apim-request-id", "x-ms-region",
  "openai-processing-ms", "openai-model", "openai-version", "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
];

const STREAM_INCOMPLETE = utf8("event: error\ndata: {\"error\":{\"message\":\"the provider's stream ended before the response was complete\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_incomplete\"}}\n\n");

/** The request headers the filter needs, read from one get_header_map_pairs. */
class RequestHeaders {
  path: string = "";
  method: string = "";
  authority: string = "";
  model: string = "";
  hasModel: bool = false;
  contentLength: i64 = -1;
  bearer: string = "";
  apiKey: string = "";
  xApiKey: string = "";
  /** Present headers that must not go upstream (client credentials, our routing header). */
  strip: string[] = [];

  constructor(kv: string[]) {
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const name = unchecked(kv[i]);
      const value = unchecked(kv[i + 1]);
      if (name == ":path") this.path = value;
      else if (name == ":method") this.method = value;
      else if (name == ":authority") this.authority = value;
      else if (name == "x-ai-model") { this.model = value; this.hasModel = true; }
      else if (name == "content-length") {
        const t = value.trim();
        let v: i64 = t.length > 0 && t.length <= 15 ? 0 : -1;
        for (let k = 0; v >= 0 && k < t.length; k++) {
          const c = t.charCodeAt(k);
          v = c >= 0x30 && c <= 0x39 ? v * 10 + <i64>(c - 0x30) : -1;
        }
        this.contentLength = v;
      }
      if (CLIENT_CREDENTIAL_HEADERS.includes(name) || name == CLUSTER_HEADER) {
        if (name == "authorization" && this.bearer.length == 0) {
          const a = value.trim();
          if (a.length > 7 && a.substring(0, 7).toLowerCase() == "bearer ") this.bearer = a.substring(7).trim();
        } else if (name == "api-key" && this.apiKey.length == 0) this.apiKey = value.trim();
        else if (name == "x-api-key" && this.xApiKey.length == 0) this.xApiKey = value.trim();
        if (!this.strip.includes(name)) this.strip.push(name);
      }
    }
  }

  /** The key a client presented: Bearer token, else api-key, else x-api-key ("" = none). */
  presentedKey(): string {
    if (this.bearer.length > 0) return this.bearer;
    if (this.apiKey.length > 0) return this.apiKey;
    return this.xApiKey;
  }
}

/** A client-supplied value made safe for one log line: printable, no spaces, at most 64 chars. */
function logSafe(v: string): string {
  if (v.length == 0) return "-";
  let out = "";
  const n = v.length < 64 ? v.length : 64;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    out += c > 0x20 && c < 0x7f && c != 0x3d ? String.fromCharCode(c) : "_";
  }
  return v.length > 64 ? out + "…" : out;
}

function failoverReason(status: i32): string {
  if (status == 429) return "rate_limited";
  if (status == 401 || status == 403) return "credential_rejected";
  if (status == 0) return "reset";
  if (status == 503) return "unavailable";
  if (status >= 500) return "upstream_error";
  return "status_" + status.toString();
}

export class FailoverStream extends Context {
  private rootCtx: FailoverRoot;
  /** The configuration this request runs under (global or a matching `_rules_` entry). */
  private view: ConfigView | null = null;
  private api: ApiRequest = new ApiRequest();
  private method: string = "";
  private model: string = "";
  private scan: RequestScan | null = null;
  /** The client's body as received (kept while a retry is possible). */
  private body: Uint8Array = new Uint8Array(0);
  private headerOnly: bool = false;
  private routed: bool = false;
  private replied: bool = false;
  private provider: i32 = -1;
  private attempts: i32 = 0;
  private tried: bool[] = [];
  private startedMs: i64 = 0;
  private status: i32 = 0;
  private retrying: bool = false;
  /** The client's request has fully arrived (a retry may only resend a whole body). */
  private requestComplete: bool = false;
  /** A failover attempt is in flight through http_call. */
  private attemptPending: bool = false;
  /** Responses API: the stream's terminal events other than response.completed. */
  private doneIncomplete: Needle | null = null;
  private doneFailed: Needle | null = null;
  /** A 429 whose body is being read to tell a quota error from a rate limit. */
  private pending429: bool = false;
  private pendingRetryAfter: i64 = 0;
  /** Tokens this request reserves (prompt estimate + max output tokens). */
  private need: i64 = 0;
  private resProvider: i32 = -1;
  private resTokens: i64 = 0;
  private resAt: i64 = 0;
  /** The gateway added include_usage: strip the usage chunk from what the client receives. */
  private stripUsage: bool = false;
  private isSse: bool = false;
  private usage: UsageScanner = new UsageScanner();
  private stripper: SseStripper | null = null;
  private done: Needle | null = null;
  /** SSE data events seen (for the completion estimate when no usage arrives). */
  private events: Needle | null = null;
  private responseBytes: i64 = 0;
  private firstByteMs: i64 = -1;
  private maxTokens: i64 = 0;
  private promptEstimate: i64 = 0;
  /** The authenticated consumer (-1 none) and its reservation. */
  private consumer: i32 = -1;
  private conReserved: bool = false;
  private conAt: i64 = 0;
  private conRemTokens: i64 = -1;
  private conRemRequests: i64 = -1;

  constructor(contextId: u32, root: FailoverRoot) {
    super(contextId, root);
    this.rootCtx = root;
  }

  private cfg(): Config {
    return this.view!.config;
  }

  private pname(i: i32): string {
    return i >= 0 ? unchecked(this.cfg().providers[i]).name : "none";
  }

  onRequestHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    if (this.rootCtx.config === null) return FilterHeadersStatusValues.Continue;
    // One host call for every header; then only what is present is removed.
    const h = new RequestHeaders(getHeaderPairs(MapType.RequestHeaders));
    let view = unchecked(this.rootCtx.views[0]);
    if (this.rootCtx.views.length > 1) {
      const rn = getProperty(["xds", "route_name"]);
      view = this.rootCtx.viewFor(rn !== null ? String.UTF8.decode(rn) : "", h.authority);
    }
    this.view = view;
    const cfg = view.config;
    this.startedMs = nowMs();
    const path = h.path;
    this.method = h.method;
    this.api = classifyPath(h.path.length > 0 ? h.path : "/");
    if (cfg.consumers.length > 0) {
      const key = h.presentedKey();
      this.consumer = key.length > 0 ? findConsumer(cfg, key) : -1;
    }
    // Never let a client credential or a client-chosen cluster through.
    for (let i = 0; i < h.strip.length; i++) removeHeader(MapType.RequestHeaders, unchecked(h.strip[i]));
    this.tried = new Array<bool>(cfg.providers.length);

    if (cfg.consumers.length > 0 && this.consumer < 0) {
      this.rootCtx.metrics.rejected("unauthenticated");
      this.reply(401, "ai_failover_unauthenticated", "ai-failover gateway: missing or unknown API key; use a key issued by this gateway " +
        "(send it as Authorization: Bearer or api-key)", "invalid_request_error", "invalid_api_key", []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.api.kind == ApiKind.Unknown) {
      const p = path;
      const q = p.indexOf("?");
      this.reply(404, "ai_failover_unknown_api", "ai-failover serves the OpenAI and Azure OpenAI inference APIs; " +
        this.method + " " + (q >= 0 ? p.substring(0, q) : p) + " is not one of them", "invalid_request_error", "unknown_api", []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.api.kind == ApiKind.Models) {
      this.replyModels(cfg);
      return FilterHeadersStatusValues.StopIteration;
    }
    this.headerOnly = cfg.headerOnly;
    this.requestComplete = endOfStream;
    if (this.headerOnly || endOfStream) {
      this.model = h.hasModel ? h.model : this.api.pathModel;
      const cl = h.contentLength;
      const promptEstimate: i64 = cl > 0 ? cl / 4 : 0;
      if (!this.route(promptEstimate, cfg.defaultMaxTokens, false)) return FilterHeadersStatusValues.StopIteration;
      return FilterHeadersStatusValues.Continue;
    }
    // Routing needs the body: hold the headers (allow_on_headers_stop_iteration keeps them mutable).
    this.rootCtx.awaitBody(this.context_id, this.startedMs);
    return FilterHeadersStatusValues.StopIteration;
  }

  onRequestBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    this.rootCtx.bodyArrived(this.context_id);
    if (this.view === null || this.replied) return FilterDataStatusValues.Continue;
    const cfg = this.cfg();
    if (endOfStream) this.requestComplete = true;
    if (<i64>bodySize > cfg.maxRequestBodyBytes || (this.headerOnly && <i64>(this.body.length + <i32>bodySize) > cfg.maxRequestBodyBytes)) {
      if (this.routed) {
        // Too large to keep for a retry: the attempt in flight proceeds, retries are off.
        this.body = new Uint8Array(0);
        this.tried = new Array<bool>(0);
        return FilterDataStatusValues.Continue;
      }
      this.reply(413, "ai_failover_body_too_large", "request body exceeds " + cfg.maxRequestBodyBytes.toString() +
        " bytes (maxRequestBodyBytes)", "invalid_request_error", "request_too_large", []);
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    if (this.routed && this.consumer >= 0 && unchecked(cfg.consumers[this.consumer]).models.length > 0) {
      // Header-only mode with a model allow-list: the provider reads the model from the body,
      // so the body must say the model that was checked. Hold it until it is whole.
      if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
      const whole = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
      const bytes = whole !== null ? Uint8Array.wrap(whole) : new Uint8Array(0);
      const scan = scanRequest(bytes);
      if (!scan.ok || (scan.modelValueStart >= 0 && scan.model != this.model)) {
        this.releaseProvider(nowMs());
        this.releaseConsumer(nowMs());
        this.reply(400, "ai_failover_model_mismatch", "the body's \"model\" must be the model named in x-ai-model (or the path), which this consumer's allow-list was checked against",
          "invalid_request_error", "model_mismatch", []);
        return FilterDataStatusValues.StopIterationNoBuffer;
      }
      this.body = bytes;
      return FilterDataStatusValues.Continue;
    }
    if (this.routed) {
      // Header-only mode: the body streams through; keep a copy for in-request retry.
      if (bodySize > 0 && this.cfg().retry.maxAttempts > 1) {
        const chunk = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
        if (chunk !== null) this.body = concat(this.body, Uint8Array.wrap(chunk));
      }
      return FilterDataStatusValues.Continue;
    }
    if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
    const raw = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
    this.body = raw !== null ? Uint8Array.wrap(raw) : new Uint8Array(0);
    const scan = scanRequest(this.body);
    if (!scan.ok) {
      this.reply(400, "ai_failover_invalid_body", scan.error, "invalid_request_error", "invalid_json", []);
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    this.scan = scan;
    this.model = scan.model.length > 0 ? scan.model : this.api.pathModel;
    if (scan.stream && !cfg.streaming.allow) {
      this.reply(400, "ai_failover_streaming_disabled", "streaming is disabled by this gateway's policy (streaming.allow: false); send the request without \"stream\": true",
        "invalid_request_error", "streaming_not_allowed", []);
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    const maxTokens = scan.maxTokens >= 0 ? scan.maxTokens : cfg.defaultMaxTokens;
    if (!this.route(scan.promptTokens(), maxTokens, true)) return FilterDataStatusValues.StopIterationNoBuffer;
    return FilterDataStatusValues.Continue;
  }

  onRequestTrailers(_trailers: u32): FilterTrailersStatusValues {
    if (this.view === null) return FilterTrailersStatusValues.Continue;
    // Trailers are headers too: a client credential in them never goes upstream.
    for (let i = 0; i < CLIENT_CREDENTIAL_HEADERS.length; i++) removeHeader(MapType.RequestTrailers, unchecked(CLIENT_CREDENTIAL_HEADERS[i]));
    removeHeader(MapType.RequestTrailers, CLUSTER_HEADER);
    this.requestComplete = true;
    if (!this.routed && !this.replied) {
      // The body ended with trailers instead of end_of_stream: it was never routed, and an
      // unrouted request must not go on (it would carry no provider credential).
      this.reply(400, "ai_failover_trailers", "request trailers are not supported by this gateway; send the body without trailers",
        "invalid_request_error", "unsupported_trailers", []);
      return FilterTrailersStatusValues.StopIteration;
    }
    return FilterTrailersStatusValues.Continue;
  }

  /** Reserves the request in the consumer's budget; replies 429 (and returns false) when over it. */
  private reserveConsumer(now: i64): bool {
    const c = unchecked(this.cfg().consumers[this.consumer]);
    if (c.tokensPerMinute == 0 && c.requestsPerMinute == 0) return true;
    const lim = consumerLimits(c);
    const key = consumerKey(c);
    const fp = consumerFingerprint(c);
    const op = new ReserveOp(lim, this.need, now);
    const s = updateState(key, fp, op);
    if (s !== null && op.ok) {
      this.conReserved = true;
      this.conAt = now;
      this.conRemTokens = c.tokensPerMinute > 0 ? tokensLeft(s, lim) : -1;
      this.conRemRequests = c.requestsPerMinute > 0 ? requestsLeft(s, lim) : -1;
      return true;
    }
    const cur = loadState(key, fp);
    let remT = c.tokensPerMinute > 0 ? tokensLeft(cur, lim) : -1;
    let remR = c.requestsPerMinute > 0 ? requestsLeft(cur, lim) : -1;
    if (remT < 0 && c.tokensPerMinute > 0) remT = 0;
    if (remR < 0 && c.requestsPerMinute > 0) remR = 0;
    let waitMs = windowResetAt(cur, lim) - now;
    if (waitMs < 0) waitMs = 0;
    const waitS = (waitMs + 999) / 1000;
    this.rootCtx.metrics.rejected("consumer_budget");
    const tooBig = c.tokensPerMinute > 0 && this.need > c.tokensPerMinute;
    const extra: string[] = ["retry-after", (waitS < 1 ? 1 : waitS).toString()];
    this.conRemTokens = remT;
    this.conRemRequests = remR;
    this.reply(429, "ai_failover_consumer_budget", tooBig
      ? "this request (" + this.need.toString() + " tokens estimated) is larger than consumer " + c.name + "'s budget of " + c.tokensPerMinute.toString() + " tokens per minute"
      : "consumer " + c.name + " is over its budget (" + c.tokensPerMinute.toString() + " tokens, " + c.requestsPerMinute.toString() +
        " requests per minute); retry after " + (waitS < 1 ? 1 : waitS).toString() + " s",
      "rate_limit_error", "consumer_rate_limit_exceeded", extra);
    return false;
  }

  /** Gives back the consumer's reservation (nothing was consumed), or settles it with `actual` tokens. */
  private settleConsumer(actual: i64, now: i64): void {
    if (!this.conReserved || this.consumer < 0) return;
    this.conReserved = false;
    const c = unchecked(this.cfg().consumers[this.consumer]);
    updateState(consumerKey(c), consumerFingerprint(c), new SettleOp(consumerLimits(c), this.need, actual, this.conAt, now, true));
  }

  /** Gives back the provider reservation of an attempt that will not be sent on. */
  private releaseProvider(now: i64): void {
    const i = this.resProvider;
    if (i < 0) return;
    this.resProvider = -1;
    this.rootCtx.update(this.view!, i, new SettleOp(unchecked(this.cfg().providers[i]).limits, this.resTokens, -1, this.resAt, now, false));
  }

  private releaseConsumer(now: i64): void {
    if (!this.conReserved) return;
    this.settleConsumer(-1, now);
    // What this request had reserved is free again.
    if (this.conRemTokens >= 0) this.conRemTokens += this.need;
    if (this.conRemRequests >= 0) this.conRemRequests += 1;
  }

  /**
   * Picks a provider that is available and has capacity for `need` tokens, and reserves them
   * in its window (CAS; a lost race re-picks). -1 with a reply sent when none can take it.
   */
  private pickAndReserve(now: i64): i32 {
    const cfg = this.cfg();
    const n = cfg.providers.length;
    for (let round = 0; round < n + 2; round++) {
      const states = this.rootCtx.loadStates(this.view!);
      const capacity = new Array<bool>(n);
      for (let i = 0; i < n; i++) {
        unchecked((capacity[i] = fits(unchecked(states[i]), unchecked(cfg.providers[i]).limits, this.need, now)));
      }
      if (this.headerOnly) {
        // The body is not rewritten in this mode: skip providers that need another model
        // name in it (an Azure v1 deployment named differently from the model).
        for (let i = 0; i < n; i++) {
          const p = unchecked(cfg.providers[i]);
          if (p.type == ProviderType.AzureOpenAI && bodyNeedsModel(p, this.api.kind) && p.deploymentFor(this.model) != this.model) {
            unchecked((capacity[i] = false));
          }
        }
      }
      const choice = choose(cfg.providers, states, this.model, now, this.tried, capacity, this.rootCtx.rng);
      if (choice.index < 0) {
        if (this.attempts == 0) this.replyNoProvider(choice.why, states, now);
        return -1;
      }
      const i = choice.index;
      const op = new ReserveOp(unchecked(cfg.providers[i]).limits, this.need, now);
      if (this.rootCtx.update(this.view!, i, op) !== null && op.ok) {
        this.resProvider = i;
        this.resTokens = this.need;
        this.resAt = now;
        return i;
      }
      // Another worker took the capacity between our read and our write: choose again.
    }
    if (this.attempts == 0) this.replyNoProvider(NoChoice.NoCapacity, this.rootCtx.loadStates(this.view!), now);
    return -1;
  }

  /** Chooses a provider and rewrites the held request for it. False when a reply was sent instead. */
  private route(promptTokens: i64, maxTokens: i64, haveBody: bool): bool {
    const cfg = this.cfg();
    const now = nowMs();
    if (this.model.length == 0) {
      this.replyNoProvider(NoChoice.UnknownModel, [], now);
      return false;
    }
    this.need = promptTokens + maxTokens;
    this.maxTokens = maxTokens;
    this.promptEstimate = promptTokens;
    if (this.consumer >= 0) {
      const c = unchecked(cfg.consumers[this.consumer]);
      if (!allowsModel(c, this.model)) {
        this.rootCtx.metrics.rejected("model_not_allowed");
        this.reply(403, "ai_failover_model_not_allowed", "consumer " + c.name + " may not use model \"" + this.model + "\"",
          "invalid_request_error", "model_not_allowed", []);
        return false;
      }
      if (!this.reserveConsumer(now)) return false;
    }
    const i = this.pickAndReserve(now);
    if (i < 0) {
      this.releaseConsumer(now);
      return false;
    }
    const p = unchecked(cfg.providers[i]);
    this.provider = i;
    this.attempts = 1;
    unchecked((this.tried[i] = true));
    this.routed = true;
    replaceHeader(MapType.RequestHeaders, ":authority", p.host);
    replaceHeader(MapType.RequestHeaders, ":path", upstreamPath(p, this.api.kind, p.deploymentFor(this.model)));
    replaceHeader(MapType.RequestHeaders, authHeaderName(p), authHeaderValue(p));
    replaceHeader(MapType.RequestHeaders, CLUSTER_HEADER, p.cluster);
    if (haveBody) {
      const shaped = this.bodyFor(p);
      if (shaped !== this.body) {
        setBuffer(BufferType.RequestBody, 0, <u32>this.body.length, shaped.buffer);
        // Envoy never recomputes content-length: a stale one would truncate or hang the upstream.
        removeHeader(MapType.RequestHeaders, "content-length");
      }
    }
    if (enabled(Level.Debug)) {
      log(Level.Debug, "ai-failover: " + apiName(this.api.kind) + " model=" + logSafe(this.model) + " → " + p.name +
        " (cluster " + p.cluster + ", key " + p.credential.masked() + ", reserved " + this.need.toString() + " tokens)");
    }
    return true;
  }

  /** The body as provider `p` expects it (same object when no change is needed). */
  private bodyFor(p: ProviderConfig): Uint8Array {
    const scan = this.scan;
    if (scan === null) return this.body;
    let model = "";
    if (bodyNeedsModel(p, this.api.kind)) model = p.type == ProviderType.AzureOpenAI ? p.deploymentFor(this.model) : this.model;
    const cfg = this.cfg();
    const inject = scan.stream && this.api.kind == ApiKind.ChatCompletions && cfg.streaming.includeUsage && scan.includeUsage < 0;
    this.stripUsage = inject;
    return shapeBody(this.body, scan, model, inject);
  }

  onResponseHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    if (this.view === null || this.provider < 0) return FilterHeadersStatusValues.Continue;
    const st = getHeader(MapType.ResponseHeaders, ":status");
    const status = st !== null ? I32.parseInt(st) : 0;
    this.status = status;
    const now = nowMs();
    const retryAfter = status == 429 ? retryAfterMs(MapType.ResponseHeaders) : 0;
    const remT = intHeader(MapType.ResponseHeaders, "x-ratelimit-remaining-tokens");
    const remR = intHeader(MapType.ResponseHeaders, "x-ratelimit-remaining-requests");
    if (status == 429 && !endOfStream && !this.headerOnly) {
      // Cool the provider down at once (no other request may pick it meanwhile); a 429 may also
      // be a quota error (insufficient_quota: a long ejection, not a short cooldown): read its
      // (small) body before deciding the rest. Headers stay mutable meanwhile
      // (allow_on_headers_stop_iteration).
      this.record(this.provider, status, now, retryAfter, remT, remR);
      this.pending429 = true;
      this.pendingRetryAfter = retryAfter;
      return FilterHeadersStatusValues.StopIteration;
    }
    this.record(this.provider, status, now, retryAfter, remT, remR);
    if (this.shouldRetry(status) && this.retry(now)) {
      this.retrying = true;
      // The failed response is replaced by the next attempt's (sent as a local reply).
      return FilterHeadersStatusValues.StopIteration;
    }
    this.prepareResponse(status);
    return FilterHeadersStatusValues.Continue;
  }

  /** Streaming bookkeeping and client-facing headers for the response that goes on. */
  private prepareResponse(status: i32): void {
    const ct = getHeader(MapType.ResponseHeaders, "content-type");
    this.isSse = ct !== null && ct.startsWith("text/event-stream");
    if (this.isSse && status == 200) {
      // Anchored at a line start: a raw newline cannot occur inside the JSON of an event, so
      // generated text that mentions these words never counts as the end.
      this.done = new Needle(this.api.kind == ApiKind.Responses ? "\nevent: response.completed" : "\ndata: [DONE]");
      if (this.api.kind == ApiKind.Responses) {
        this.doneIncomplete = new Needle("\nevent: response.incomplete");
        this.doneFailed = new Needle("\nevent: response.failed");
      }
      this.events = new Needle(this.api.kind == ApiKind.Responses ? "response.output_text.delta" : "\"delta\":{\"content\":\"");
      if (this.stripUsage) {
        this.stripper = new SseStripper();
        removeHeader(MapType.ResponseHeaders, "content-length");
      }
    }
    this.decorateResponse();
  }

  onResponseBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    // While a failover attempt is in flight the failed response's body is held back (it is
    // replaced by the attempt's answer).
    if (this.retrying) return FilterDataStatusValues.StopIterationNoBuffer;
    if (this.pending429) {
      if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
      this.pending429 = false;
      const raw = bodySize > 0 && bodySize <= 65536 ? getBuffer(BufferType.ResponseBody, 0, <u32>bodySize) : null;
      const quota = raw !== null && String.UTF8.decode(raw).includes("insufficient_quota");
      const now = nowMs();
      // Already cooled down at the headers; a quota error turns that into a long ejection.
      if (quota) this.record(this.provider, 429, now, this.pendingRetryAfter, -1, -1, true);
      if (this.shouldRetry(429) && this.retry(now)) {
        this.retrying = true;
        return FilterDataStatusValues.StopIterationNoBuffer;
      }
      // Nothing else can take it: the client gets the provider's 429 as it was.
      this.prepareResponse(429);
      return FilterDataStatusValues.Continue;
    }
    if (this.provider < 0) return FilterDataStatusValues.Continue;
    let chunk: Uint8Array;
    if (bodySize > 0) {
      const raw = getBuffer(BufferType.ResponseBody, 0, <u32>bodySize);
      chunk = raw !== null ? Uint8Array.wrap(raw) : new Uint8Array(0);
    } else chunk = new Uint8Array(0);
    if (chunk.length > 0 && this.firstByteMs < 0) this.firstByteMs = nowMs();
    this.responseBytes += chunk.length;
    this.usage.feed(chunk);
    const events = this.events;
    if (events !== null) events.feed(chunk);
    const done = this.done;
    if (done !== null) done.feed(chunk);
    const stripper = this.stripper;
    let out = chunk;
    if (stripper !== null) out = stripper.feed(chunk, endOfStream);
    const di = this.doneIncomplete;
    const df = this.doneFailed;
    if (di !== null) di.feed(chunk);
    if (df !== null) df.feed(chunk);
    const ended = (done !== null && done.found) || (di !== null && di.found) || (df !== null && df.found);
    if (endOfStream && done !== null && !ended) {
      // The provider ended the stream cleanly but unfinished: say so instead of a silent end.
      out = concat(out, STREAM_INCOMPLETE);
      log(Level.Warn, "ai-failover: stream from " + unchecked(this.cfg().providers[this.provider]).name + " ended before completion");
    }
    if (out !== chunk) setBuffer(BufferType.ResponseBody, 0, <u32>chunk.length, out.buffer);
    return FilterDataStatusValues.Continue;
  }

  onResponseTrailers(_trailers: u32): FilterTrailersStatusValues {
    // Trailers are headers too: a provider credential echoed there never reaches the client.
    removeHeader(MapType.ResponseTrailers, "api-key");
    removeHeader(MapType.ResponseTrailers, "authorization");
    removeHeader(MapType.ResponseTrailers, CLUSTER_HEADER);
    return FilterTrailersStatusValues.Continue;
  }

  private decorateResponse(): void {
    // A provider's credential or our routing header never reaches the client.
    removeHeader(MapType.ResponseHeaders, "api-key");
    removeHeader(MapType.ResponseHeaders, "authorization");
    removeHeader(MapType.ResponseHeaders, CLUSTER_HEADER);
    replaceHeader(MapType.ResponseHeaders, PROVIDER_HEADER, unchecked(this.cfg().providers[this.provider]).name);
    replaceHeader(MapType.ResponseHeaders, ATTEMPTS_HEADER, this.attempts.toString());
    if (this.consumer >= 0) {
      // The client sees its own budget, not the provider's.
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-limit-tokens");
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-limit-requests");
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-reset-tokens");
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-reset-requests");
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-remaining-tokens");
      removeHeader(MapType.ResponseHeaders, "x-ratelimit-remaining-requests");
      const kv = this.consumerHeaders();
      for (let k = 0; k + 1 < kv.length; k += 2) replaceHeader(MapType.ResponseHeaders, unchecked(kv[k]), unchecked(kv[k + 1]));
    }
  }

  /** x-ratelimit-remaining-* of the consumer's budget (as reserved for this request). */
  private consumerHeaders(): string[] {
    const out: string[] = [];
    if (this.conRemTokens >= 0) { out.push("x-ratelimit-remaining-tokens"); out.push(this.conRemTokens.toString()); }
    if (this.conRemRequests >= 0) { out.push("x-ratelimit-remaining-requests"); out.push(this.conRemRequests.toString()); }
    return out;
  }

  private shouldRetry(status: i32): bool {
    const cfg = this.cfg();
    if (this.attempts >= cfg.retry.maxAttempts) return false;
    if (this.tried.length == 0) return false;
    if (status == 0) return cfg.retry.onConnectFailure;
    if (status == 401 || status == 403) return true; // the next provider has its own key
    return cfg.retry.onStatus.includes(status);
  }

  /** Passive health for provider i from one attempt's outcome (releasing its reservation if it failed). */
  private record(i: i32, status: i32, now: i64, retryAfter: i64, remTokens: i64, remRequests: i64, quota: bool = false): void {
    const cfg = this.cfg();
    const outcome = classifyStatus(status, quota);
    const p = unchecked(cfg.providers[i]);
    const release = i == this.resProvider && (status < 200 || status >= 300);
    const op = new ResponseOp(outcome, now, retryAfter, remTokens, remRequests, cfg, p.limits, release, this.resTokens, this.resAt);
    this.rootCtx.update(this.view!, i, op);
    if (release) this.resProvider = -1;
    if (outcome == Outcome.CredentialRejected) {
      log(Level.Error, "ai-failover: provider " + p.name + " rejected its credential (key " + p.credential.masked() +
        ", endpoint " + p.host + ") with " + status.toString() + "; it gets no traffic until a health check succeeds");
    } else if (op.becameUnavailable && enabled(Level.Warn)) {
      log(Level.Warn, "ai-failover: provider " + p.name + " unavailable after status " + status.toString() +
        (retryAfter > 0 ? " (retry after " + retryAfter.toString() + " ms)" : ""));
    }
  }

  /** Sends the saved request to the next available provider. False when none is left. */
  private retry(now: i64): bool {
    const cfg = this.cfg();
    // Without the whole request body there is nothing to resend (header-only mode: the body
    // is still arriving, or was over the limit).
    if (!this.requestComplete) return false;
    if (this.body.length == 0 && this.method != "GET") return false;
    const i = this.pickAndReserve(now);
    if (i < 0) return false;
    const p = unchecked(cfg.providers[i]);
    unchecked((this.tried[i] = true));
    const body = this.scan !== null ? this.bodyFor(p) : this.body;
    const headers: string[] = [
      ":method", this.method.length > 0 ? this.method : "POST",
      ":path", upstreamPath(p, this.api.kind, p.deploymentFor(this.model)),
      ":authority", p.host, ":scheme", "https",
      authHeaderName(p), authHeaderValue(p),
      "content-type", "application/json",
    ];
    const r = this.rootCtx.sendAttempt(this, this.view!, p, i, this.resTokens, this.resAt, headers, body.buffer, <u32>cfg.upstreamTimeoutMs);
    if (r != Result.Ok) {
      this.record(i, 0, now, 0, -1, -1);
      return this.retry(now);
    }
    this.attemptPending = true;
    this.rootCtx.metrics.failover(this.pname(this.provider), failoverReason(this.status));
    if (enabled(Level.Info)) {
      log(Level.Info, "ai-failover: failover " + unchecked(cfg.providers[this.provider]).name + " → " + p.name +
        " (attempt " + (this.attempts + 1).toString() + ", previous status " + this.status.toString() + ")");
    }
    this.provider = i;
    this.attempts++;
    return true;
  }

  /** Called by the root context when an http_call attempt answers. */
  onAttemptResponse(i: i32, status: i32, numHeaders: u32, bodySize: u32, now: i64): void {
    setEffectiveContext(this.context_id);
    this.attemptPending = false;
    this.status = status;
    const retryAfter = status == 429 ? retryAfterMs(MapType.HttpCallResponseHeaders) : 0;
    let quota = false;
    if (status == 429 && bodySize > 0 && bodySize <= 65536) {
      const b = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
      quota = b !== null && String.UTF8.decode(b).includes("insufficient_quota");
    }
    this.record(i, status, now, retryAfter,
      intHeader(MapType.HttpCallResponseHeaders, "x-ratelimit-remaining-tokens"), intHeader(MapType.HttpCallResponseHeaders, "x-ratelimit-remaining-requests"), quota);
    if (this.shouldRetry(status)) {
      const saved = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
      const savedHeaders = getHeaderPairs(MapType.HttpCallResponseHeaders);
      if (this.retry(now)) return;
      this.replyWithAttempt(status, savedHeaders, saved);
      return;
    }
    let body = bodySize > 0 ? getBuffer(BufferType.HttpCallResponseBody, 0, bodySize) : null;
    if (body !== null && status >= 200 && status < 300) {
      // The retried answer arrives whole: account it, and strip the injected usage chunk.
      const bytes = Uint8Array.wrap(body);
      this.usage.feed(bytes);
      this.responseBytes += bytes.length;
      if (this.firstByteMs < 0) this.firstByteMs = now;
      const ct = getHeader(MapType.HttpCallResponseHeaders, "content-type");
      if (ct !== null && ct.startsWith("text/event-stream")) {
        // Counted like a streamed answer, for the estimate when no usage arrives.
        const ev = new Needle(this.api.kind == ApiKind.Responses ? "response.output_text.delta" : "\"delta\":{\"content\":\"");
        ev.feed(bytes);
        this.events = ev;
      }
      if (this.stripUsage && ct !== null && ct.startsWith("text/event-stream")) {
        body = new SseStripper().feed(bytes, true).buffer;
      }
    }
    this.replyWithAttempt(status, numHeaders > 0 ? getHeaderPairs(MapType.HttpCallResponseHeaders) : [], body);
  }

  private replyWithAttempt(status: i32, pairs: string[], body: ArrayBuffer | null): void {
    this.rootCtx.streams.delete(this.context_id);
    const cfg = this.cfg();
    const headers: string[] = [];
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      const name = unchecked(pairs[k]);
      if (!FORWARDED_RESPONSE_HEADERS.includes(name)) continue;
      if (this.consumer >= 0 && name.startsWith("x-ratelimit-")) continue;
      headers.push(name);
      headers.push(unchecked(pairs[k + 1]));
    }
    if (this.consumer >= 0) {
      const kv = this.consumerHeaders();
      for (let k = 0; k < kv.length; k++) headers.push(unchecked(kv[k]));
    }
    if (this.firstByteMs < 0) this.firstByteMs = nowMs();
    headers.push(PROVIDER_HEADER); headers.push(unchecked(cfg.providers[this.provider]).name);
    headers.push(ATTEMPTS_HEADER); headers.push(this.attempts.toString());
    if (status == 0) {
      this.reply(503, "ai_failover_upstream_reset", "the upstream connection was reset and no other provider could take the request",
        "server_error", "upstream_reset", [PROVIDER_HEADER, unchecked(cfg.providers[this.provider]).name, ATTEMPTS_HEADER, this.attempts.toString()]);
      return;
    }
    this.replied = true;
    sendLocalResponse(<u32>status, "ai_failover_attempt_" + this.attempts.toString(), body !== null ? body : new ArrayBuffer(0), headers);
  }

  private reply(status: u32, details: string, message: string, type: string, code: string, extra: string[]): void {
    this.replied = true;
    this.status = <i32>status;
    // Every response a consumer gets carries its own budget.
    if (this.consumer >= 0) {
      const kv = this.consumerHeaders();
      for (let k = 0; k < kv.length; k++) extra.push(unchecked(kv[k]));
    }
    sendError(status, details, message, type, code, extra);
  }

  private replyNoProvider(why: NoChoice, states: ProviderState[], now: i64): void {
    const cfg = this.cfg();
    this.rootCtx.metrics.rejected(why == NoChoice.UnknownModel ? "unknown_model" : why == NoChoice.NoCapacity ? "no_capacity" : "no_provider_available");
    if (why == NoChoice.UnknownModel) {
      const m = this.model.length > 0 ? "model \"" + this.model + "\" is not served by any provider of this gateway"
        : "the request names no model (set \"model\" in the body" + (this.headerOnly ? " or the x-ai-model header" : "") + ")";
      this.reply(this.model.length > 0 ? 404 : 400, "ai_failover_unknown_model", m, "invalid_request_error", "model_not_found", []);
      return;
    }
    // Earliest moment any provider serving the model frees up.
    let earliest: i64 = i64.MAX_VALUE;
    let cooling = 0;
    let unhealthy = 0;
    for (let i = 0; i < cfg.providers.length; i++) {
      const p = unchecked(cfg.providers[i]);
      if (!p.serves(this.model)) continue;
      const s = unchecked(states[i]);
      let at: i64;
      if (!s.healthy || s.credentialBad) {
        unhealthy++;
        at = s.cooldownUntilMs > now ? s.cooldownUntilMs : now + cfg.healthCheck.intervalMs;
      } else if (s.cooldownUntilMs > now) {
        cooling++;
        at = s.cooldownUntilMs;
      } else {
        // Available but without capacity: its window frees up.
        at = windowResetAt(s, p.limits);
        if (at <= now) at = now + 1000;
      }
      if (at < earliest) earliest = at;
    }
    let waitS: i64 = earliest == i64.MAX_VALUE ? 1 : (earliest - now + 999) / 1000;
    if (waitS < 1) waitS = 1;
    let msg: string;
    // Larger than every serving provider's whole window: waiting will not help.
    let tooLarge = why == NoChoice.NoCapacity;
    for (let i = 0; tooLarge && i < cfg.providers.length; i++) {
      const p = unchecked(cfg.providers[i]);
      if (p.serves(this.model) && (p.limits.tokensPerMinute == 0 || this.need <= p.limits.tokensPerMinute)) tooLarge = false;
    }
    if (tooLarge) {
      this.reply(429, "ai_failover_request_too_large", "this request (" + this.need.toString() +
        " tokens estimated: prompt + max output tokens) is larger than any provider's token window; lower max_tokens or the prompt",
        "rate_limit_error", "request_exceeds_capacity", ["retry-after", waitS.toString()]);
      return;
    }
    if (why == NoChoice.NoCapacity) msg = "no provider has capacity for this request right now";
    else if (unhealthy > 0 && cooling == 0) msg = "every provider serving this model is unhealthy";
    else if (cooling > 0 && unhealthy == 0) msg = "every provider serving this model is cooling down after rate limiting";
    else msg = "no provider serving this model is available (" + unhealthy.toString() + " unhealthy, " + cooling.toString() + " cooling down)";
    this.reply(429, "ai_failover_no_provider", msg + "; retry after " + waitS.toString() + " s", "rate_limit_error", "no_provider_available",
      ["retry-after", waitS.toString()]);
  }

  private replyModels(cfg: Config): void {
    const seen = new Array<string>();
    const b = new ByteBuilder(256);
    b.str("{\"object\":\"list\",\"data\":[");
    for (let i = 0; i < cfg.providers.length; i++) {
      const p = unchecked(cfg.providers[i]);
      const names = p.type == ProviderType.AzureOpenAI ? p.deploymentKeys : p.models;
      for (let k = 0; k < names.length; k++) {
        const m = unchecked(names[k]);
        if (seen.includes(m)) continue;
        if (seen.length > 0) b.byte(0x2c);
        seen.push(m);
        b.str("{\"id\":").str(quote(m)).str(",\"object\":\"model\",\"created\":0,\"owned_by\":\"ai-failover\"}");
      }
    }
    b.str("]}");
    this.replied = true;
    this.status = 200;
    sendLocalResponse(200, "ai_failover_models", b.finish().buffer, ["content-type", "application/json"]);
  }

  onLog(): void {
    this.rootCtx.streams.delete(this.context_id);
    this.rootCtx.bodyArrived(this.context_id);
    if (this.view === null) return;
    const cfg = this.cfg();
    const now = nowMs();
    // A 429 whose body never completed was recorded at its headers already.
    this.pending429 = false;
    if (this.attemptPending && this.conReserved && this.consumer >= 0) {
      // The client left while a failover attempt is in flight: the attempt's answer settles the
      // consumer's budget (charged if it succeeds, released if not).
      const c = unchecked(cfg.consumers[this.consumer]);
      this.rootCtx.adoptConsumer(this.context_id, consumerKey(c), consumerFingerprint(c), consumerLimits(c), this.need, this.conAt);
      this.conReserved = false;
    }
    const ok = this.status >= 200 && this.status < 300;
    const u = this.usage;
    let input: i64 = 0;
    let output: i64 = 0;
    let estimated = false;
    if (u.found) {
      input = u.promptTokens > 0 ? u.promptTokens : 0;
      output = u.completionTokens > 0 ? u.completionTokens : 0;
      if (u.promptTokens < 0 && u.completionTokens < 0 && u.totalTokens > 0) input = u.totalTokens;
    } else if (ok && this.provider >= 0) {
      // No usage from the provider (cut stream, API without usage): estimate, and say so.
      estimated = true;
      input = this.promptEstimate;
      const ev = this.events;
      output = ev !== null ? <i64>ev.count : this.responseBytes / 4;
      if (this.maxTokens > 0 && output > this.maxTokens) output = this.maxTokens;
    }
    const actual = input + output;
    if (this.resProvider >= 0 && (u.found || estimated)) {
      // Reconcile the reservation with what the provider says it used.
      const i = this.resProvider;
      this.rootCtx.update(this.view!, i, new SettleOp(unchecked(cfg.providers[i]).limits, this.resTokens, actual, this.resAt, now, false));
    }
    if (this.conReserved) {
      if (!ok) this.releaseConsumer(now);
      else if (u.found || estimated) this.settleConsumer(actual, now);
    }
    const consumer = this.consumer >= 0 ? unchecked(cfg.consumers[this.consumer]).name : "none";
    // Metric labels only carry model names the configuration knows (bounded cardinality, no
    // client-controlled text in stat names).
    const model = this.provider < 0 ? "none" : isConfiguredModel(cfg.providers, this.model) ? this.model : "other";
    const m = this.rootCtx.metrics;
    if (this.startedMs > 0) m.request(this.pname(this.provider), consumer, model, this.status);
    if (input > 0 || output > 0) m.tokens(this.pname(this.provider), consumer, model, input, output, estimated);
    const ttfb = this.firstByteMs >= 0 ? this.firstByteMs - this.startedMs : -1;
    if (ttfb >= 0 && this.provider >= 0) m.timeToFirstByte(this.pname(this.provider), ttfb);
    if (this.startedMs > 0 && enabled(Level.Info)) {
      // One line per request: no credentials, no content.
      log(Level.Info, "ai-failover access: provider=" + (this.provider >= 0 ? unchecked(cfg.providers[this.provider]).name : "-") +
        " consumer=" + consumer + " api=" + apiName(this.api.kind) + " model=" + logSafe(this.model) +
        " status=" + this.status.toString() + " attempts=" + this.attempts.toString() +
        " stream=" + (this.scan !== null && this.scan!.stream ? "true" : "false") +
        " prompt_tokens=" + input.toString() + " completion_tokens=" + output.toString() +
        " estimated=" + (estimated ? "true" : "false") + " ttfb_ms=" + ttfb.toString() + " total_ms=" + (now - this.startedMs).toString());
    }
  }

  onDelete(): void {
    this.rootCtx.streams.delete(this.context_id);
  }
}
