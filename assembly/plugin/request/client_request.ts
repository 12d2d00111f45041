// One client request (the HTTP context): classify it, strip client credentials, read the body,
// admit it (consumer budget, provider capacity), send it to a provider as an Attempt, fail over
// on retryable answers, and account for it once it ends. Decisions come from plan/; this file
// applies them.

import { FilterDataStatusValues, FilterHeadersStatusValues, FilterTrailersStatusValues, RootContext } from "@solo-io/proxy-runtime/assembly";
import { scanRequest } from "../../lib/json_scan";
import { NO_CHARGE } from "../../plan/accounting";
import { answerOf, classifyAnswer, delivered, mayBeRouterTimeout } from "../../plan/answer";
import { modelList } from "../../plan/models";
import {
  bodyTooLarge, invalidBody, modelNotAllowed, noProvider, overBudget, streamingDisabled,
  unauthenticated, unknownApi, unknownPinnedProvider, unsupportedTrailers,
} from "../../plan/rejection";
import { CLUSTER_HEADER } from "../../plan/upstream";
import {
  BufferType, getBuffer, getHeader, getHeaderPairsRaw, MapType, nowMs, removeHeader, sendLocalResponse, setBuffer,
} from "../../host/calls";
import { readAnswerHeaders } from "../../host/answer";
import { enabled, Level, log } from "../../host/log";
import { ApiKind, ApiRequest, apiName, classifyPath, isStateful } from "../../provider/api";
import { CLIENT_CREDENTIAL_HEADERS } from "../../provider/route";
import { NoChoice } from "../../select/selector";
import { logSafe, recordRequest } from "./access_log";
import { Attempt, AttemptOwner } from "./attempt";
import { admitConsumer, allowsModel, findConsumer } from "../consumers";
import { afterAnswer, attemptAnswered, HELD_DELIVERED, HELD_MORE, heldErrorChunk, readsErrorBody, timerDue } from "./failover";
import { headerModeBody } from "./header_mode";
import { Phase } from "./phase";
import { affinityKeyOf, findOwner, newAttempt, pinTo, tenantMayList } from "./next_attempt";
import { heldStreamChunk, holdForFirstToken, reject, releaseHeld, respond, RESPONSE_WATCH, stripResponseTrailers } from "./response";
import { RequestHeaders, rewriteRequestHeaders } from "./headers";
import { holdBody, releaseBody } from "./held_bodies";
import { RequestState, NO_NAMES } from "./state";
import { ERROR_BODY_WAIT_MS, Timer } from "../timers";
import { Services } from "../services";
import { clusterName, perTryTimeoutDetails, routeName } from "../../host/routing";
import { viewFor } from "../views";
import { isMultipart, multipartModel, refuseBody } from "./forms";
import { clusterConsumer } from "./cluster_wait";
import { admitBatchCreate, batchUploadEnded, checkBatchUpload } from "./batches";

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

export class ClientRequest extends RequestState {
  private owner: RequestOwner | null = null;

  constructor(contextId: u32, root: RootContext, svc: Services) {
    super(contextId, root, svc);
  }

  attemptOwner(): AttemptOwner {
    let owner = this.owner;
    if (owner === null) this.owner = owner = new RequestOwner(this);
    return owner;
  }

  onRequestHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    if (this.svc.config === null) return FilterHeadersStatusValues.Continue;
    // One host call for every header; then only what is present is removed.
    const h = new RequestHeaders(getHeaderPairsRaw(MapType.RequestHeaders));
    let view = unchecked(this.svc.views[0]);
    if (this.svc.views.length > 1) view = viewFor(this.svc.views, routeName(), h.authority, this.svc.rulesNeedCluster ? clusterName() : "");
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
      if (v !== null && v.length > 0) this.affinityKey = affinityKeyOf(v);
    }
    if (this.affinityKey == 0 && aff.consumer && this.consumer >= 0) this.affinityKey = affinityKeyOf(unchecked(cfg.consumers[this.consumer]).name);
    this.tried = new Array<bool>(view.providers.length);
    if (cfg.consumers.length > 0 && this.consumer < 0) {
      reject(this, unauthenticated());
      return FilterHeadersStatusValues.StopIteration;
    }
    // After authentication: an unauthenticated client learns nothing of the providers' names.
    const pin = h.pin;
    if (aff.providerHeader && pin !== null && !pinTo(this, pin)) {
      reject(this, unknownPinnedProvider(pin));
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.api.kind == ApiKind.Unknown) {
      reject(this, unknownApi(this.method, h.path));
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
    this.svc.bodyWait.held(this.context_id, this.startedMs);
    return FilterHeadersStatusValues.StopIteration;
  }

  onRequestBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    this.svc.bodyWait.arrived(this.context_id);
    if (this.view === null || this.phase == Phase.Replied) return FilterDataStatusValues.Continue;
    const cfg = this.cfg();
    if (endOfStream) this.bodyComplete = true;
    const routed = this.attempt !== null;
    if (<i64>bodySize > cfg.maxRequestBodyBytes || (this.headerOnly && <i64>(this.body.length + <i32>bodySize) > cfg.maxRequestBodyBytes)) {
      if (routed) {
        // Too large to keep for a retry: the attempt in flight proceeds, retries are off.
        this.body = new Uint8Array(0);
        releaseBody(this);
        this.tried = new Array<bool>(0);
        return FilterDataStatusValues.Continue;
      }
      reject(this, bodyTooLarge(cfg.maxRequestBodyBytes));
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
      const form = multipartModel(this.body, this.contentType);
      if (form.error.length > 0) return refuseBody(this, form.error);
      if (!checkBatchUpload(this, form)) return FilterDataStatusValues.StopIterationNoBuffer;
      this.model = form.model.length > 0 ? form.model : this.api.pathModel;
      if (this.model.length == 0) this.model = this.headerModel;
      if (!this.route(0, 0, true)) {
        return this.svc.cluster.parked(this.context_id) ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.StopIterationNoBuffer;
      }
      return FilterDataStatusValues.Continue;
    }
    // The stored objects the body names are read in the same pass (lib/json_refs.ts).
    const refersToObjects = this.api.kind == ApiKind.Responses || isStateful(this.api.kind);
    if (refersToObjects && this.referenced === NO_NAMES) this.referenced = [];
    const scan = scanRequest(this.body, refersToObjects ? this.referenced : null);
    if (!scan.ok) {
      reject(this, invalidBody(scan.error));
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    this.scan = scan;
    this.model = scan.model.length > 0 ? scan.model : this.api.pathModel;
    if (!admitBatchCreate(this)) return FilterDataStatusValues.StopIterationNoBuffer;
    if (scan.stream && !cfg.streaming.allow) {
      reject(this, streamingDisabled());
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    // Each of `n` choices may use the whole output bound. Stored-object APIs, images and speech
    // produce no output tokens (Azure limits them by requests).
    const k = this.api.kind;
    const noOutput = isStateful(k) || k == ApiKind.ImageGenerations || k == ApiKind.AudioSpeech;
    const maxTokens = noOutput ? 0 : (scan.maxTokens >= 0 ? scan.maxTokens : cfg.defaultMaxTokens) * <i64>scan.choices;
    if (!this.route(scan.promptTokens(cfg.defaultImageTokens, cfg.defaultAudioTokensPerSecond), maxTokens, true)) {
      // Parked on a cluster-wide lease: keep the body buffered for when it is routed.
      return this.svc.cluster.parked(this.context_id) ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.StopIterationNoBuffer;
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
      reject(this, unsupportedTrailers());
      return FilterTrailersStatusValues.StopIteration;
    }
    return FilterTrailersStatusValues.Continue;
  }

  /** Admits the request and sends it in-band to a provider. False when a reply was sent instead. */
  route(promptTokens: i64, maxTokens: i64, haveBody: bool): bool {
    const cfg = this.cfg();
    const now = nowMs();
    if (this.requestedModel.length == 0) this.requestedModel = this.model;
    this.need = promptTokens + maxTokens;
    this.maxTokens = maxTokens;
    this.promptEstimate = promptTokens;
    if (this.model.length == 0 && !isStateful(this.api.kind)) {
      reject(this, noProvider(cfg, cfg.providers, this.model, this.need, this.headerOnly, NoChoice.UnknownModel, [], now));
      return false;
    }
    if (this.consumer >= 0) {
      const c = unchecked(cfg.consumers[this.consumer]);
      // A batch's model was checked with its file (plugin/batches.ts).
      if (this.batch === null && !allowsModel(c, this.model)) {
        reject(this, modelNotAllowed(c, this.model));
        return false;
      }
      const a = admitConsumer(c, this.need + this.batchCharge, now);
      if (a.reservation !== null) a.reservation!.kept = this.batchCharge;
      this.budgetLeftTokens = a.leftTokens;
      this.budgetLeftRequests = a.leftRequests;
      if (!a.admitted) {
        reject(this, overBudget(c, this.need, a.waitMs));
        return false;
      }
      this.budget = a.reservation;
      if (!clusterConsumer(this, c, now)) return false;
    }
    // A provider the client pinned wins over the owner table (its explicit choice); another consumer's objects never.
    if (!tenantMayList(this) || (this.referenced.length > 0 && !findOwner(this, now))) {
      this.releaseBudget(now);
      return false;
    }
    const attempt = newAttempt(this, now);
    if (attempt === null) {
      this.releaseBudget(now);
      return false;
    }
    this.attempt = attempt;
    this.attempts = 1;
    attempt.sentMs = now;
    const up = attempt.upstream;
    // Envoy never recomputes content-length: a stale one would truncate or hang the upstream.
    const rewritesBody = haveBody && up.bodyChanged;
    rewriteRequestHeaders(up, this.headerPairs, this.stripped, rewritesBody);
    this.headerPairs = null;
    if (rewritesBody) setBuffer(BufferType.RequestBody, 0, <u32>this.body.length, up.body.buffer);
    this.enter(Phase.Forwarded);
    // The body stays for failover only within the worker's retry.maxHeldBodyBytes.
    if (this.body.length > 0) holdBody(this, this.body.length);
    if (enabled(Level.Debug)) {
      const p = attempt.provider;
      log(Level.Debug, "ai-failover: " + apiName(this.api.kind) + " model=" + logSafe(this.model) + " → " + p.name +
        " (cluster " + p.cluster + ", " + attempt.credential.describe() + ", reserved " + this.need.toString() + " tokens)");
    }
    return true;
  }

  onResponseHeaders(_headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    const a = this.attempt;
    if (this.view === null || a === null) return FilterHeadersStatusValues.Continue;
    const h = readAnswerHeaders(MapType.ResponseHeaders, RESPONSE_WATCH);
    this.status = h.status;
    const now = nowMs();
    this.headersMs = now;
    const v = classifyAnswer(h, null);
    // A stream with a first-token limit waits for its first token with its headers held.
    if (!endOfStream && holdForFirstToken(this, a, h, v, now)) return FilterHeadersStatusValues.StopIteration;
    // Cool the provider down at once (no other request may pick it meanwhile).
    a.answered(v, now);
    if (readsErrorBody(this, h.status) && !endOfStream && !this.headerOnly) {
      // A 429 may also be a quota error (insufficient_quota: a long ejection, not a short
      // cooldown), a 404 may say the provider does not serve the model (DeploymentNotFound): read
      // the (small) body before deciding the rest. Headers stay mutable meanwhile
      // (allow_on_headers_stop_iteration).
      a.heldError = h;
      this.enter(Phase.ReadingError);
      this.svc.timers.set(this.attemptOwner(), now + ERROR_BODY_WAIT_MS, Timer.ErrorBody);
      return FilterHeadersStatusValues.StopIteration;
    }
    // The router's own 504 when the provider sent no headers within firstByteTimeout.
    const timedOut = mayBeRouterTimeout(h, a.upstream.firstByteMs) && perTryTimeoutDetails();
    // Another attempt's answer (a local reply) or the gateway's own error replaces this one.
    if (!delivered(h) && afterAnswer(this, a, answerOf(h, null, timedOut, this.discovering), now)) return FilterHeadersStatusValues.StopIteration;
    respond(this, a, h.status, h);
    if (endOfStream) a.scan.ended = true; // an answer without a body ended at its headers
    return FilterHeadersStatusValues.Continue;
  }

  onResponseBody(bodySize: usize, endOfStream: bool): FilterDataStatusValues {
    // While a failover attempt is in flight the failed response's body is held back (it is
    // replaced by the attempt's answer).
    if (this.phase == Phase.FailingOver) return FilterDataStatusValues.StopIterationNoBuffer;
    const a = this.attempt;
    if (a === null) return FilterDataStatusValues.Continue;
    if (this.phase == Phase.ReadingError) {
      const held = heldErrorChunk(this, a, <u32>bodySize, endOfStream);
      if (held == HELD_MORE) return FilterDataStatusValues.StopIterationAndBuffer;
      return held == HELD_DELIVERED ? FilterDataStatusValues.Continue : FilterDataStatusValues.StopIterationNoBuffer;
    }
    // A stream held until its first token: buffered until then, then headers and buffer at once.
    if (a.held !== null) {
      return heldStreamChunk(this, a, <u32>bodySize, endOfStream) ? FilterDataStatusValues.Continue : FilterDataStatusValues.StopIterationAndBuffer;
    }
    // Given up as stalled: nothing more reaches the client (its end is on its way).
    if (a.stalled) return FilterDataStatusValues.StopIterationNoBuffer;
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
    if (endOfStream) this.svc.timers.unwatch(this.context_id);
    return FilterDataStatusValues.Continue;
  }

  onResponseTrailers(_trailers: u32): FilterTrailersStatusValues {
    stripResponseTrailers(this.view !== null ? this.cfg() : null);
    // A held stream that ends with trailers (before its first token): its headers go decorated.
    const a = this.attempt;
    if (a !== null && a.held !== null && this.phase == Phase.Forwarded) releaseHeld(this, a, nowMs());
    return FilterTrailersStatusValues.Continue;
  }

  onLog(): void {
    const now = nowMs();
    releaseBody(this);
    this.svc.bodyWait.ended(this.context_id, now);
    this.svc.timers.release(this.context_id);
    this.svc.timers.unwatch(this.context_id);
    if (this.view === null) return;
    const a = this.attempt;
    let c = NO_CHARGE;
    if (a !== null && this.phase == Phase.FailingOver && this.retryIndex < 0) {
      // The client left while a failover attempt is in flight: the attempt's answer settles the
      // consumer's budget (charged if it succeeds, released if not).
      a.owner = null;
      a.budget = this.budget;
      this.budget = null;
    } else if (a !== null) {
      c = a.finish(now);
    }
    batchUploadEnded(this, a, now);
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
    releaseBody(this);
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
  timerDue(timer: Timer, now: i64): void {
    timerDue(this.request, timer, now);
  }
}
