// What happens after a provider answered: the one decision, for the in-band answer and for a
// failover attempt's (http_call) alike. Pure: what the answer is (plan/answer.ts reads it), what
// the request has left (attempts, same-provider retries, time) and the policy come in; what to do
// comes out. The plugin applies it (plugin/request/failover.ts) and asks again, with `exhausted` set, when
// a failover found no provider left.

import { RetryConfig } from "../config/model";

/** What an answer is, as far as the next step is concerned. */
export const enum AnswerKind {
  /** 1xx–3xx: the client gets it. */
  Success = 0,
  /** 429, a per-minute limit (not insufficient_quota). */
  RateLimited = 1,
  /** 429 insufficient_quota: the account is out of money, not of minute capacity. */
  QuotaExhausted = 2,
  /** 401/403: the provider rejected the gateway's credential for it. */
  CredentialRejected = 3,
  /** 5xx (other than the router's own per-try timeout). */
  ServerError = 4,
  /** No answer: reset, connect failure (status 0). */
  Reset = 5,
  /** The router's 504: no response headers within firstByteTimeout. */
  FirstByteTimeout = 6,
  /** 404 DeploymentNotFound / model_not_found: this provider does not serve the model. */
  ModelNotServed = 7,
  /** A 4xx saying the provider does not hold the objects the request names (only while discovering their owner). */
  NotHeldHere = 8,
  /** 400 content_filter (the prompt was blocked by this deployment's filter). */
  ContentFilter = 9,
  /** 400 context_length_exceeded. */
  ContextLength = 10,
  /** Any other 4xx: the client's own fault, passed on. */
  ClientError = 11,
  /**
   * A stream whose headers came but whose first token did not within firstTokenTimeout (its
   * headers are held meanwhile): a timeout of the provider's, as a 504.
   */
  FirstTokenTimeout = 12,
}

/** What is done next. */
export const enum Next {
  /** The answer goes to the client as it is. */
  Deliver = 0,
  /** The same provider again after `waitMs` (a short Retry-After, one transient failure). */
  RetryHere = 1,
  /** The same provider with another of its credentials (the rejected one was set aside). */
  OtherCredential = 2,
  /** The next provider (`reason`). */
  FailOver = 3,
  /** The next provider serving the fallback `model` (`reason`). */
  FallbackModel = 4,
  /** The gateway's own error instead of the answer (a rejected credential, a reset: never the provider's body). */
  Reject = 5,
}

/** Where the request stands when the answer came. */
export class Situation {
  /** Attempts made so far, this one included. */
  attempts: i32 = 1;
  /** Retries are on for this request (its body is kept; off when it was too large). */
  retriesOn: bool = true;
  /** The whole request can be sent again (its body arrived whole and was kept). */
  resendable: bool = true;
  /** The request goes to one provider only (the one holding its state, or the client's pin). */
  pinned: bool = false;
  /** The request looks for the provider holding the objects it names. */
  discovering: bool = false;
  /** Providers a discovering request may ask at most (retry.maxAttempts; 0: every provider). */
  discoverAttempts: i32 = 0;
  /** The attempt's credential was set aside and the provider keeps another. */
  credentialSetAside: bool = false;
  /**
   * The attempt's identity token was set aside after the 401 and a new one is being fetched: the
   * longest worth waiting for it (ms; 0: not so). The request is then retried once with it.
   */
  tokenWaitMs: i64 = 0;
  /** Retries on the same provider made so far (retry.sameProvider bounds them). */
  sameRetries: i32 = 0;
  /** ms since the request arrived, and the time it may take in all (0: unbounded). */
  elapsedMs: i64 = 0;
  budgetMs: i64 = 0;
  /**
   * Who else could take the request now (see wantsPeer): PEER_SAME_GROUP, PEER_OTHER_GROUP (only a
   * costlier priority group), PEER_NONE; -1 not known.
   */
  peer: i32 = -1;
  /** A failover was decided and no provider was left: decide again without it. */
  exhausted: bool = false;
  /** The fallback model the configuration names for this one (capacity, failures; "" none). */
  fallbackModel: string = "";
  /** The larger-context model (contextWindowFallbacks; "" none). */
  contextModel: string = "";
  /** A uniform draw in [0, 1) for the back-off's jitter. */
  jitter: f64 = 0.5;
}

/** The answer, as the decision sees it. */
export const PEER_NONE = 0;
export const PEER_OTHER_GROUP = 1;
export const PEER_SAME_GROUP = 2;

export class Answer {
  constructor(public kind: AnswerKind, public status: i32, public retryAfterMs: i64 = 0) {}
}

export class Decision {
  constructor(public next: Next, public reason: string = "", public waitMs: i64 = 0, public model: string = "") {}
}

const DELIVER = new Decision(Next.Deliver);
const REJECT = new Decision(Next.Reject);

/** Why a provider was left (failovers_total's reason label, the access line's failover=…). */
export function failoverReason(a: Answer): string {
  switch (a.kind) {
    case AnswerKind.RateLimited: return "rate_limited";
    case AnswerKind.QuotaExhausted: return "rate_limited";
    case AnswerKind.CredentialRejected: return "credential_rejected";
    case AnswerKind.Reset: return "reset";
    case AnswerKind.FirstByteTimeout: return "first_byte_timeout";
    case AnswerKind.FirstTokenTimeout: return "first_token_timeout";
    case AnswerKind.ModelNotServed: return "model_not_served";
    case AnswerKind.NotHeldHere: return "not_owner";
    case AnswerKind.ContentFilter: return "content_filter";
    case AnswerKind.ContextLength: return "context_length";
  }
  if (a.status == 503) return "unavailable";
  if (a.status >= 500) return "upstream_error";
  return "status_" + a.status.toString();
}

/** Is the answer one the retry policy moves on from (retry.onStatus, onConnectFailure, a rejected key)? */
function retryable(a: Answer, p: RetryConfig): bool {
  switch (a.kind) {
    case AnswerKind.Reset: return p.onConnectFailure;
    case AnswerKind.CredentialRejected: return true; // the next provider has its own key
    case AnswerKind.RateLimited:
    case AnswerKind.QuotaExhausted:
    case AnswerKind.ServerError:
    case AnswerKind.FirstByteTimeout:
    case AnswerKind.FirstTokenTimeout:
      return p.onStatus.includes(a.status);
  }
  return false;
}

/** A transient failure one more try at the same provider may well get past (never a 4xx). */
function transient(a: Answer): bool {
  return a.kind == AnswerKind.Reset || (a.kind == AnswerKind.ServerError && (a.status == 500 || a.status == 502 || a.status == 503));
}

/**
 * Does the decision on `a` depend on who else could take the request (Situation.peer)? Only then
 * is it worth looking.
 */
export function wantsPeer(a: Answer, s: Situation, p: RetryConfig): bool {
  if (a.kind == AnswerKind.CredentialRejected && s.tokenWaitMs > 0) return s.resendable;
  if (s.sameRetries >= p.sameProviderRetries || !s.resendable) return false;
  if (a.kind == AnswerKind.RateLimited) return a.retryAfterMs > 0 && a.retryAfterMs <= p.sameProviderMaxWaitMs;
  return transient(a);
}

/** The wait before retrying at the same provider after a transient failure: base × 2^k, jittered ±50 %. */
export function backoffMs(p: RetryConfig, sameRetries: i32, jitter: f64): i64 {
  let ms = p.sameProviderBackoffMs;
  for (let i = 0; i < sameRetries && ms < 10_000; i++) ms *= 2;
  return <i64>(<f64>ms * (0.5 + jitter));
}

/**
 * The same provider is the better next try: the answer says it can serve shortly and the
 * alternative is worse — after a Retry-After within retry.sameProviderMaxWait, when no provider of
 * its priority group can take the request (only a costlier group, or none); after one transient
 * failure (500/502/503, a reset), when no other provider can take it at all (failing over costs the
 * client less time than a back-off). The wait must fit the request's time.
 */
function retryHere(a: Answer, s: Situation, p: RetryConfig): Decision | null {
  if (!wantsPeer(a, s, p)) return null;
  // After a failover found no provider left, no peer can take it either.
  const peer = s.exhausted ? PEER_NONE : s.peer;
  if (peer < 0 || peer == PEER_SAME_GROUP) return null;
  if (a.kind != AnswerKind.RateLimited && peer != PEER_NONE) return null;
  const wait = a.kind == AnswerKind.RateLimited ? a.retryAfterMs : backoffMs(p, s.sameRetries, s.jitter);
  if (s.budgetMs > 0 && s.elapsedMs + wait >= s.budgetMs) return null;
  return new Decision(Next.RetryHere, a.kind == AnswerKind.RateLimited ? "retry_after" : "transient", wait);
}

/**
 * A 401 to an identity's token that is being renewed: the same provider with the new token, once,
 * when no provider of its priority group can take the request meanwhile (only a costlier group, or
 * none — a pinned request's owner included). The wait — woken as soon as the token is there — is
 * bounded by the token request's own bound and retry.sameProviderMaxWait, and must fit the
 * request's time. The request's own stale token was the fault, not the provider.
 */
function awaitToken(a: Answer, s: Situation, p: RetryConfig): Decision | null {
  if (a.kind != AnswerKind.CredentialRejected || s.tokenWaitMs <= 0 || !s.resendable || !s.retriesOn) return null;
  const peer = s.exhausted ? PEER_NONE : s.peer;
  if (peer < 0 || peer == PEER_SAME_GROUP) return null;
  const wait = s.tokenWaitMs < p.sameProviderMaxWaitMs ? s.tokenWaitMs : p.sameProviderMaxWaitMs;
  if (wait <= 0 || (s.budgetMs > 0 && s.elapsedMs + wait >= s.budgetMs)) return null;
  return new Decision(Next.RetryHere, "token_renewed", wait);
}

/** Attempts are left (retries on, fewer made than retry.maxAttempts) and the request can be sent again. */
function attemptsLeft(s: Situation, p: RetryConfig): bool {
  return s.retriesOn && s.resendable && s.attempts < p.maxAttempts;
}

/** Nothing else can take the request: the answer goes on, or the gateway's own error for what the client must never get. */
function lastResort(a: Answer, s: Situation): Decision {
  if (s.fallbackModel.length > 0 && s.resendable && s.retriesOn && movesToFallback(a)) {
    return new Decision(Next.FallbackModel, "fallback_model", 0, s.fallbackModel);
  }
  if (a.kind == AnswerKind.CredentialRejected || a.kind == AnswerKind.Reset) return REJECT;
  return DELIVER;
}

/** Answers after which another model may serve the client: the provider could not, not the request was wrong. */
function movesToFallback(a: Answer): bool {
  switch (a.kind) {
    case AnswerKind.RateLimited:
    case AnswerKind.QuotaExhausted:
    case AnswerKind.CredentialRejected:
    case AnswerKind.ServerError:
    case AnswerKind.Reset:
    case AnswerKind.FirstByteTimeout:
    case AnswerKind.FirstTokenTimeout:
    case AnswerKind.ModelNotServed:
      return true;
  }
  return false;
}

/** What to do after answer `a`. */
export function decide(a: Answer, s: Situation, p: RetryConfig): Decision {
  switch (a.kind) {
    case AnswerKind.Success:
      return DELIVER;
    case AnswerKind.ClientError:
      // Only a status the operator listed in retry.onStatus (a 4xx is the client's own otherwise).
      if (s.exhausted || s.pinned || !p.onStatus.includes(a.status) || !attemptsLeft(s, p)) return DELIVER;
      return new Decision(Next.FailOver, failoverReason(a));
    case AnswerKind.NotHeldHere:
      // Not a failure of this provider: the next one may hold the objects — bounded by the providers
      // and by discoverAttempts (an unknown id must not cost one upstream call per provider; issue 20).
      if (!s.discovering || s.exhausted || !s.resendable) return DELIVER;
      if (s.discoverAttempts > 0 && s.attempts >= s.discoverAttempts) return DELIVER;
      return new Decision(Next.FailOver, "not_owner");
    case AnswerKind.ContextLength: {
      // A larger-context model answers once; another provider of the same model has the same context.
      if (s.contextModel.length > 0 && s.resendable && s.retriesOn) return new Decision(Next.FallbackModel, "context_length", 0, s.contextModel);
      if (!p.onContextLength || s.exhausted || s.pinned || !attemptsLeft(s, p)) return DELIVER;
      return new Decision(Next.FailOver, "context_length");
    }
    case AnswerKind.ContentFilter:
      if (!p.onContentFilter || s.exhausted || s.pinned || !attemptsLeft(s, p)) return DELIVER;
      return new Decision(Next.FailOver, "content_filter");
    case AnswerKind.ModelNotServed:
      // Whatever retry.onStatus says: the next provider may well serve the model.
      if (s.exhausted || s.pinned || !attemptsLeft(s, p)) return lastResort(a, s);
      return new Decision(Next.FailOver, "model_not_served");
  }
  // Failures of the provider: 429, 5xx, resets, timeouts, a rejected credential.
  const renewed = awaitToken(a, s, p);
  if (renewed !== null) return renewed;
  if (a.kind == AnswerKind.CredentialRejected && s.credentialSetAside && s.resendable && s.retriesOn && !s.exhausted) {
    return new Decision(Next.OtherCredential, "credential_rejected");
  }
  const here = retryHere(a, s, p);
  if (here !== null) return here;
  // A request pinned to the provider holding its state goes nowhere else: another provider would
  // answer "not found" in place of the owner's own error.
  if (s.pinned) return a.kind == AnswerKind.CredentialRejected || a.kind == AnswerKind.Reset ? REJECT : DELIVER;
  if (!s.exhausted && retryable(a, p) && attemptsLeft(s, p)) return new Decision(Next.FailOver, failoverReason(a));
  return lastResort(a, s);
}
