// In-request failover: after a retryable answer, the saved request goes to the next provider
// through http_call (with that provider's own credential), and its answer replaces the failed
// one as a local reply.

import { AnswerHeaders, classifyAnswer, isModelNotServed, movableClientError } from "../plan/answer";
import { upstreamAnswerTooLarge, upstreamCredentialRejected, upstreamReset } from "../plan/rejection";
import { BufferType, continueResponse, getBuffer, getHeader, getHeaderPairs, MapType, nowMs, Result, sendLocalResponseBytes } from "../host/calls";
import { Outcome } from "../health/transitions";
import { ERROR_BODY_WAIT_MS } from "./error_wait";
import { readAnswerHeaders, readBodyPrefix } from "../host/answer";
import { enabled, Level, log } from "../host/log";
import { Attempt } from "./attempt";
import { Phase } from "./phase";
import { ATTEMPTS_HEADER, clientHeaders, MODEL_HEADER, PROVIDER_HEADER } from "./response";
import { ClientRequest } from "./request";
import { logSafe } from "./access_log";
import { notHeldHere } from "./affinity";

/** Response headers of an http_call attempt that are passed on to the client. */
const FORWARDED_RESPONSE_HEADERS: string[] = [
  "content-type", "retry-after", "retry-after-ms", "x-request-id", "apim-request-id", "x-ms-region",
  "openai-processing-ms", "openai-model", "openai-version", "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
];

function failoverReason(status: i32): string {
  if (status == 429) return "rate_limited";
  if (status == 401 || status == 403) return "credential_rejected";
  if (status == 0) return "reset";
  if (status == 503) return "unavailable";
  if (status >= 500) return "upstream_error";
  return "status_" + status.toString();
}

/** Attempts are left for this request (retries on, fewer tried than retry.maxAttempts). */
function attemptsLeft(r: ClientRequest): bool {
  return r.tried.length > 0 && r.attempts < r.cfg().retry.maxAttempts;
}

function shouldRetry(r: ClientRequest, status: i32): bool {
  const cfg = r.cfg();
  // A request pinned to the provider holding its state goes nowhere else: another provider would
  // answer "not found" in place of the owner's own 429 or error.
  if (r.pinned && !(r.attempt !== null && r.attempt!.credentialSetAside)) return false;
  if (!attemptsLeft(r)) return false;
  if (status == 0) return cfg.retry.onConnectFailure;
  if (status == 401 || status == 403) return true; // the next provider has its own key
  return cfg.retry.onStatus.includes(status);
}

/** Fails over after an answer of `status` when policy allows and a provider is left; false otherwise. */
export function failover(r: ClientRequest, status: i32, now: i64): bool {
  return shouldRetry(r, status) && sendNext(r, now);
}

/** Sends the saved request to the next available provider. False when none is left. */
function sendNext(r: ClientRequest, now: i64, reason: string = ""): bool {
  // Without the whole request body there is nothing to resend (header-only mode: the body
  // is still arriving, or was over the limit).
  if (!r.bodyComplete) return false;
  if (r.body.length == 0 && r.method != "GET" && !r.noBody) return false;
  const cfg = r.cfg();
  // A credential set aside (a rejected key of several, a token being renewed): the same provider
  // may take the request again with what it has left.
  const prev0 = r.attempt;
  if (prev0 !== null && prev0.credentialSetAside && prev0.index < r.tried.length) unchecked((r.tried[prev0.index] = false));
  while (true) {
    const next = r.newAttempt(now);
    if (next === null) return false;
    const up = next.upstream;
    const timeout = cfg.calloutTimeoutFor(next.provider);
    const sent = r.root.callouts.send(up.cluster, up.calloutHeaders(), up.body.buffer, <u32>timeout, next);
    next.sentMs = now;
    if (sent != Result.Ok) {
      // Not even sent (unknown cluster, no healthy host): a failure of that provider; try the next.
      next.answered(classifyAnswer(new AnswerHeaders(), null), now);
      continue;
    }
    const prev = r.attempt!.provider.name;
    const expired = r.attempt!.firstByteExpired;
    const why = reason.length > 0 ? reason : expired ? "first_byte_timeout" : failoverReason(r.status);
    r.root.metrics.failover(prev, why);
    // For the access line: why each attempt was left, in order.
    r.failovers = r.failovers.length > 0 ? r.failovers + "," + why : why;
    if (enabled(Level.Info)) {
      log(Level.Info, "ai-failover: failover " + prev + " → " + next.provider.name +
        " (attempt " + (r.attempts + 1).toString() + ", previous status " + r.status.toString() +
        (expired ? ": no answer within " + r.attempt!.upstream.firstByteMs.toString() + " ms, firstByteTimeout" : "") + ")");
    }
    r.attempt = next;
    r.attempts++;
    r.enter(Phase.FailingOver);
    return true;
  }
  return false;
}

/** An http_call attempt answered while the client is still there. */
export function attemptAnswered(r: ClientRequest, a: Attempt, headers: u32, bodySize: u32): void {
  const h = headers > 0 ? readAnswerHeaders(MapType.HttpCallResponseHeaders) : new AnswerHeaders();
  const status = h.status;
  const now = nowMs();
  r.status = status;
  const prefix = status == 429 || status == 404 || status == 400 ? readBodyPrefix(BufferType.HttpCallResponseBody, bodySize) : null;
  a.answered(classifyAnswer(h, status == 429 ? prefix : null), now);
  if (status == 504 && a.upstream.firstByteMs > 0) a.firstByteExpired = perTryTimedOut(a, bodySize, now, r.cfg().calloutTimeoutFor(a.provider));
  if (r.discovering && notHeldHere(status, prefix) && lookElsewhere(r, now)) return;
  if (isModelNotServed(status, prefix) && modelNotServed(r, a, now)) return;
  if (status == 400 && movedOn(r, prefix, now)) return;
  // The answer is copied into the VM to be sent as one reply: bounded (retry.maxAnswerBytes).
  const limit = r.cfg().retry.maxAnswerBytes;
  const tooLarge = <i64>bodySize > limit;
  if (shouldRetry(r, status)) {
    const saved: ArrayBuffer | null = tooLarge ? null : getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
    const savedHeaders = getHeaderPairs(MapType.HttpCallResponseHeaders);
    if (sendNext(r, now)) return;
    if (tooLarge) answerTooLarge(r, a, bodySize, limit);
    else replyWithAttempt(r, a, status, savedHeaders, saved !== null ? Uint8Array.wrap(saved) : null);
    return;
  }
  if (tooLarge) {
    if (status >= 200 && status < 300) a.scanAnswer(bodySize);
    answerTooLarge(r, a, bodySize, limit);
    return;
  }
  const raw = bodySize > 0 ? getBuffer(BufferType.HttpCallResponseBody, 0, bodySize) : null;
  let body: Uint8Array | null = raw !== null ? Uint8Array.wrap(raw) : null;
  if (body !== null && status >= 200 && status < 300) {
    // The answer arrives whole: account it, and strip the injected usage chunk (in place).
    if (r.firstByteMs < 0) r.firstByteMs = now;
    const cap = a.capture;
    if (cap !== null) cap.feed(body);
    const ct = getHeader(MapType.HttpCallResponseHeaders, "content-type");
    body = a.scan.whole(r.api.kind, body, ct, a.upstream.injectedUsage);
  }
  replyWithAttempt(r, a, status, headers > 0 ? getHeaderPairs(MapType.HttpCallResponseHeaders) : [], body);
}

const ROUTER_TIMEOUT_BODY = "upstream request timeout";

/**
 * A failover attempt's 504 is Envoy's per-try timeout (the provider sent no headers within
 * firstByteTimeout) when it carries the router's own timeout body (router.cc
 * onUpstreamTimeoutAbort) and came before the call's whole timeout could have run out.
 */
function perTryTimedOut(a: Attempt, bodySize: u32, now: i64, totalMs: i64): bool {
  if (bodySize != <u32>ROUTER_TIMEOUT_BODY.length || now - a.sentMs >= totalMs) return false;
  const b = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
  return b !== null && String.UTF8.decode(b) == ROUTER_TIMEOUT_BODY;
}

function answerTooLarge(r: ClientRequest, a: Attempt, bodySize: u32, limit: i64): void {
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " answered a failover attempt with " + bodySize.toString() +
      " bytes, more than retry.maxAnswerBytes (" + limit.toString() + "): the client gets 502 upstream_answer_too_large");
  }
  const e = upstreamAnswerTooLarge(a.provider.name, bodySize, limit);
  e.extra = [PROVIDER_HEADER, a.provider.name, ATTEMPTS_HEADER, r.attempts.toString()];
  r.reject(e);
}

/** The last provider rejected the gateway's key for it: a 502 naming it, never its body. */
export function rejectCredential(r: ClientRequest, a: Attempt, status: i32): void {
  const e = upstreamCredentialRejected(a.provider.name, status);
  e.extra.push(PROVIDER_HEADER);
  e.extra.push(a.provider.name);
  e.extra.push(ATTEMPTS_HEADER);
  e.extra.push(r.attempts.toString());
  r.reject(e);
}

function replyWithAttempt(r: ClientRequest, a: Attempt, status: i32, pairs: string[], body: Uint8Array | null): void {
  const provider = a.provider.name;
  if (r.firstByteMs < 0) r.firstByteMs = nowMs();
  if (status == 401 || status == 403) {
    rejectCredential(r, a, status);
    return;
  }
  if (status == 0) {
    const e = upstreamReset();
    e.extra = [PROVIDER_HEADER, provider, ATTEMPTS_HEADER, r.attempts.toString()];
    r.reject(e);
    return;
  }
  const consumer = r.consumer >= 0;
  const headers: string[] = [];
  for (let k = 0; k + 1 < pairs.length; k += 2) {
    const name = unchecked(pairs[k]);
    if (!FORWARDED_RESPONSE_HEADERS.includes(name)) continue;
    if (consumer && name.startsWith("x-ratelimit-")) continue;
    headers.push(name);
    headers.push(unchecked(pairs[k + 1]));
  }
  clientHeaders(r, headers);
  headers.push(PROVIDER_HEADER); headers.push(provider);
  if (a.model.length > 0) { headers.push(MODEL_HEADER); headers.push(a.model); }
  headers.push(ATTEMPTS_HEADER); headers.push(r.attempts.toString());
  r.enter(Phase.Replied);
  sendLocalResponseBytes(<u32>status, "ai_failover_attempt_" + r.attempts.toString(), body !== null ? body : new Uint8Array(0), headers);
}

/**
 * A held in-band 429 or 404, decided from `prefix` (what arrived of its body). A 429: a quota
 * error ejects the provider for long, a rate limit was cooled down at the headers. A 404 saying
 * the provider does not serve the model: skipped for that model, and the request moves on. True
 * when another provider takes the request.
 */
export function decideHeldError(r: ClientRequest, a: Attempt, prefix: Uint8Array | null, now: i64): bool {
  r.root.errorWait.release(r.context_id);
  const held = a.heldError;
  const h = held !== null ? held : new AnswerHeaders();
  a.heldError = null;
  a.errorPrefix = null;
  if (r.discovering && notHeldHere(h.status, prefix) && lookElsewhere(r, now)) return true;
  if (h.status == 404) return isModelNotServed(404, prefix) && modelNotServed(r, a, now);
  if (h.status == 400) return movedOn(r, prefix, now);
  h.remainingTokens = -1; // cooled down at the headers; a quota error makes it a long ejection
  h.remainingRequests = -1;
  const v = classifyAnswer(h, prefix);
  if (v.outcome == Outcome.QuotaExhausted) a.answered(v, now);
  return failover(r, 429, now);
}

/**
 * The provider does not hold the objects the request names (their owner was unknown): the next
 * provider may. Not a failure of this one; bounded by the providers, not retry.maxAttempts.
 */
function lookElsewhere(r: ClientRequest, now: i64): bool {
  if (!r.bodyComplete) return false;
  return sendNext(r, now, "not_owner");
}

/** A 400 the policy lets move on (retry.onContentFilter / onContextLength): to the next provider. */
function movedOn(r: ClientRequest, prefix: Uint8Array | null, now: i64): bool {
  const cfg = r.cfg();
  const why = movableClientError(400, prefix, cfg.retry.onContentFilter, cfg.retry.onContextLength);
  if (why.length == 0 || !attemptsLeft(r)) return false;
  return sendNext(r, now, why);
}

/**
 * The provider answered that it does not serve the model: skip it for this model for
 * cooldown.authFailure, and move the request on (whatever retry.onStatus says: the next provider
 * may well serve it). True when another provider takes the request.
 */
function modelNotServed(r: ClientRequest, a: Attempt, now: i64): bool {
  const cfg = r.cfg();
  r.root.modelsOut.eject(a.slot.stateKey, r.model, now + cfg.cooldown.authFailureMs);
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " does not serve model " + logSafe(r.model) + " (404 " +
      "DeploymentNotFound/model_not_found): skipped for that model for " + cfg.cooldown.authFailureMs.toString() + " ms");
  }
  if (!attemptsLeft(r)) return false;
  return sendNext(r, now, "model_not_served");
}

/** The held 429's body stalled: decided from what arrived; the 429 goes on if nobody else can take the request. */
export function errorBodyExpired(r: ClientRequest, now: i64): void {
  if (r.phase != Phase.ReadingError) return;
  const a = r.attempt!;
  const got = a.errorPrefix;
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " sent a " + (a.heldError !== null ? a.heldError!.status : 429).toString() +
      " whose body stalled: decided after " +
      ERROR_BODY_WAIT_MS.toString() + " ms from the " + (got !== null ? got.length : 0).toString() + " bytes that arrived");
  }
  const held = a.heldError;
  if (decideHeldError(r, a, got, now)) return;
  r.respond(a, held !== null ? held.status : 429, held);
  continueResponse();
}
