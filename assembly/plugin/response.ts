// What the client sees of an answer besides its body: the decision headers, the consumer's own
// budget instead of the provider's, and never a provider credential or our routing header. And
// when a stream's answer reaches the client: held until its first token (firstTokenTimeout), then
// watched for a stall (streamIdleTimeout), which ends it with an error.

import { AnswerHeaders, carriesErrorEvent, Verdict } from "../plan/answer";
import { Rejection } from "../plan/rejection";
import { CLUSTER_HEADER } from "../plan/upstream";
import { concat, utf8 } from "../lib/bytes";
import { BufferType, getBuffer, getHeader, MapType, nowMs, removeHeader, replaceHeader, setBuffer } from "../host/calls";
import { headerEdit, HeaderEdit } from "../host/header_edit";
import { enabled, Level, log } from "../host/log";
import { sendError } from "../host/replies";
import { endResponseWith } from "../host/stream_end";
import { Attempt } from "./attempt";
import { Phase } from "./phase";
import { RequestState } from "./request_state";
import { Timer } from "./request_timers";

export const PROVIDER_HEADER = "x-ai-failover-provider";
/** The model that answered, as the configuration names it: the client's, or a fallback (plan/fallback.ts). */
export const MODEL_HEADER = "x-ai-failover-model";
export const ATTEMPTS_HEADER = "x-ai-failover-attempts";

const PROVIDER_RATE_LIMIT_HEADERS: string[] = [
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
  "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
];

/** Response headers the client never sees (bits 0–2 of AnswerHeaders.present when read with RESPONSE_WATCH). */
const NEVER_TO_CLIENT: string[] = ["api-key", "authorization", CLUSTER_HEADER];

/**
 * The names the in-band response's headers are read with (host/answer.ts readAnswerHeaders):
 * what decorateResponse removes, so that only what is present is removed.
 */
export const RESPONSE_WATCH: Uint8Array[] = watchList();

function watchList(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < NEVER_TO_CLIENT.length; i++) out.push(utf8(unchecked(NEVER_TO_CLIENT[i])));
  for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) out.push(utf8(unchecked(PROVIDER_RATE_LIMIT_HEADERS[i])));
  return out;
}

/** Appends the consumer's x-ratelimit-remaining-* (as reserved for this request) to `out`. */
export function clientHeaders(r: RequestState, out: string[]): void {
  if (r.consumer < 0) return;
  if (r.budgetLeftTokens >= 0) { out.push("x-ratelimit-remaining-tokens"); out.push(r.budgetLeftTokens.toString()); }
  if (r.budgetLeftRequests >= 0) { out.push("x-ratelimit-remaining-requests"); out.push(r.budgetLeftRequests.toString()); }
}

/**
 * Rewrites the in-band response headers for the client. `h`: those headers as read with
 * RESPONSE_WATCH (what is absent need not be removed). `edit`: collects the changes for one
 * set_header_map_pairs (null: each is its own call).
 */
export function decorateResponse(r: RequestState, a: Attempt, h: AnswerHeaders, edit: HeaderEdit | null = null): void {
  const present = h.present;
  // A provider's credential or our routing header never reaches the client.
  for (let i = 0; i < NEVER_TO_CLIENT.length; i++) {
    if ((present & (<u32>1 << <u32>i)) != 0) drop(edit, unchecked(NEVER_TO_CLIENT[i]));
  }
  put(edit, PROVIDER_HEADER, a.provider.name);
  if (a.model.length > 0) put(edit, MODEL_HEADER, a.model);
  put(edit, ATTEMPTS_HEADER, r.attempts.toString());
  if (r.consumer >= 0) {
    // The client sees its own budget, not the provider's.
    const base = NEVER_TO_CLIENT.length;
    for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) {
      if ((present & (<u32>1 << <u32>(base + i))) != 0) drop(edit, unchecked(PROVIDER_RATE_LIMIT_HEADERS[i]));
    }
    const kv: string[] = [];
    clientHeaders(r, kv);
    for (let k = 0; k + 1 < kv.length; k += 2) put(edit, unchecked(kv[k]), unchecked(kv[k + 1]));
  }
}

function drop(edit: HeaderEdit | null, name: string): void {
  if (edit !== null) edit.remove(name);
  else removeHeader(MapType.ResponseHeaders, name);
}

function put(edit: HeaderEdit | null, name: string, value: string): void {
  if (edit !== null) edit.set(name, value);
  else replaceHeader(MapType.ResponseHeaders, name, value);
}

/** Trailers are headers too: a provider credential echoed there never reaches the client. */
export function stripResponseTrailers(): void {
  removeHeader(MapType.ResponseTrailers, "api-key");
  removeHeader(MapType.ResponseTrailers, "authorization");
  removeHeader(MapType.ResponseTrailers, CLUSTER_HEADER);
}

/**
 * An in-band answer goes on to the client. `h`: its headers as read at on_response_headers
 * (null: not known, everything that must not reach the client is removed unconditionally).
 * `changes`: the scan was started already (a held stream) and will (1) or will not (0) change
 * the body's bytes; -1: it starts here. A stream is watched for a stall from now on.
 */
export function respond(r: RequestState, a: Attempt, status: i32, h: AnswerHeaders | null, changes: i32 = -1): void {
  let read = h;
  if (read === null) {
    read = new AnswerHeaders();
    read.contentType = getHeader(MapType.ResponseHeaders, "content-type");
    read.present = 0xffffffff;
  }
  // With the map as read, every change goes in one set_header_map_pairs (host/header_edit.ts).
  const pairs = read.pairs;
  const edit = pairs !== null ? headerEdit.begin() : null;
  if (changes > 0 || (changes < 0 && a.scan.start(r.api.kind, status, read.contentType, a.upstream.injectedUsage))) {
    if (edit !== null) edit.remove("content-length");
    else removeHeader(MapType.ResponseHeaders, "content-length");
  }
  decorateResponse(r, a, read, edit);
  if (edit !== null) edit.apply(MapType.ResponseHeaders, pairs!);
  if (r.phase != Phase.Replied) r.enter(Phase.Responding);
  if (a.scan.events !== null) watchStream(r, a);
}

// ---- a stream's first token (firstTokenTimeout)

/**
 * Holds a 200 event stream of a streaming request until its first token, when its provider has a
 * firstTokenTimeout: the headers stay with the filter (StopIteration: mutable with
 * allow_on_headers_stop_iteration, and on Higress with ABI 0_2_100), the body is buffered
 * (StopIterationAndBuffer), and the limit is a timer from when the attempt went upstream. Not in
 * header mode (a held header there stops the body too). True when held.
 */
export function holdForFirstToken(r: RequestState, a: Attempt, h: AnswerHeaders, v: Verdict, now: i64): bool {
  if (h.status != 200 || r.headerOnly) return false;
  const scan = r.scan;
  if (scan === null || !scan.stream) return false;
  const limit = r.cfg().firstTokenTimeoutFor(a.provider);
  if (limit <= 0) return false;
  const changes = a.scan.start(r.api.kind, 200, h.contentType, a.upstream.injectedUsage);
  // Not an event stream (an error page with a 200): it goes on as it is.
  if (a.scan.events === null) return false;
  const held = a.hold(h, v, limit);
  held.changes = changes;
  const from = a.sentMs > 0 ? a.sentMs : now;
  r.svc.timers.set(r.attemptOwner(), from + limit, Timer.FirstToken);
  return true;
}

const NO_BYTES = new Uint8Array(0);
/** Bytes of the held stream kept across a callback: an error event split by a chunk is found across it. */
const TAIL: i32 = 32;

/**
 * A body callback of a held stream (`bodySize`: all that is buffered): the new bytes are scanned
 * (and rewritten in the buffer when the scan changes them). True when the stream goes on now —
 * its first token, its end or an error event came: its headers and buffer pass at once (the
 * caller returns Continue); false: it stays buffered.
 */
export function heldStreamChunk(r: RequestState, a: Attempt, bodySize: u32, endOfStream: bool): bool {
  const held = a.held!;
  const start = held.scanned;
  if (bodySize > start || endOfStream) {
    const raw = bodySize > start ? getBuffer(BufferType.ResponseBody, start, bodySize - start) : null;
    const fresh = raw !== null ? Uint8Array.wrap(raw) : NO_BYTES;
    if (!held.error && fresh.length > 0) {
      const probe = held.tail.length > 0 ? concat(held.tail, fresh) : fresh;
      held.error = carriesErrorEvent(probe);
      held.tail = probe.slice(probe.length > TAIL ? probe.length - TAIL : 0);
    }
    const out = a.chunk(fresh, endOfStream);
    if (out !== fresh) {
      // Only the whole buffer can be replaced (proxy_set_buffer_bytes: start 0, all of it).
      const before = start > 0 ? getBuffer(BufferType.ResponseBody, 0, start) : null;
      const whole = concat(before !== null ? Uint8Array.wrap(before) : NO_BYTES, out);
      setBuffer(BufferType.ResponseBody, 0, bodySize, whole.buffer);
      held.scanned = <u32>whole.length;
    } else {
      held.scanned = bodySize;
    }
  }
  if (!endOfStream && !held.error && !a.scan.pastPreamble) return false;
  releaseHeld(r, a, nowMs());
  return true;
}

/**
 * The held stream goes to the client: its health verdict (the success held back) is recorded,
 * its headers decorated; the caller lets the response continue.
 */
export function releaseHeld(r: RequestState, a: Attempt, now: i64): void {
  const held = a.held!;
  a.held = null;
  r.svc.timers.release(r.context_id);
  a.answered(held.verdict, now);
  r.firstByteMs = now;
  respond(r, a, 200, held.headers, held.changes ? 1 : 0);
}

// ---- a stream that stalls (streamIdleTimeout)

/** A stream on its way to the client is given up once nothing came for its provider's streamIdleTimeout. */
function watchStream(r: RequestState, a: Attempt): void {
  const idle = r.cfg().streamIdleTimeoutFor(a.provider);
  if (idle > 0 && a.owner !== null) r.svc.timers.watch(r.attemptOwner(), a.scan, idle, nowMs());
}

/** The event a stalled stream ends with where the host can add it (the Higress build). */
function stalledEvent(idleMs: i64): Uint8Array {
  // The blank lines first end whatever event the provider left unfinished.
  return utf8("\n\nevent: error\ndata: {\"error\":{\"message\":\"the provider's stream stalled: nothing came for " + idleMs.toString() +
    " ms (streamIdleTimeout)\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_stalled\"}}\n\n");
}

/**
 * The stream sent nothing for streamIdleTimeout (called on its own stream from the tick): it is
 * ended, never as a clean end — with an SSE error event where the host can add one (the Higress
 * build), else by a reset (host/stream_end.ts) — and recorded as stalled; on_log then charges it
 * what it streamed (an estimate unless the provider's usage came) and settles its reservations.
 */
export function streamStalled(r: RequestState): void {
  const a = r.attempt;
  if (a === null || r.phase != Phase.Responding || a.stalled) return;
  a.stalled = true;
  // The access line's stream=stalled, the requests metric's status_class="stalled".
  a.scan.markStalled();
  const idle = r.cfg().streamIdleTimeoutFor(a.provider);
  const withEvent = endResponseWith(stalledEvent(idle));
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: stream from " + a.provider.name + " stalled: nothing for " + idle.toString() + " ms (streamIdleTimeout); " +
      (withEvent ? "ended with an upstream_stream_stalled error event" : "the client's stream is reset"));
  }
}

/** The gateway answers itself (OpenAI error shape, the consumer's budget headers). */
export function reject(r: RequestState, e: Rejection): void {
  if (e.metric.length > 0) r.svc.metrics.rejected(e.metric);
  r.enter(Phase.Replied);
  r.status = <i32>e.status;
  const extra = e.extra;
  if (e.retryAfterS >= 0) { extra.push("retry-after"); extra.push(e.retryAfterS.toString()); }
  clientHeaders(r, extra);
  sendError(e.status, e.details, e.message, e.type, e.code, extra);
}
