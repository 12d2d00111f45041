// What the client sees of an answer besides its body: the decision headers, the consumer's own
// budget instead of the provider's, and never a provider credential or our routing header. And
// when a stream's answer reaches the client: held until its first token (firstTokenTimeout), then
// watched for a stall (streamIdleTimeout), which ends it with an error.

import { AnswerHeaders, carriesErrorEvent, Verdict } from "../../plan/answer";
import { Rejection } from "../../plan/rejection";
import { CLUSTER_HEADER } from "../../plan/upstream";
import { concat, indexOf, utf8 } from "../../lib/bytes";
import { Config } from "../../config/model";
import { CLIENT_CREDENTIAL_HEADERS } from "../../provider/route";
import { BufferType, getBuffer, getHeader, getHeaderPairs, MapType, nowMs, PairsReader, removeHeader, replaceHeader, setBuffer } from "../../host/calls";
import { headerEdit, HeaderEdit } from "../../host/header_edit";
import { enabled, Level, log } from "../../host/log";
import { sendError } from "../../host/replies";
import { endResponseWith } from "../../host/stream_end";
import { Attempt } from "./attempt";
import { Phase } from "./phase";
import { RequestState } from "./state";
import { Timer } from "../timers";

export const PROVIDER_HEADER = "x-ai-failover-provider";
/** The model that answered, as the configuration names it: the client's, or a fallback (plan/fallback.ts). */
export const MODEL_HEADER = "x-ai-failover-model";
export const ATTEMPTS_HEADER = "x-ai-failover-attempts";

const PROVIDER_RATE_LIMIT_HEADERS: string[] = [
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
  "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
];

/**
 * Response headers the client never sees (the first bits of AnswerHeaders.present when read with
 * RESPONSE_WATCH): our routing header and every credential header a client may not send
 * (provider/route.ts CLIENT_CREDENTIAL_HEADERS) in both spellings, `-` and `_` — an upstream
 * echoing `x-api-key` or `ocp_apim_subscription_key` must not hand the key to the client.
 */
const NEVER_TO_CLIENT: string[] = neverToClient();

function neverToClient(): string[] {
  const out: string[] = [CLUSTER_HEADER];
  for (let i = 0; i < CLIENT_CREDENTIAL_HEADERS.length; i++) {
    const h = unchecked(CLIENT_CREDENTIAL_HEADERS[i]);
    const spellings = [h, h.replaceAll("_", "-"), h.replaceAll("-", "_")];
    for (let k = 0; k < 3; k++) if (!out.includes(unchecked(spellings[k]))) out.push(unchecked(spellings[k]));
  }
  // Watched as bits of a u64 with the rate-limit headers after them.
  assert(out.length + PROVIDER_RATE_LIMIT_HEADERS.length <= 64);
  return out;
}

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
    if ((present & (<u64>1 << <u64>i)) != 0) drop(edit, unchecked(NEVER_TO_CLIENT[i]));
  }
  // Nor a header of any name whose value holds a configured secret.
  dropSecretValues(r.cfg(), h.pairs, edit);
  put(edit, PROVIDER_HEADER, a.provider.name);
  if (a.model.length > 0) put(edit, MODEL_HEADER, a.model);
  put(edit, ATTEMPTS_HEADER, r.attempts.toString());
  if (r.consumer >= 0) {
    // The client sees its own budget, not the provider's.
    const base = NEVER_TO_CLIENT.length;
    for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) {
      if ((present & (<u64>1 << <u64>(base + i))) != 0) drop(edit, unchecked(PROVIDER_RATE_LIMIT_HEADERS[i]));
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

/** Trailers are headers too (rare: no read first): a provider credential echoed there never reaches the client. */
export function stripResponseTrailers(cfg: Config | null = null): void {
  for (let i = 0; i < NEVER_TO_CLIENT.length; i++) removeHeader(MapType.ResponseTrailers, unchecked(NEVER_TO_CLIENT[i]));
  if (cfg === null) return;
  const pairs = getHeaderPairs(MapType.ResponseTrailers);
  for (let k = 0; k + 1 < pairs.length; k += 2) {
    if (holdsSecret(cfg, unchecked(pairs[k + 1]))) removeHeader(MapType.ResponseTrailers, unchecked(pairs[k]));
  }
}

// ---- configured secrets in answer header values ---------------------------------------------

/** Secrets shorter than this are not looked for (a short one would match ordinary values). */
const MIN_SECRET = 8;
const secretConfigs: Config[] = [];
const secretLists: Array<Uint8Array[]> = [];

/** Every provider key and identity secret of `cfg` (UTF-8), built once per configuration (view). */
function secretsOf(cfg: Config): Uint8Array[] {
  for (let i = 0; i < secretConfigs.length; i++) if (unchecked(secretConfigs[i]) === cfg) return unchecked(secretLists[i]);
  const out: Uint8Array[] = [];
  for (let i = 0; i < cfg.providers.length; i++) {
    const p = unchecked(cfg.providers[i]);
    const n = p.credentials.length > 0 ? p.credentials.length : 1;
    for (let k = 0; k < n; k++) {
      const s = p.credentialAt(k).reveal();
      if (s.length >= MIN_SECRET) out.push(utf8(s));
    }
  }
  for (let i = 0; i < cfg.identities.length; i++) {
    const s = unchecked(cfg.identities[i]).secret.reveal();
    if (s.length >= MIN_SECRET) out.push(utf8(s));
  }
  if (secretConfigs.length >= 64) { secretConfigs.length = 0; secretLists.length = 0; secretGrams.length = 0; } // configurations were replaced
  secretConfigs.push(cfg);
  secretLists.push(out);
  secretGrams.push(new GramSet(out));
  return out;
}

const secretGrams: GramSet[] = [];

/**
 * Every 4-byte piece of every secret, to rule a header block out in one sampled pass: a secret of
 * at least SAMPLED_MIN bytes covers a whole 4-byte piece at some multiple of 8 wherever it stands,
 * so looking at every 8th offset finds it (then it is searched for properly).
 */
const SAMPLED_MIN = 11;

class GramSet {
  table: StaticArray<u32>;
  mask: u32;
  /** Some secret is too short to be found by sampling: search the whole block. */
  short: bool = false;
  constructor(secrets: Uint8Array[]) {
    let count = 0;
    for (let i = 0; i < secrets.length; i++) {
      const n = unchecked(secrets[i]).length;
      if (n < SAMPLED_MIN) this.short = true;
      else count += n - 3;
    }
    let size: u32 = 64;
    while (size < <u32>(count * 2)) size <<= 1;
    this.table = new StaticArray<u32>(size);
    this.mask = size - 1;
    for (let i = 0; i < secrets.length; i++) {
      const sec = unchecked(secrets[i]);
      for (let k = 0; k + 4 <= sec.length; k++) this.add(load<u32>(sec.dataStart + <usize>k));
    }
  }
  private add(v: u32): void {
    // Secrets are printable text: a piece is never 0, the empty slot.
    let h = (v * 0x9e3779b1) & this.mask;
    while (true) {
      const at = unchecked(this.table[h]);
      if (at == 0) { unchecked((this.table[h] = v)); return; }
      if (at == v) return;
      h = (h + 1) & this.mask;
    }
  }
  has(v: u32): bool {
    if (v == 0) return false;
    let h = (v * 0x9e3779b1) & this.mask;
    while (true) {
      const at = unchecked(this.table[h]);
      if (at == v) return true;
      if (at == 0) return false;
      h = (h + 1) & this.mask;
    }
  }
  /** Could `n` bytes at `p` hold one of the secrets? (false: surely not) */
  mayHold(p: usize, n: i32): bool {
    if (this.short) return true;
    for (let i = 0; i + 4 <= n; i += 8) if (this.has(load<u32>(p + <usize>i))) return true;
    return false;
  }
}

function gramsOf(cfg: Config): GramSet | null {
  for (let i = 0; i < secretConfigs.length; i++) if (unchecked(secretConfigs[i]) === cfg) return i < secretGrams.length ? unchecked(secretGrams[i]) : null;
  return null;
}

/** Does a header value hold one of the configured secrets? (the failover reply's filter) */
export function holdsSecret(cfg: Config, value: string): bool {
  const ss = secretsOf(cfg);
  if (ss.length == 0 || value.length < MIN_SECRET) return false;
  const v = utf8(value);
  for (let i = 0; i < ss.length; i++) if (indexOf(v, unchecked(ss[i])) >= 0) return true;
  return false;
}

/**
 * Drops every in-band answer header whose value holds a configured secret. `pairs`: the headers
 * as read (null: read them now). One search per secret over the whole buffer; the headers are
 * walked only when one is found.
 */
function dropSecretValues(cfg: Config, pairs: ArrayBuffer | null, edit: HeaderEdit | null): void {
  const ss = secretsOf(cfg);
  if (ss.length == 0) return;
  if (pairs === null) {
    const list = getHeaderPairs(MapType.ResponseHeaders);
    for (let k = 0; k + 1 < list.length; k += 2) if (holdsSecret(cfg, unchecked(list[k + 1]))) drop(edit, unchecked(list[k]));
    return;
  }
  const grams = gramsOf(cfg);
  if (grams !== null && !grams.mayHold(changetype<usize>(pairs), pairs.byteLength)) return;
  const all = Uint8Array.wrap(pairs);
  for (let i = 0; i < ss.length; i++) {
    const secret = unchecked(ss[i]);
    if (indexOf(all, secret) < 0) continue;
    const rd = new PairsReader(pairs);
    while (rd.next()) {
      if (rd.valueLen < secret.length) continue;
      const v = Uint8Array.wrap(pairs, <i32>(rd.value - changetype<usize>(pairs)), rd.valueLen);
      if (indexOf(v, secret) >= 0) drop(edit, String.UTF8.decodeUnsafe(rd.name, <usize>rd.nameLen).toLowerCase());
    }
  }
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
    read.present = 0xffffffffffffffff;
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
