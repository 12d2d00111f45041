// What an upstream answer means: the one place that reads a provider's status, rate-limit
// headers and error body and decides what kind of answer it is. Pure: header values and a
// body prefix come in, a Verdict goes out (the host adapters read them from whichever map the
// answer arrived in: the in-band response or an http_call's).

import { indexOf, matchAt, utf8 } from "../lib/bytes";
import { classifyStatus, MAX_RETRY_AFTER_MS, Outcome } from "../health/transitions";
import { Answer, AnswerKind } from "./decide";

/** How much of an error body is read to classify it (error bodies are small JSON). */
export const ERROR_BODY_PREFIX: u32 = 65536;

const INSUFFICIENT_QUOTA = utf8("insufficient_quota");

/** What the gateway reads of an answer's headers. */
export class AnswerHeaders {
  /** HTTP status; 0 = no answer (reset, connect failure). */
  status: i32 = 0;
  /** retry-after-ms / retry-after, ms (0 = none); only read on a 429. */
  retryAfterMs: i64 = 0;
  /** x-ratelimit-remaining-tokens / -requests (-1 = absent). */
  remainingTokens: i64 = -1;
  remainingRequests: i64 = -1;
  /** content-type (null = absent). */
  contentType: string | null = null;
  /** Which of the names the reader was asked to watch are present (bit i: the i-th name). */
  present: u64 = 0;
  /** The header map as read (host/answer.ts; null: not read whole), to rewrite it in one call. */
  pairs: ArrayBuffer | null = null;
}

export class Verdict {
  constructor(public outcome: Outcome, public status: i32, public retryAfterMs: i64, public remainingTokens: i64,
    public remainingRequests: i64) {}

  get ok(): bool {
    return this.status >= 200 && this.status < 300;
  }
}

function parseNumber(s: string): f64 {
  if (s.length == 0) return -1;
  // Digits with at most one '.', and at least one digit: "." or "1.2.3" is no number (it was read as 0).
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c == 0x2e) dots++;
    else return -1;
  }
  if (digits == 0 || dots > 1) return -1;
  const v = F64.parseFloat(s);
  return isFinite(v) ? v : -1;
}

/** retry-after-ms, else retry-after (seconds), else 0; capped at MAX_RETRY_AFTER_MS. */
export function parseRetryAfterMs(msValue: string | null, secondsValue: string | null): i64 {
  if (msValue !== null) {
    const v = parseNumber(msValue.trim());
    if (v >= 0) return v >= <f64>MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : <i64>Math.ceil(v);
  }
  if (secondsValue !== null) {
    const v = parseNumber(secondsValue.trim());
    if (v >= 0) return v * 1000 >= <f64>MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : <i64>Math.ceil(v * 1000);
  }
  return 0;
}

/** A non-negative count header (x-ratelimit-remaining-*), or -1. */
export function parseCount(value: string | null): i64 {
  if (value === null) return -1;
  const n = parseNumber(value.trim());
  if (n < 0) return -1;
  return n >= 1e15 ? 1_000_000_000_000_000 : <i64>n;
}

/** A :status value; 0 when absent or not a status code. */
export function parseStatus(value: string | null): i32 {
  if (value === null) return 0;
  const v = value.trim();
  if (v.length != 3) return 0;
  let n = 0;
  for (let i = 0; i < 3; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return 0;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

const DEPLOYMENT_NOT_FOUND = utf8("DeploymentNotFound");
const MODEL_NOT_FOUND = utf8("model_not_found");

/**
 * Does a 404 say the provider does not serve the model (Azure `DeploymentNotFound`, OpenAI
 * `model_not_found`) — a fault of this provider for this model, not of the client's request?
 */
export function isModelNotServed(status: i32, bodyPrefix: Uint8Array | null): bool {
  return status == 404 && bodyPrefix !== null &&
    (indexOf(bodyPrefix, DEPLOYMENT_NOT_FOUND) >= 0 || indexOf(bodyPrefix, MODEL_NOT_FOUND) >= 0);
}

const CONTENT_FILTER = utf8("\"content_filter\"");
const CONTEXT_LENGTH = utf8("context_length_exceeded");


/** Does this error body say the account's quota is used up (not a per-minute rate limit)? */
function isQuotaError(bodyPrefix: Uint8Array | null): bool {
  return bodyPrefix !== null && indexOf(bodyPrefix, INSUFFICIENT_QUOTA) >= 0;
}

/**
 * Classifies an answer. `bodyPrefix` is the start of its body (null when not read): a 429 whose
 * body says insufficient_quota is a quota ejection, not a short cooldown.
 */
export function classifyAnswer(h: AnswerHeaders, bodyPrefix: Uint8Array | null): Verdict {
  const status = h.status;
  const quota = status == 429 && isQuotaError(bodyPrefix);
  return new Verdict(classifyStatus(status, quota), status, status == 429 ? h.retryAfterMs : 0, h.remainingTokens, h.remainingRequests);
}

const NOT_FOUND_CODE = utf8("previous_response_not_found");
const NOT_FOUND_TEXT = utf8("not found");

/** Does this answer say the objects the request names are not held here (404, or a 400 previous_response_not_found / "not found")? */
export function notHeldHere(status: i32, prefix: Uint8Array | null): bool {
  if (status == 404) return true;
  if (status != 400 || prefix === null) return false;
  return indexOf(prefix, NOT_FOUND_CODE, 0) >= 0 || indexOf(prefix, NOT_FOUND_TEXT, 0) >= 0;
}

/**
 * What an answer is for the decision after it (plan/decide.ts). `prefix`: the start of its body
 * (null: not read); `timedOut`: the router gave the attempt up before its first byte (the 504 is
 * Envoy's per-try timeout, told apart by the host adapter); `discovering`: the request looks for
 * the owner of the objects it names, so a "not found" means "not here".
 */
export function answerOf(h: AnswerHeaders, prefix: Uint8Array | null, timedOut: bool, discovering: bool): Answer {
  const status = h.status;
  if (status >= 100 && status < 400) return new Answer(AnswerKind.Success, status);
  if (status == 0) return new Answer(AnswerKind.Reset, 0);
  if (discovering && notHeldHere(status, prefix)) return new Answer(AnswerKind.NotHeldHere, status);
  if (status == 429) return new Answer(isQuotaError(prefix) ? AnswerKind.QuotaExhausted : AnswerKind.RateLimited, 429, h.retryAfterMs);
  if (status == 401 || status == 403) return new Answer(AnswerKind.CredentialRejected, status);
  if (status == 504 && timedOut) return new Answer(AnswerKind.FirstByteTimeout, 504);
  if (status >= 500) return new Answer(AnswerKind.ServerError, status);
  if (isModelNotServed(status, prefix)) return new Answer(AnswerKind.ModelNotServed, status);
  if (status == 400 && prefix !== null) {
    if (indexOf(prefix, CONTENT_FILTER) >= 0) return new Answer(AnswerKind.ContentFilter, 400);
    if (indexOf(prefix, CONTEXT_LENGTH) >= 0) return new Answer(AnswerKind.ContextLength, 400);
  }
  // 408: the provider gave up waiting for the request: a failure of the provider's side as classifyStatus says.
  if (status == 408) return new Answer(AnswerKind.ServerError, 408);
  return new Answer(AnswerKind.ClientError, status);
}

/**
 * A stream whose first token did not come within firstTokenTimeout (its headers were held): for
 * the decision a timeout of the provider's, a 504 (retry.onStatus governs it like the router's).
 */
export function firstTokenTimedOut(): Answer {
  return new Answer(AnswerKind.FirstTokenTimeout, 504);
}

/** The health verdict of such a stream: a failure of the provider (like the router's 504), its rate-limit headers kept. */
export function firstTokenVerdict(held: Verdict): Verdict {
  return new Verdict(Outcome.UpstreamFailure, 504, 0, held.remainingTokens, held.remainingRequests);
}

const ERROR_MEMBER = utf8("\"error\"");
const EVENT_FIELD = utf8("event:");
const ERROR_NAME = utf8("error");

function skipJsonSpace(b: Uint8Array, at: i32): i32 {
  while (at < b.length) {
    const c = unchecked(b[at]);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    at++;
  }
  return at;
}

/**
 * Does this part of an event stream carry an error event: an `"error"` member whose value is an
 * object (`data: {"error":{…}}`, Azure's and OpenAI's chat streams), or an `event: error` line
 * (the Responses API's)? Not `"error": null`, which every Responses API response object carries.
 */
export function carriesErrorEvent(b: Uint8Array): bool {
  let at = 0;
  while (true) {
    const i = indexOf(b, ERROR_MEMBER, at);
    if (i < 0) break;
    let j = skipJsonSpace(b, i + ERROR_MEMBER.length);
    if (j < b.length && unchecked(b[j]) == 0x3a) {
      j = skipJsonSpace(b, j + 1);
      if (j < b.length && unchecked(b[j]) == 0x7b) return true;
    }
    at = i + 1;
  }
  at = 0;
  while (true) {
    const i = indexOf(b, EVENT_FIELD, at);
    if (i < 0) return false;
    at = i + 1;
    // A field at a line's start, its value "error" (one optional space after the colon).
    if (i > 0 && unchecked(b[i - 1]) != 0x0a && unchecked(b[i - 1]) != 0x0d) continue;
    let j = i + EVENT_FIELD.length;
    if (j < b.length && unchecked(b[j]) == 0x20) j++;
    if (!matchAt(b, j, ERROR_NAME)) continue;
    j += ERROR_NAME.length;
    if (j < b.length && (unchecked(b[j]) == 0x0a || unchecked(b[j]) == 0x0d)) return true;
  }
}

/** Must the answer's body be read before deciding (its error code says what it is)? */
export function needsBody(status: i32, discovering: bool, retry: bool): bool {
  return status == 429 || status == 404 || (status == 400 && (retry || discovering));
}

/** Could this 504 be the router's own per-try timeout (an attempt with a firstByteTimeout)? The host adapter tells it apart. */
export function mayBeRouterTimeout(h: AnswerHeaders, firstByteMs: i64): bool {
  return h.status == 504 && firstByteMs > 0;
}

/** An answer the client simply gets (1xx–3xx): no decision to make after it. */
export function delivered(h: AnswerHeaders): bool {
  return h.status >= 100 && h.status < 400;
}
