// After a provider answered: apply what plan/decide.ts decides — deliver the answer, retry at the
// same provider after a wait, try another credential, the next provider or a fallback model
// (through http_call, with that provider's own credential: its answer replaces the failed one as
// a local reply), or the gateway's own error. The same for the in-band answer and a failover
// attempt's.

import {
  AnswerHeaders, answerOf, classifyAnswer, ERROR_BODY_PREFIX, firstTokenTimedOut, firstTokenVerdict, mayBeRouterTimeout, needsBody,
} from "../../plan/answer";
import { Answer, AnswerKind, decide, Next, Situation, wantsPeer } from "../../plan/decide";
import { noProvider, upstreamAnswerTooLarge, upstreamCredentialRejected, upstreamReset } from "../../plan/rejection";
import { BufferType, continueResponse, getBuffer, getHeader, getHeaderPairs, MapType, nowMs, Result, sendLocalResponseBytes } from "../../host/calls";
import { Config } from "../../config/model";
import { Outcome } from "../../health/transitions";
import { readAnswerHeaders, readBodyPrefix } from "../../host/answer";
import { enabled, Level, log } from "../../host/log";
import { NoChoice } from "../../select/selector";
import { Attempt } from "./attempt";
import { logSafe } from "./access_log";
import { contextFallbackFor, fallbackFor, newAttempt, notHeldAt, peerOf, statesForReply, switchModel } from "./next_attempt";
import { Phase } from "./phase";
import { RequestState } from "./state";
import { ERROR_BODY_WAIT_MS, Timer } from "../timers";
import { ATTEMPTS_HEADER, clientHeaders, holdsSecret, MODEL_HEADER, PROVIDER_HEADER, reject, releaseHeld, respond, streamStalled } from "./response";

/** Response headers of an http_call attempt that are passed on to the client. */
const FORWARDED_RESPONSE_HEADERS: string[] = [
  "content-type", "retry-after", "retry-after-ms", "x-request-id", "apim-request-id", "x-ms-region",
  "openai-processing-ms", "openai-model", "openai-version", "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
];

/** Must an error body be read to decide (a 400 means something to the policy, or to a request looking for its objects)? */
export function readsErrorBody(r: RequestState, status: i32): bool {
  const retry = r.cfg().retry;
  return needsBody(status, r.discovering, retry.onContentFilter || retry.onContextLength || contextFallbacks(r.cfg()));
}

/** Does any model fall back to a larger-context one (a 400's body must then be read)? */
function contextFallbacks(cfg: Config): bool {
  return cfg.contextWindowFallbacks.size > 0;
}

/** The whole request can be sent again: its body arrived whole and was kept (or it never had one). */
function resendable(r: RequestState): bool {
  if (!r.bodyComplete) return false;
  return r.body.length > 0 || r.method == "GET" || r.noBody;
}

function situation(r: RequestState, a: Attempt, ans: Answer, now: i64): Situation {
  const cfg = r.cfg();
  const s = new Situation();
  s.attempts = r.attempts;
  s.retriesOn = r.tried.length > 0;
  s.resendable = resendable(r);
  s.pinned = r.pinned;
  s.discovering = r.discovering;
  s.discoverAttempts = cfg.retry.maxAttempts;
  s.credentialSetAside = a.credentialSetAside;
  s.tokenWaitMs = a.tokenWaitMs;
  s.sameRetries = r.sameRetries;
  s.elapsedMs = now - r.startedMs;
  s.budgetMs = cfg.calloutTimeoutFor(a.provider);
  s.jitter = <f64>r.svc.rng.below(1000) / 1000.0;
  // Looked at only when the decision depends on it (a short Retry-After, a transient failure).
  if (wantsPeer(ans, s, cfg.retry)) s.peer = peerOf(r, a, now);
  if (ans.kind == AnswerKind.ContextLength) s.contextModel = contextFallbackFor(r);
  s.fallbackModel = fallbackFor(r);
  return s;
}

/**
 * Decides what follows answer `ans` of attempt `a` and does it. True when the request goes on
 * elsewhere (another attempt is in flight or waiting) or the gateway replied itself; false: the
 * client gets this answer.
 */
export function afterAnswer(r: RequestState, a: Attempt, ans: Answer, now: i64): bool {
  if (ans.kind == AnswerKind.ModelNotServed) modelNotServed(r, a, now);
  if (ans.kind == AnswerKind.NotHeldHere) notHeldAt(r, a, now);
  const cfg = r.cfg();
  const s = situation(r, a, ans, now);
  // A failover that finds no provider left asks again (then only a fallback model or the answer remain).
  for (let round = 0; round < 4; round++) {
    const d = decide(ans, s, cfg.retry);
    switch (d.next) {
      case Next.Deliver: return false;
      case Next.Reject: {
        if (ans.kind == AnswerKind.CredentialRejected) rejectCredential(r, a, ans.status);
        else {
          const e = upstreamReset();
          e.extra = [PROVIDER_HEADER, a.provider.name, ATTEMPTS_HEADER, r.attempts.toString()];
          reject(r, e);
        }
        return true;
      }
      case Next.RetryHere: {
        waitThenRetry(r, a, d.reason, d.waitMs, now);
        return true;
      }
      case Next.FallbackModel: {
        if (switchModel(r, d.model) && sendNext(r, now, d.reason)) return true;
        s.fallbackModel = fallbackFor(r);
        s.contextModel = "";
        s.exhausted = true;
        break;
      }
      default: {
        // FailOver, OtherCredential: the next attempt (the same provider when its credential was set aside).
        if (sendNext(r, now, d.reason)) return true;
        s.exhausted = true;
      }
    }
  }
  return false;
}

/** Sends the saved request to the next available provider (`only`: that one or none). False when none is left. */
function sendNext(r: RequestState, now: i64, why: string, only: i32 = -1): bool {
  if (!resendable(r)) return false;
  const cfg = r.cfg();
  // A credential set aside (a rejected key of several, a token being renewed): the same provider
  // may take the request again with what it has left.
  const prev = r.attempt!;
  if (prev.credentialSetAside && prev.index < r.tried.length) unchecked((r.tried[prev.index] = false));
  while (true) {
    const next = newAttempt(r, now, only);
    if (next === null) return false;
    const up = next.upstream;
    const timeout = cfg.calloutTimeoutFor(next.provider);
    const sent = r.svc.callouts.send(up.cluster, up.calloutHeaders(), up.body.buffer, <u32>timeout, next);
    next.sentMs = now;
    if (sent != Result.Ok) {
      // Not even sent (unknown cluster, no healthy host): a failure of that provider; try the next.
      next.answered(classifyAnswer(new AnswerHeaders(), null), now);
      if (only >= 0) return false;
      continue;
    }
    r.svc.metrics.failover(prev.provider.name, why);
    // For the access line: why each attempt was left, in order.
    r.failovers = r.failovers.length > 0 ? r.failovers + "," + why : why;
    if (enabled(Level.Info)) {
      log(Level.Info, "ai-failover: " + (next.index == prev.index ? "retry at " : "failover " + prev.provider.name + " → ") + next.provider.name +
        " (attempt " + (r.attempts + 1).toString() + ", previous status " + r.status.toString() + ", " + why +
        (why == "first_byte_timeout" ? ": no answer within " + prev.upstream.firstByteMs.toString() + " ms, firstByteTimeout" : "") +
        (why == "first_token_timeout" && prev.held !== null ? ": no first token within " + prev.held!.limitMs.toString() + " ms, firstTokenTimeout" : "") + ")");
    }
    r.attempt = next;
    r.attempts++;
    r.enter(Phase.FailingOver);
    return true;
  }
  return false;
}

/** The same provider again once `waitMs` have passed (its Retry-After, or a back-off): the answer is held meanwhile. */
function waitThenRetry(r: RequestState, a: Attempt, why: string, waitMs: i64, now: i64): void {
  r.sameRetries++;
  r.retryIndex = a.index;
  r.retryReason = why;
  r.enter(Phase.FailingOver);
  r.svc.timers.set(r.attemptOwner(), now + waitMs, Timer.Retry);
  if (enabled(Level.Info)) {
    log(Level.Info, "ai-failover: provider " + a.provider.name + " answered " + a.status.toString() + "; retrying it in " + waitMs.toString() +
      " ms (" + why + ": no provider of its priority group can take the request)");
  }
}

/** A retry at the same provider is due: there, else wherever the request fits now, else the gateway's 429. */
function retryDue(r: RequestState, now: i64): void {
  if (r.phase != Phase.FailingOver || r.retryIndex < 0) return;
  const i = r.retryIndex;
  r.retryIndex = -1;
  if (i < r.tried.length) unchecked((r.tried[i] = false));
  if (sendNext(r, now, r.retryReason, i) || sendNext(r, now, r.retryReason)) return;
  const view = r.view!;
  reject(r, noProvider(view.config, view.providers, r.model, r.need, r.headerOnly, NoChoice.AllUnavailable, statesForReply(r, now), now));
}

/** A timer of the request's is due (plugin/timers.ts). */
export function timerDue(r: RequestState, timer: Timer, now: i64): void {
  if (timer == Timer.Retry) retryDue(r, now);
  else if (timer == Timer.FirstToken) firstTokenDue(r, now);
  else if (timer == Timer.Stalled) streamStalled(r);
  else errorBodyExpired(r, now);
}

/**
 * A held stream got no first token within firstTokenTimeout: the request moves on like after a
 * first-byte timeout (the held answer is replaced by the next attempt's, a local reply; the
 * provider is charged a failure). When nobody else can take it, the stream goes on as it is:
 * waiting longer for the one provider that answers serves the client better than an error.
 */
function firstTokenDue(r: RequestState, now: i64): void {
  const a = r.attempt;
  if (a === null || a.held === null || r.phase != Phase.Forwarded) return;
  const held = a.held!;
  if (afterAnswer(r, a, firstTokenTimedOut(), now)) {
    a.held = null;
    a.answered(firstTokenVerdict(held.verdict), now);
    return;
  }
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " sent no first token within " + held.limitMs.toString() +
      " ms (firstTokenTimeout) and no other provider can take the request: its stream goes on");
  }
  releaseHeld(r, a, now);
  continueResponse();
}

/** An http_call attempt answered while the client is still there. */
export function attemptAnswered(r: RequestState, a: Attempt, headers: u32, bodySize: u32): void {
  const h = headers > 0 ? readAnswerHeaders(MapType.HttpCallResponseHeaders) : new AnswerHeaders();
  const status = h.status;
  const now = nowMs();
  const cfg = r.cfg();
  r.status = status;
  const prefix = readsErrorBody(r, status) ? readBodyPrefix(BufferType.HttpCallResponseBody, bodySize) : null;
  a.answered(classifyAnswer(h, prefix), now);
  const timedOut = mayBeRouterTimeout(h, a.upstream.firstByteMs) && perTryTimedOut(a, bodySize, now, cfg.calloutTimeoutFor(a.provider));
  const ans = answerOf(h, prefix, timedOut, r.discovering);
  // The answer is copied into the VM to be sent as one reply: bounded (retry.maxAnswerBytes).
  const limit = cfg.retry.maxAnswerBytes;
  const tooLarge = <i64>bodySize > limit;
  if (ans.kind != AnswerKind.Success) {
    // Kept before anything else is sent: the client gets it if nobody else can take the request.
    const saved: ArrayBuffer | null = tooLarge || bodySize == 0 ? null : getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
    const savedHeaders = headers > 0 ? getHeaderPairs(MapType.HttpCallResponseHeaders) : [];
    if (afterAnswer(r, a, ans, now)) return;
    if (tooLarge) answerTooLarge(r, a, bodySize, limit);
    else replyWithAttempt(r, a, status, savedHeaders, saved !== null ? Uint8Array.wrap(saved) : null);
    return;
  }
  if (tooLarge) {
    if (a.ok) a.scanAnswer(bodySize);
    answerTooLarge(r, a, bodySize, limit);
    return;
  }
  const raw = bodySize > 0 ? getBuffer(BufferType.HttpCallResponseBody, 0, bodySize) : null;
  let body: Uint8Array | null = raw !== null ? Uint8Array.wrap(raw) : null;
  if (body !== null && a.ok) {
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

function answerTooLarge(r: RequestState, a: Attempt, bodySize: u32, limit: i64): void {
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " answered a failover attempt with " + bodySize.toString() +
      " bytes, more than retry.maxAnswerBytes (" + limit.toString() + "): the client gets 502 upstream_answer_too_large");
  }
  const e = upstreamAnswerTooLarge(a.provider.name, bodySize, limit);
  e.extra = [PROVIDER_HEADER, a.provider.name, ATTEMPTS_HEADER, r.attempts.toString()];
  reject(r, e);
}

/** The last provider rejected the gateway's key for it: a 502 naming it, never its body. */
function rejectCredential(r: RequestState, a: Attempt, status: i32): void {
  const e = upstreamCredentialRejected(a.provider.name, status);
  e.extra.push(PROVIDER_HEADER);
  e.extra.push(a.provider.name);
  e.extra.push(ATTEMPTS_HEADER);
  e.extra.push(r.attempts.toString());
  reject(r, e);
}

function replyWithAttempt(r: RequestState, a: Attempt, status: i32, pairs: string[], body: Uint8Array | null): void {
  const provider = a.provider.name;
  if (r.firstByteMs < 0) r.firstByteMs = nowMs();
  const consumer = r.consumer >= 0;
  const headers: string[] = [];
  for (let k = 0; k + 1 < pairs.length; k += 2) {
    const name = unchecked(pairs[k]);
    if (!FORWARDED_RESPONSE_HEADERS.includes(name) || holdsSecret(r.cfg(), unchecked(pairs[k + 1]))) continue;
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
 * A held in-band error, decided from `prefix` (what arrived of its body): a 429 may be a quota
 * error (a long ejection; a rate limit was cooled down at the headers), a 404 may say the provider
 * does not serve the model, a 400 may be one the policy moves on from. True when the request goes
 * on elsewhere.
 */
export function decideHeldError(r: RequestState, a: Attempt, prefix: Uint8Array | null, now: i64): bool {
  r.svc.timers.release(r.context_id);
  const held = a.heldError;
  const h = held !== null ? held : new AnswerHeaders();
  a.heldError = null;
  a.errorPrefix = null;
  // A 429 was cooled down at the headers; a quota error makes it a long ejection.
  h.remainingTokens = -1;
  h.remainingRequests = -1;
  const v = classifyAnswer(h, prefix);
  if (v.outcome == Outcome.QuotaExhausted) a.answered(v, now);
  return afterAnswer(r, a, answerOf(h, prefix, false, r.discovering), now);
}

/**
 * The provider answered that it does not serve the model: skip it for this model for
 * cooldown.authFailure (the request moves on whatever retry.onStatus says: the next provider may
 * well serve it).
 */
function modelNotServed(r: RequestState, a: Attempt, now: i64): void {
  const cfg = r.cfg();
  r.svc.modelsOut.eject(a.slot.stateKey, r.model, now + cfg.cooldown.authFailureMs, now);
  if (enabled(Level.Warn)) {
    log(Level.Warn, "ai-failover: provider " + a.provider.name + " does not serve model " + logSafe(r.model) + " (404 " +
      "DeploymentNotFound/model_not_found): skipped for that model for " + cfg.cooldown.authFailureMs.toString() + " ms");
  }
}

/** The held error's body stalled: decided from what arrived; the error goes on if nobody else can take the request. */
function errorBodyExpired(r: RequestState, now: i64): void {
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
  respond(r, a, held !== null ? held.status : 429, held);
  continueResponse();
}

/** The in-band answer's body while it is held (an error being read): true when it is decided (it went elsewhere or is the client's now). */
export function heldErrorChunk(r: RequestState, a: Attempt, bodySize: u32, endOfStream: bool): i32 {
  // Decided from the first ERROR_BODY_PREFIX bytes at most: a huge body must not outgrow Envoy's
  // buffer; a stalled one is decided on the tick from what arrived.
  const prefix = readBodyPrefix(BufferType.ResponseBody, bodySize);
  if (!endOfStream && bodySize < ERROR_BODY_PREFIX) {
    a.errorPrefix = prefix;
    return HELD_MORE;
  }
  const held = a.heldError;
  if (decideHeldError(r, a, prefix, nowMs())) return HELD_ELSEWHERE;
  // Nothing else can take it: the client gets the provider's answer as it was.
  respond(r, a, held !== null ? held.status : 429, held);
  return HELD_DELIVERED;
}

export const HELD_MORE = 0;
export const HELD_ELSEWHERE = 1;
export const HELD_DELIVERED = 2;
