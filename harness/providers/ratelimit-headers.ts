/**
 * Rate-limit response headers, per provider kind.
 * Azure sends only the remaining counts (plus retry headers and policy-id on 429);
 * OpenAI sends limit, remaining and reset (Go-style durations such as "1s", "6m0s", "644ms").
 */
import type { ProviderKind, WindowState } from "./types.ts";

/** Go's time.Duration.String() for a whole number of milliseconds. */
export function goDuration(ms: number): string {
  ms = Math.max(0, Math.round(ms));
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sMs = ms % 60_000;
  const s = (sMs / 1000).toFixed(3).replace(/\.?0+$/, "");
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

export function windowHeaders(kind: ProviderKind, w: WindowState): Record<string, string> {
  const h: Record<string, string> = {};
  if (kind === "openai") {
    h["x-ratelimit-limit-requests"] = String(w.limitRequests);
    h["x-ratelimit-limit-tokens"] = String(w.limitTokens);
  }
  h["x-ratelimit-remaining-requests"] = String(w.remainingRequests);
  h["x-ratelimit-remaining-tokens"] = String(w.remainingTokens);
  if (kind === "openai") {
    // Fixed window: both budgets come back together when the window ends.
    h["x-ratelimit-reset-requests"] = goDuration(w.resetsInMs);
    h["x-ratelimit-reset-tokens"] = goDuration(w.resetsInMs);
  }
  return h;
}

/** retry-after (whole seconds, rounded up, at least 1) and retry-after-ms. */
export function retryHeaders(retryAfterMs: number): Record<string, string> {
  const ms = Math.max(0, Math.ceil(retryAfterMs));
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))), "retry-after-ms": String(ms) };
}
