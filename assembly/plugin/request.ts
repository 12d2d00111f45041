// One client request (the HTTP context): classify it, strip client credentials, read the body,
// admit it (consumer budget, provider capacity), send it to a provider as an Attempt, fail over
// on retryable answers, and account for it once it ends. Decisions come from plan/; this file
// applies them.

import { Context, FilterDataStatusValues, FilterHeadersStatusValues, FilterTrailersStatusValues } from "@solo-io/proxy-runtime/assembly";
import { BudgetState } from "../admission/budget";
import { Config } from "../config/model";
import { RequestScan, scanRequest } from "../lib/json_scan";
import { NO_CHARGE } from "../plan/accounting";
import { AnswerHeaders, classifyAnswer, ERROR_BODY_PREFIX } from "../plan/answer";
import { modelList } from "../plan/models";
import { fnv1a64 } from "../lib/hash";
import {
  bodyTooLarge, invalidBody, modelNotAllowed, noProvider, overBudget, Rejection, streamingDisabled,
  unauthenticated, unknownApi, unknownPinnedProvider, unsupportedTrailers,
} from "../plan/rejection";
import { CLUSTER_HEADER, upstreamRequest } from "../plan/upstream";
import {
  BufferType, getBuffer, getHeader, getHeaderPairsRaw, MapType, nowMs, removeHeader, sendLocalResponse, setBuffer,
} from "../host/calls";
import { readAnswerHeaders, readBodyPrefix } from "../host/answer";
import { headerEdit } from "../host/header_edit";
import { enabled, Level, log } from "../host/log";
import { sendError } from "../host/replies";
import { ApiKind, ApiRequest, apiName, classifyPath, isStateful } from "../provider/api";
import { CLIENT_CREDENTIAL_HEADERS } from "../provider/route";
import { NoChoice } from "../select/selector";
import { logSafe, recordRequest } from "./access_log";
import { Attempt, AttemptOwner } from "./attempt";
import { admitConsumer, allowsModel, findConsumer } from "./consumers";
import { attemptAnswered, decideHeldError, errorBodyExpired, failover, rejectCredential } from "./failover";
import { headerModeBody } from "./header_mode";
import { allowed, Phase, phaseName } from "./phase";
import { pickProvider } from "./pick";
import { Reservation } from "./reservation";
import { clientHeaders, decorateResponse, RESPONSE_WATCH, stripResponseTrailers } from "./response";
import { FailoverRoot } from "./root";
import { RequestHeaders, rewriteRequestHeaders } from "./request_headers";
import { clusterName, perTryTimeoutDetails, routeName } from "../host/routing";
import { ConfigView, loadStates, viewFor } from "./views";
import { IdCapture, ownerOf, providerHash, referencedIds } from "./affinity";
import { capturesIds, isMultipart, multipartField, storesNothing } from "./forms";
import { PoolKind } from "./cluster";
import { clusterConsumer, clusterUnavailable, mayWait, parkForLease } from "./cluster_wait";

// Shared initial values of a request's fields (each is replaced before anything is added to it):
// a request's context allocates none of them.
const NO_API = new ApiRequest();
const NO_NAMES: string[] = [];
const NO_BYTES = new Uint8Array(0);
const NO_PROVIDERS: bool[] = [];

/**
 * What classifyPath makes of a path, remembered per path (requests mostly repeat a few paths; the
 * result is never changed once made). Bounded: forgotten all at once when full (paths are the client's).
 */
const classifiedPaths = new Map<string, ApiRequest>();
const MAX_CLASSIFIED = 256;

function classified(path: string): ApiRequest {
  if (classifiedPaths.has(path)) return classifiedPaths.get(path);
  const a = classifyPath(path);
  if (classifiedPaths.size >= MAX_CLASSIFIED) classifiedPaths.clear();
  classifiedPaths.set(path, a);
  return a;
}

export class ClientRequest extends Context {
  readonly root: FailoverRoot;
  /** The configuration this request runs under (global or a matching `_rules_` entry). */
  view: ConfigView | null = null;
  phase: Phase = Phase.Idle;
  api: ApiRequest = NO_API;
  method: string = "";
  model: string = "";
  scan: RequestScan | null = null;
  /** The client's content-type (multipart bodies pass unmodified, with it). */
  contentType: string = "";
  /** Stored objects the request names (path id, previous_response_id, conversation, files, reasoning items). */
  referenced: string[] = NO_NAMES;
  /** The request ended with its headers (GET, DELETE, a bodiless POST …/cancel): resendable as it is. */
  noBody: bool = false;
  /** The x-ai-model header's value ("" when absent). */
  headerModel: string = "";
  /** The request goes to the provider holding its state, and nowhere else (plugin/affinity.ts). */
  pinned: bool = false;
  /** Candidates other than the owner (skipped when pinned). */
  notOwner: bool[] | null = null;
  /** Sticks the request to one provider (affinity.header / affinity.consumer; 0: none). */
  affinityKey: u64 = 0;
  /** It names objects whose owner is unknown: a "not held here" answer moves it on. */
  discovering: bool = false;
  /** The client's body as received (kept while a retry is possible). */
  body: Uint8Array = NO_BYTES;
  headerOnly: bool = false;
  /** The client's request has fully arrived (a retry may only resend a whole body). */
  bodyComplete: bool = false;
  /** Providers tried so far (empty: retries are off for this request). */
  tried: bool[] = NO_PROVIDERS;
  attempts: i32 = 0;
  /** Why each earlier attempt was left (failovers_total's reasons, comma-separated; "" none). */
  failovers: string = "";
  /** The latest attempt (the one whose answer the client gets). */
  attempt: Attempt | null = null;
  /** The last status seen or sent. */
  status: i32 = 0;
  startedMs: i64 = 0;
  firstByteMs: i64 = -1;
  /** When the in-band answer's headers arrived (-1: not yet). */
  headersMs: i64 = -1;
  /** Tokens this request reserves (prompt estimate + max output tokens). */
  need: i64 = 0;
  promptEstimate: i64 = 0;
  maxTokens: i64 = 0;
  /** The authenticated consumer (-1 none), its reservation and what it has left. */
  consumer: i32 = -1;
  budget: Reservation<BudgetState> | null = null;
  budgetLeftTokens: i64 = -1;
  budgetLeftRequests: i64 = -1;
  /** Cluster limits: leases this request has waited for (plugin/cluster_wait.ts). */
  clusterWaits: i32 = 0;
  /** The request's header map as read at its headers and the names stripped from it since (until it is rewritten for its provider). */
  headerPairs: ArrayBuffer | null = null;
  stripped: string[] = NO_NAMES;
  private owner: RequestOwner | null = null;

  constructor(contextId: u32, root: FailoverRoot) {
    super(contextId, root);
    this.root = root;
  }

  cfg(): Config {
    return this.view!.config;
  }

  enter(to: Phase): void {
    if (!allowed(this.phase, to)) {
      log(Level.Error, "ai-failover: internal: request phase " + phaseName(this.phase) + " → " + phaseName(to) + " is not a transition");
    }
    this.phase = to;
  }

  onRequestHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    if (this.root.config === null) return FilterHeadersStatusValues.Continue;
    // One host call for every header; then only what is present is removed.
    const h = new RequestHeaders(getHeaderPairsRaw(MapType.RequestHeaders));
    let view = unchecked(this.root.views[0]);
    if (this.root.views.length > 1) view = viewFor(this.root.views, routeName(), h.authority, this.root.rulesNeedCluster ? clusterName() : "");
    this.view = view;
    const cfg = view.config;
    this.startedMs = nowMs();
    this.method = h.method;
    this.contentType = h.contentType;
    if (h.hasModel) this.headerModel = h.model;
    this.api = classified(h.path.length > 0 ? h.path : "/");
    if (this.api.objectId.length > 0) this.referenced = [this.api.objectId];
    if (cfg.consumers.length > 0) {
      const key = h.presentedKey();
      this.consumer = key.length > 0 ? findConsumer(cfg, key) : -1;
    }
    // Never let a client credential or a client-chosen cluster through.
    for (let i = 0; i < h.strip.length; i++) removeHeader(MapType.RequestHeaders, unchecked(h.strip[i]));
    this.headerPairs = h.raw;
    this.stripped = h.strip;
    const aff = cfg.affinity;
    if (aff.header.length > 0) {
      const v = getHeader(MapType.RequestHeaders, aff.header);
      if (v !== null && v.length > 0) this.affinityKey = fnv1a64(v) | 1;
    }
    if (this.affinityKey == 0 && aff.consumer && this.consumer >= 0) this.affinityKey = fnv1a64(unchecked(cfg.consumers[this.consumer]).name) | 1;
    this.tried = new Array<bool>(view.providers.length);
    if (cfg.consumers.length > 0 && this.consumer < 0) {
      this.reject(unauthenticated());
      return FilterHeadersStatusValues.StopIteration;
    }
    // After authentication: an unauthenticated client learns nothing of the providers' names.
    const pin = h.pin;
    if (aff.providerHeader && pin !== null && !this.pinTo(pin)) {
      this.reject(unknownPinnedProvider(pin));
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.api.kind == ApiKind.Unknown) {
      this.reject(unknownApi(this.method, h.path));
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.api.kind == ApiKind.Models) {
      this.enter(Phase.Replied);
      this.status = 200;
      sendLocalResponse(200, "ai_failover_models", modelList(cfg), ["content-type", "application/json"]);
      return FilterHeadersStatusValues.StopIteration;
    }
    this.headerOnly = cfg.headerOnly;
    this.bodyComplete = endOfStream;
    if (this.headerOnly || endOfStream) {
      this.model = h.hasModel ? h.model : this.api.pathModel;
      this.noBody = endOfStream;
      const cl = h.contentLength;
      // Requests on stored objects (GET/DELETE, cancel) use no tokens: only the request is counted.
      const free = isStateful(this.api.kind);
      if (!this.route(free || cl <= 0 ? 0 : cl / 4, free ? 0 : cfg.defaultMaxTokens, false)) return FilterHeadersStatusValues.StopIteration;
      return FilterHeadersStatusValues.Continue;
    }
    // Routing needs the body: hold the headers (allow_on_headers_stop_iteration keeps them mutable).
    this.enter(Phase.ReadingBody);
    this.root.bodyWait.held(this.context_id, this.startedMs);
    return FilterHeadersStatusValues.StopIteration;
  }

  onRequestBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    this.root.bodyWait.arrived(this.context_id);
    if (this.view === null || this.phase == Phase.Replied) return FilterDataStatusValues.Continue;
    const cfg = this.cfg();
    if (endOfStream) this.bodyComplete = true;
    const routed = this.attempt !== null;
    if (<i64>bodySize > cfg.maxRequestBodyBytes || (this.headerOnly && <i64>(this.body.length + <i32>bodySize) > cfg.maxRequestBodyBytes)) {
      if (routed) {
        // Too large to keep for a retry: the attempt in flight proceeds, retries are off.
        this.body = new Uint8Array(0);
        this.tried = new Array<bool>(0);
        return FilterDataStatusValues.Continue;
      }
      this.reject(bodyTooLarge(cfg.maxRequestBodyBytes));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    // Header mode: the request went upstream at its headers; its body follows.
    if (routed) return headerModeBody(this, bodySize, endOfStream);
    if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
    const raw = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
    this.body = raw !== null ? Uint8Array.wrap(raw) : new Uint8Array(0);
    if (isMultipart(this.contentType)) {
      // Uploads, image edits, audio: not JSON. The model comes from the form (or the Azure path, or
      // x-ai-model); the body goes as it came. No tokens are reserved (these APIs are limited by
      // requests), only the request.
      const formModel = multipartField(this.body, this.contentType, "model");
      this.model = formModel.length > 0 ? formModel : this.api.pathModel;
      if (this.model.length == 0) this.model = this.headerModel;
      if (!this.route(0, 0, true)) {
        return this.root.cluster.parked(this.context_id) ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.StopIterationNoBuffer;
      }
      return FilterDataStatusValues.Continue;
    }
    const scan = scanRequest(this.body);
    if (!scan.ok) {
      this.reject(invalidBody(scan.error));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    this.scan = scan;
    this.model = scan.model.length > 0 ? scan.model : this.api.pathModel;
    if (this.api.kind == ApiKind.Responses || isStateful(this.api.kind)) {
      if (this.referenced === NO_NAMES) this.referenced = [];
      referencedIds(this.body, this.referenced);
    }
    if (scan.stream && !cfg.streaming.allow) {
      this.reject(streamingDisabled());
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    // Each of `n` choices may use the whole output bound. Stored-object APIs, images and speech
    // produce no output tokens (Azure limits them by requests).
    const k = this.api.kind;
    const noOutput = isStateful(k) || k == ApiKind.ImageGenerations || k == ApiKind.AudioSpeech;
    const maxTokens = noOutput ? 0 : (scan.maxTokens >= 0 ? scan.maxTokens : cfg.defaultMaxTokens) * <i64>scan.choices;
    if (!this.route(scan.promptTokens(cfg.defaultImageTokens, cfg.defaultAudioTokensPerSecond), maxTokens, true)) {
      // Parked on a cluster-wide lease: keep the body buffered for when it is routed.
      return this.root.cluster.parked(this.context_id) ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.StopIterationNoBuffer;
    }
    return FilterDataStatusValues.Continue;
  }

  onRequestTrailers(_trailers: u32): FilterTrailersStatusValues {
    if (this.view === null) return FilterTrailersStatusValues.Continue;
    // Trailers are headers too: a client credential in them never goes upstream.
    for (let i = 0; i < CLIENT_CREDENTIAL_HEADERS.length; i++) removeHeader(MapType.RequestTrailers, unchecked(CLIENT_CREDENTIAL_HEADERS[i]));
    removeHeader(MapType.RequestTrailers, CLUSTER_HEADER);
    this.bodyComplete = true;
    if (this.phase == Phase.Idle || this.phase == Phase.ReadingBody) {
      // The body ended with trailers instead of end_of_stream: it was never routed, and an
      // unrouted request must not go on (it would carry no provider credential).
      this.reject(unsupportedTrailers());
      return FilterTrailersStatusValues.StopIteration;
    }
    return FilterTrailersStatusValues.Continue;
  }

  /** Admits the request and sends it in-band to a provider. False when a reply was sent instead. */
  route(promptTokens: i64, maxTokens: i64, haveBody: bool): bool {
    const cfg = this.cfg();
    const now = nowMs();
    this.need = promptTokens + maxTokens;
    this.maxTokens = maxTokens;
    this.promptEstimate = promptTokens;
    if (this.model.length == 0 && !isStateful(this.api.kind)) {
      this.reject(noProvider(cfg, cfg.providers, this.model, this.need, this.headerOnly, NoChoice.UnknownModel, [], now));
      return false;
    }
    if (this.consumer >= 0) {
      const c = unchecked(cfg.consumers[this.consumer]);
      if (!allowsModel(c, this.model)) {
        this.reject(modelNotAllowed(c, this.model));
        return false;
      }
      const a = admitConsumer(c, this.need, now);
      this.budgetLeftTokens = a.leftTokens;
      this.budgetLeftRequests = a.leftRequests;
      if (!a.admitted) {
        this.reject(overBudget(c, this.need, a.waitMs));
        return false;
      }
      this.budget = a.reservation;
      if (!clusterConsumer(this, c, now)) return false;
    }
    // A provider the client pinned wins over the owner table (its explicit choice).
    if (this.referenced.length > 0 && !this.pinned) this.findOwner(now);
    const attempt = this.newAttempt(now);
    if (attempt === null) {
      this.releaseBudget(now);
      return false;
    }
    this.attempt = attempt;
    this.attempts = 1;
    const up = attempt.upstream;
    // Envoy never recomputes content-length: a stale one would truncate or hang the upstream.
    const rewritesBody = haveBody && up.bodyChanged;
    rewriteRequestHeaders(up, this.headerPairs, this.stripped, rewritesBody);
    this.headerPairs = null;
    if (rewritesBody) setBuffer(BufferType.RequestBody, 0, <u32>this.body.length, up.body.buffer);
    this.enter(Phase.Forwarded);
    if (enabled(Level.Debug)) {
      const p = attempt.provider;
      log(Level.Debug, "ai-failover: " + apiName(this.api.kind) + " model=" + logSafe(this.model) + " → " + p.name +
        " (cluster " + p.cluster + ", key " + p.credentialAt(attempt.credential).masked() + ", reserved " + this.need.toString() + " tokens)");
    }
    return true;
  }

  /**
   * The provider holding the request's objects (the first one the owner table knows): the request
   * is pinned to it. None known: the request may look for it (plugin/affinity.ts).
   */
  /** x-ai-failover-provider: this provider only, never failed over. False when the view has none of that name. */
  private pinTo(name: string): bool {
    const view = this.view!;
    const n = view.providers.length;
    const mask = new Array<bool>(n);
    let any = false;
    for (let k = 0; k < n; k++) {
      const own = unchecked(view.providers[k]).name == name;
      unchecked((mask[k] = !own));
      if (own) any = true;
    }
    if (!any) return false;
    this.pinned = true;
    this.notOwner = mask;
    return true;
  }

  private findOwner(now: i64): void {
    const view = this.view!;
    for (let i = 0; i < this.referenced.length; i++) {
      const owner = ownerOf(unchecked(this.referenced[i]), now);
      if (owner == 0) continue;
      const n = view.providers.length;
      const mask = new Array<bool>(n);
      let any = false;
      for (let k = 0; k < n; k++) {
        const own = providerHash(unchecked(view.providers[k]).name) == owner;
        unchecked((mask[k] = !own));
        if (own) any = true;
      }
      if (!any) continue; // recorded for a provider this view does not have
      this.pinned = true;
      this.notOwner = mask;
      return;
    }
    this.discovering = true;
  }

  /**
   * Chooses the next provider, reserves its capacity and plans its request. Null when none can
   * take it (the client is told why if this was to be the first attempt).
   */
  newAttempt(now: i64): Attempt | null {
    const view = this.view!;
    let skip = this.root.modelsOut.mask(view, this.model, now);
    const notOwner = this.notOwner;
    if (notOwner !== null) {
      if (skip === null) skip = notOwner;
      else for (let k = 0; k < skip.length; k++) if (unchecked(notOwner[k])) unchecked((skip[k] = true));
    }
    const picked = pickProvider(view, this.model, this.api.kind, this.need, this.tried, this.headerOnly, this.root.rng, now,
      this.root.tokens, skip, this.root.cluster, mayWait(this), this.affinityKey);
    if (picked.index < 0) {
      if (picked.leaseFor >= 0) {
        if (parkForLease(this, PoolKind.Provider, unchecked(view.providers[picked.leaseFor]).name, now)) return null;
        // No call could start (the pool is degraded now): choose again under the failure mode.
        return this.newAttempt(now);
      }
      if (this.attempts == 0 && picked.clusterClosed) this.reject(clusterUnavailable());
      else if (this.attempts == 0) this.reject(noProvider(view.config, view.providers, this.model, this.need, this.headerOnly, picked.why, picked.states, now));
      return null;
    }
    const i = picked.index;
    unchecked((this.tried[i] = true));
    const p = unchecked(view.providers[i]);
    const k = picked.credential;
    const id = p.credentialAt(k).identity;
    // An identity's token as of now (usable when chosen; read again, it may just have been renewed).
    const token = id !== null ? this.root.tokens.current(id, now) : null;
    if (id !== null && token === null) {
      picked.reservation!.settle(-1, now);
      if (this.attempts == 0) {
        this.reject(noProvider(view.config, view.providers, this.model, this.need, this.headerOnly, NoChoice.AllUnavailable, loadStates(view.slots), now));
      }
      return null;
    }
    const up = upstreamRequest(p, this.api.kind, this.model, this.method, this.body, this.scan, view.config.streaming.includeUsage && p.includeUsage,
      k, token !== null ? token.token : "", this.api.subPath, this.api.query);
    if (isMultipart(this.contentType)) up.contentType = this.contentType;
    if (p.upstreamTimeoutMs > 0) up.routeTimeoutMs = p.upstreamTimeoutMs;
    up.firstByteMs = view.config.firstByteTimeoutFor(p);
    let owner = this.owner;
    if (owner === null) this.owner = owner = new RequestOwner(this);
    const a = new Attempt(owner, view, i, picked.reservation!, up, this.promptEstimate, this.maxTokens);
    a.credential = k;
    a.tokens = this.root.tokens;
    if (this.model.length > 0 && p.deploymentKeys.length > 0) {
      a.deployment = p.deploymentFor(this.model);
      a.deploymentLimits = p.deploymentLimitsFor(this.model);
    }
    if (capturesIds(this.api.kind, this.method)) {
      // A creating request records the new object's id; any answer of these APIs its reasoning
      // items and files; a request that looked for its objects' owner records what it found.
      const creates = this.method == "POST" && this.api.objectId.length == 0 &&
        !(this.api.kind == ApiKind.Responses && storesNothing(this.body));
      a.capture = new IdCapture(creates, this.api.kind == ApiKind.Batches);
      if (this.discovering) a.ownedIds = this.referenced;
    }
    if (token !== null) a.tokenGeneration = token.generation;
    return a;
  }

  onResponseHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    const a = this.attempt;
    if (this.view === null || a === null) return FilterHeadersStatusValues.Continue;
    const h = readAnswerHeaders(MapType.ResponseHeaders, RESPONSE_WATCH);
    this.status = h.status;
    const now = nowMs();
    this.headersMs = now;
    // Cool the provider down at once (no other request may pick it meanwhile).
    a.answered(classifyAnswer(h, null), now);
    // The router's own 504 when the provider sent no headers within firstByteTimeout.
    if (h.status == 504 && a.upstream.firstByteMs > 0) a.firstByteExpired = perTryTimeoutDetails();
    const retry = this.cfg().retry;
    const held = h.status == 429 || h.status == 404 || (h.status == 400 && (retry.onContentFilter || retry.onContextLength || this.discovering));
    if (held && !endOfStream && !this.headerOnly) {
      // A 429 may also be a quota error (insufficient_quota: a long ejection, not a short
      // cooldown), a 404 may say the provider does not serve the model (DeploymentNotFound): read
      // the (small) body before deciding the rest. Headers stay mutable meanwhile
      // (allow_on_headers_stop_iteration).
      a.heldError = h;
      this.enter(Phase.ReadingError);
      this.root.errorWait.hold(this.owner!, now);
      return FilterHeadersStatusValues.StopIteration;
    }
    // The failed response is replaced by the next attempt's (sent as a local reply).
    if (failover(this, h.status, now)) return FilterHeadersStatusValues.StopIteration;
    // Nobody else could take it: the gateway's own error replaces the held answer, never its body.
    if (h.status == 401 || h.status == 403) {
      rejectCredential(this, a, h.status);
      return FilterHeadersStatusValues.StopIteration;
    }
    this.respond(a, h.status, h);
    return FilterHeadersStatusValues.Continue;
  }

  /**
   * An in-band answer goes on to the client. `h`: its headers as read at on_response_headers
   * (null: not known, everything that must not reach the client is removed unconditionally).
   */
  respond(a: Attempt, status: i32, h: AnswerHeaders | null): void {
    let read = h;
    if (read === null) {
      read = new AnswerHeaders();
      read.contentType = getHeader(MapType.ResponseHeaders, "content-type");
      read.present = 0xffffffff;
    }
    // With the map as read, every change goes in one set_header_map_pairs (host/header_edit.ts).
    const pairs = read.pairs;
    const edit = pairs !== null ? headerEdit.begin() : null;
    if (a.scan.start(this.api.kind, status, read.contentType, a.upstream.injectedUsage)) {
      if (edit !== null) edit.remove("content-length");
      else removeHeader(MapType.ResponseHeaders, "content-length");
    }
    decorateResponse(this, a, read, edit);
    if (edit !== null) edit.apply(MapType.ResponseHeaders, pairs!);
    if (this.phase != Phase.Replied) this.enter(Phase.Responding);
  }

  onResponseBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    // While a failover attempt is in flight the failed response's body is held back (it is
    // replaced by the attempt's answer).
    if (this.phase == Phase.FailingOver) return FilterDataStatusValues.StopIterationNoBuffer;
    const a = this.attempt;
    if (a === null) return FilterDataStatusValues.Continue;
    if (this.phase == Phase.ReadingError) {
      // Decided from the first ERROR_BODY_PREFIX bytes at most: a huge body must not outgrow
      // Envoy's buffer; a stalled one is decided on the tick from what arrived (error_wait.ts).
      const prefix = readBodyPrefix(BufferType.ResponseBody, <u32>bodySize);
      if (!endOfStream && <u32>bodySize < ERROR_BODY_PREFIX) {
        a.errorPrefix = prefix;
        return FilterDataStatusValues.StopIterationAndBuffer;
      }
      const held = a.heldError;
      if (decideHeldError(this, a, prefix, nowMs())) return FilterDataStatusValues.StopIterationNoBuffer;
      // Nothing else can take it: the client gets the provider's answer as it was.
      this.respond(a, held !== null ? held.status : 429, held);
      return FilterDataStatusValues.Continue;
    }
    let chunk: Uint8Array;
    if (bodySize > 0) {
      const raw = getBuffer(BufferType.ResponseBody, 0, <u32>bodySize);
      chunk = raw !== null ? Uint8Array.wrap(raw) : new Uint8Array(0);
    } else chunk = new Uint8Array(0);
    if (chunk.length > 0 && this.firstByteMs < 0) {
      // A whole answer in its first chunk (the usual non-streamed one: Envoy hands its headers and
      // body over in one dispatch) takes its headers' clock read instead of reading the clock again.
      this.firstByteMs = endOfStream && this.headersMs >= 0 ? this.headersMs : nowMs();
    }
    const out = a.chunk(chunk, endOfStream);
    if (out !== chunk) setBuffer(BufferType.ResponseBody, 0, <u32>chunk.length, out.buffer);
    return FilterDataStatusValues.Continue;
  }

  onResponseTrailers(_trailers: u32): FilterTrailersStatusValues {
    stripResponseTrailers();
    return FilterTrailersStatusValues.Continue;
  }

  /** The gateway answers itself (OpenAI error shape, the consumer's budget headers). */
  reject(r: Rejection): void {
    if (r.metric.length > 0) this.root.metrics.rejected(r.metric);
    this.enter(Phase.Replied);
    this.status = <i32>r.status;
    const extra = r.extra;
    if (r.retryAfterS >= 0) { extra.push("retry-after"); extra.push(r.retryAfterS.toString()); }
    clientHeaders(this, extra);
    sendError(r.status, r.details, r.message, r.type, r.code, extra);
  }

  /** Gives back the consumer's reservation (nothing was consumed). */
  releaseBudget(now: i64): void {
    const b = this.budget;
    if (b === null || !b.active) return;
    b.settle(-1, now);
    // What this request had reserved is free again.
    if (this.budgetLeftTokens >= 0) this.budgetLeftTokens += this.need;
    if (this.budgetLeftRequests >= 0) this.budgetLeftRequests += 1;
  }

  onLog(): void {
    const now = nowMs();
    this.root.bodyWait.ended(this.context_id, now);
    this.root.errorWait.release(this.context_id);
    if (this.view === null) return;
    const a = this.attempt;
    let c = NO_CHARGE;
    if (a !== null && this.phase == Phase.FailingOver) {
      // The client left while a failover attempt is in flight: the attempt's answer settles the
      // consumer's budget (charged if it succeeds, released if not).
      a.owner = null;
      a.budget = this.budget;
      this.budget = null;
    } else if (a !== null) {
      c = a.finish(now);
    }
    const b = this.budget;
    const ok = this.status >= 200 && this.status < 300;
    if (b !== null) {
      if (!ok) this.releaseBudget(now);
      else if (c.known) b.settle(c.total, now);
    }
    this.enter(Phase.Done);
    recordRequest(this, a, c, now);
  }

  onDelete(): void {
    // An answer that still arrives belongs to nobody here any more.
    const a = this.attempt;
    if (a !== null) a.owner = null;
  }
}

/** The request as its attempts see it. */
class RequestOwner extends AttemptOwner {
  constructor(public request: ClientRequest) { super(); }
  contextId(): u32 {
    return this.request.context_id;
  }
  attemptAnswered(a: Attempt, headers: u32, bodySize: u32): void {
    attemptAnswered(this.request, a, headers, bodySize);
  }
  errorBodyExpired(now: i64): void {
    errorBodyExpired(this.request, now);
  }
}
