// What an upstream answer means: the one place that reads a provider's status, rate-limit
// headers and error body and decides what kind of answer it is. Pure: header values and a
// body prefix come in, a Verdict goes out (the host adapters read them from whichever map the
// answer arrived in: the in-band response or an http_call's).

import { indexOf, utf8 } from "../lib/bytes";
import { classifyStatus, MAX_RETRY_AFTER_MS, Outcome } from "../health/transitions";

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
  present: u32 = 0;
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
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || c == 0x2e)) return -1;
  }
  return F64.parseFloat(s);
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

/** A 400 another provider may answer (content_filter, context_length_exceeded) that the policy lets move on: its reason, else "". */
export function movableClientError(status: i32, bodyPrefix: Uint8Array | null, onContentFilter: bool, onContextLength: bool): string {
  if (status != 400 || bodyPrefix === null) return "";
  if (onContentFilter && indexOf(bodyPrefix, CONTENT_FILTER) >= 0) return "content_filter";
  if (onContextLength && indexOf(bodyPrefix, CONTEXT_LENGTH) >= 0) return "context_length";
  return "";
}

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
