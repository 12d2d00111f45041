// Admission windows: a request reserves its estimated tokens (prompt estimate + max output
// tokens) and one request in a per-minute window before it is sent, so parallel requests
// cannot overshoot a limit; the reservation is reconciled with the actual usage when the
// response ends and released when the attempt fails. Providers and consumer budgets both
// keep one. Pure.

import { Limits } from "../config/model";
import { SharedRecord } from "../lib/record";

/**
 * A per-minute admission window, as kept in shared data. Subclasses (a provider's state, a
 * consumer's budget) own the binary layout.
 */
export abstract class Window extends SharedRecord {
  /** Hash of the owner's record; a mismatch means the record changed: the state resets. */
  fingerprint: u32 = 0;
  windowStartMs: i64 = 0;
  tokensReserved: i64 = 0;
  requestsReserved: i64 = 0;
  /** Last x-ratelimit-remaining-* the owner's provider reported (-1 unknown) and when. */
  remainingTokens: i64 = -1;
  remainingRequests: i64 = -1;
  remainingAtMs: i64 = 0;
  /** tokensReserved/requestsReserved when the provider last reported its remaining counts. */
  tokensAtReport: i64 = 0;
  requestsAtReport: i64 = 0;
}

/**
 * Has the window elapsed at `nowMs` (or none begun)? A window that started a moment after our
 * clock reading is the current one: another worker read the clock later and began it between
 * our reading and our write. Only one that starts a whole window ahead means the clock jumped back.
 */
function elapsed(s: Window, lim: Limits, nowMs: i64): bool {
  if (s.windowStartMs == 0) return true;
  if (nowMs >= s.windowStartMs) return nowMs - s.windowStartMs >= lim.windowMs;
  return s.windowStartMs - nowMs >= lim.windowMs;
}

/** Starts a new window when the current one has elapsed. */
export function rollWindow(s: Window, lim: Limits, nowMs: i64): void {
  if (elapsed(s, lim, nowMs)) {
    s.windowStartMs = nowMs;
    s.tokensReserved = 0;
    s.requestsReserved = 0;
    s.tokensAtReport = 0;
    s.requestsAtReport = 0;
    // What the provider reported belongs to the old window.
    s.remainingTokens = -1;
    s.remainingRequests = -1;
  }
}

/** Tokens this provider can still admit in the window (i64.MAX_VALUE when unlimited and unknown). */
export function tokensLeft(s: Window, lim: Limits): i64 {
  let left: i64 = i64.MAX_VALUE;
  if (lim.tokensPerMinute > 0) left = lim.tokensPerMinute - s.tokensReserved;
  if (s.remainingTokens >= 0) {
    // The provider's own count, less what we sent since it reported.
    const reported = s.remainingTokens - (s.tokensReserved - s.tokensAtReport);
    if (reported < left) left = reported;
  }
  return left;
}

export function requestsLeft(s: Window, lim: Limits): i64 {
  let left: i64 = i64.MAX_VALUE;
  if (lim.requestsPerMinute > 0) left = lim.requestsPerMinute - s.requestsReserved;
  if (s.remainingRequests >= 0) {
    const reported = s.remainingRequests - (s.requestsReserved - s.requestsAtReport);
    if (reported < left) left = reported;
  }
  return left;
}

/** Would a request of `tokens` fit (honouring the spillover thresholds)? */
export function fits(s: Window, lim: Limits, tokens: i64, nowMs: i64): bool {
  // Judge against the window the reservation would land in. When the current one has elapsed
  // (or none began), that is a fresh window: the whole limit, nothing reported yet — with the
  // same thresholds as any other moment (a request refused a millisecond into a window must not
  // be admitted at its very start).
  let t: i64 = i64.MAX_VALUE;
  let r: i64 = i64.MAX_VALUE;
  if (elapsed(s, lim, nowMs)) {
    if (lim.tokensPerMinute > 0) t = lim.tokensPerMinute;
    if (lim.requestsPerMinute > 0) r = lim.requestsPerMinute;
  } else {
    t = tokensLeft(s, lim);
    r = requestsLeft(s, lim);
  }
  if (t != i64.MAX_VALUE && t - tokens < lim.minRemainingTokens) return false;
  if (t != i64.MAX_VALUE && tokens > t) return false;
  if (r != i64.MAX_VALUE && (r < 1 || r - 1 < lim.minRemainingRequests)) return false;
  return true;
}

/** Reserves; false (state unchanged apart from the window roll) when it does not fit. */
export function reserve(s: Window, lim: Limits, tokens: i64, nowMs: i64): bool {
  if (!fits(s, lim, tokens, nowMs)) return false;
  rollWindow(s, lim, nowMs);
  s.tokensReserved += tokens;
  s.requestsReserved += 1;
  return true;
}

/**
 * Settles a reservation made in the window that began at `reservedAtMs` (or made at that
 * moment): `actual` tokens used (-1 = the attempt failed and consumed nothing: release it all).
 * Only applies inside the same window.
 */
export function settle(s: Window, lim: Limits, reserved: i64, actual: i64, reservedAtMs: i64, nowMs: i64,
  refund: bool = true): void {
  if (s.windowStartMs == 0 || reservedAtMs < s.windowStartMs || nowMs - s.windowStartMs >= lim.windowMs) return;
  if (actual < 0) {
    s.tokensReserved -= reserved;
    s.requestsReserved -= 1;
    if (s.requestsReserved < 0) s.requestsReserved = 0;
  } else if (refund || actual > reserved) {
    // Providers (Azure, OpenAI) count prompt estimate + max tokens at admission and refund
    // nothing when the answer is shorter: for their windows only an overrun is added
    // (refund=false). Gateway budgets (consumers) follow the actual usage both ways.
    s.tokensReserved += actual - reserved;
  }
  if (s.tokensReserved < 0) s.tokensReserved = 0;
}

/** The provider reported its remaining counts: remember them and where our reservations stood. */
export function learnRemaining(s: Window, remainingTokens: i64, remainingRequests: i64, nowMs: i64): void {
  if (remainingTokens < 0 && remainingRequests < 0) return;
  if (remainingTokens >= 0) { s.remainingTokens = remainingTokens; s.tokensAtReport = s.tokensReserved; }
  if (remainingRequests >= 0) { s.remainingRequests = remainingRequests; s.requestsAtReport = s.requestsReserved; }
  s.remainingAtMs = nowMs;
}

/**
 * The provider said (429 + retry-after) its window frees up in `retryAfterMs`: end our window no
 * later than that, and drop its remaining counts. Without a retry-after nothing moves.
 */
export function alignWindowEnd(s: Window, lim: Limits, nowMs: i64, retryAfterMs: i64): void {
  s.remainingTokens = -1;
  s.remainingRequests = -1;
  if (retryAfterMs <= 0 || retryAfterMs >= lim.windowMs || s.windowStartMs == 0) return;
  const start = nowMs + retryAfterMs - lim.windowMs;
  if (start < s.windowStartMs) s.windowStartMs = start;
}

/** When the window frees up (for Retry-After when nothing fits). */
export function windowResetAt(s: Window, lim: Limits): i64 {
  return s.windowStartMs + lim.windowMs;
}
