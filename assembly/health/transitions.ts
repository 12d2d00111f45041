// How provider state moves on probe results and live responses. Pure.

import { CooldownConfig, HealthCheckConfig } from "../config/model";
import { ProviderState, Reason } from "./state";

/** What a probe or a live attempt ended with. status 0 = reset; 503/504 from the host = connect failure / timeout. */
export const enum Outcome {
  Success = 0,
  RateLimited = 1,
  CredentialRejected = 2,
  QuotaExhausted = 3,
  UpstreamFailure = 4, // 5xx, connect failure, reset, timeout
  ClientError = 5,     // 400, 404, content_filter: never counts against the provider
}

export function classifyStatus(status: i32, quota: bool): Outcome {
  if (status >= 200 && status < 400) return Outcome.Success;
  if (status == 401 || status == 403) return Outcome.CredentialRejected;
  if (status == 429) return quota ? Outcome.QuotaExhausted : Outcome.RateLimited;
  if (status == 0 || status >= 500 || status == 408) return Outcome.UpstreamFailure;
  return Outcome.ClientError;
}

/** A provider's retry-after is honoured up to an hour (a hostile or absurd value is capped). */
export const MAX_RETRY_AFTER_MS: i64 = 3_600_000;

/**
 * Active health-check result. Returns true when the healthy flag flipped.
 * A 429 on the probe proves endpoint and key: healthy, but cooling down.
 * `sentMs`: when the probe was sent. A good probe sent before the latest ejection after failures
 * began says nothing about the provider since: it neither counts toward `healthyThreshold` nor
 * ends the ejection; `healthyThreshold` good probes sent after it do end it (half-open: the first
 * live failure then ejects it again, doubled, until a live success resets the doubling).
 */
export function applyProbe(s: ProviderState, outcome: Outcome, status: i32, nowMs: i64, retryAfterMs: i64,
  hc: HealthCheckConfig, cd: CooldownConfig, sentMs: i64 = i64.MAX_VALUE): bool {
  if (retryAfterMs > MAX_RETRY_AFTER_MS) retryAfterMs = MAX_RETRY_AFTER_MS;
  const was = s.healthy;
  s.lastProbeMs = nowMs;
  s.lastProbeStatus = status;
  if (outcome == Outcome.Success || outcome == Outcome.RateLimited || outcome == Outcome.ClientError) {
    s.probeFailures = 0;
    const counts = sentMs >= s.ejectedAtMs;
    if (counts) s.probeSuccesses++;
    if (s.credentialBad) {
      // The key works again (rotated or re-enabled): lift the credential ejection.
      s.credentialBad = false;
      if (s.reason == Reason.CredentialBad) { s.cooldownUntilMs = 0; s.reason = Reason.None; }
    }
    if (counts && s.probeSuccesses >= hc.healthyThreshold) {
      if (!s.healthy) {
        s.healthy = true;
        s.consecutiveFailures = 0;
      }
      // A GET of the models endpoint proves endpoint and key, not capacity: it ends an ejection
      // after failures or failed probes, never a rate-limit, quota or credential one.
      if (s.reason == Reason.ProbeFailed || s.reason == Reason.Failures) endEjection(s);
    }
    if (outcome == Outcome.RateLimited) {
      const until = nowMs + (retryAfterMs > 0 ? retryAfterMs : cd.defaultRateLimitMs);
      if (until > s.cooldownUntilMs) { s.cooldownUntilMs = until; s.reason = Reason.RateLimited; }
    }
  } else if (outcome == Outcome.CredentialRejected) {
    s.probeSuccesses = 0;
    s.probeFailures++;
    s.credentialBad = true;
    s.healthy = false;
    s.reason = Reason.CredentialBad;
    s.cooldownUntilMs = nowMs + cd.authFailureMs;
  } else {
    s.probeSuccesses = 0;
    s.probeFailures++;
    if (outcome == Outcome.QuotaExhausted) {
      s.reason = Reason.Quota;
      s.cooldownUntilMs = nowMs + cd.authFailureMs;
    }
    if (s.healthy && s.probeFailures >= hc.unhealthyThreshold) {
      s.healthy = false;
      if (s.reason == Reason.None) s.reason = Reason.ProbeFailed;
    }
  }
  return was != s.healthy;
}

/** An ejection after failures (or failed probes) is over; `ejections` stays until a live success. */
function endEjection(s: ProviderState): void {
  s.reason = Reason.None;
  s.cooldownUntilMs = 0;
  s.trialUntilMs = 0;
  s.consecutiveFailures = 0;
}

/** Ejects the provider after failures: baseEjection, doubled per ejection not followed by a live success, up to maxEjection. */
function eject(s: ProviderState, nowMs: i64, cd: CooldownConfig): void {
  let ms = cd.baseEjectionMs;
  for (let i = 0; i < s.ejections && ms < cd.maxEjectionMs; i++) ms *= 2;
  if (ms > cd.maxEjectionMs) ms = cd.maxEjectionMs;
  s.ejections++;
  s.consecutiveFailures = 0;
  s.cooldownUntilMs = nowMs + ms;
  s.reason = Reason.Failures;
  s.ejectedAtMs = nowMs;
  s.probeSuccesses = 0;
  s.trialUntilMs = 0;
}

/**
 * A live attempt's outcome (passive health). Returns true when the provider became unavailable
 * (an ejection began, also one that follows a failed trial).
 *
 * An ejection after failures ends by time (then one request at a time tries the provider: see
 * ProviderState.halfOpen, health/ops.ts TrialOp) or by good probes (applyProbe). Until a live
 * success after it, one failure ejects the provider again, for twice as long; that success resets
 * the doubling.
 */
export function applyResponse(s: ProviderState, outcome: Outcome, nowMs: i64, retryAfterMs: i64, cd: CooldownConfig): bool {
  if (retryAfterMs > MAX_RETRY_AFTER_MS) retryAfterMs = MAX_RETRY_AFTER_MS;
  const was = s.available(nowMs);
  let ejected = false;
  if (outcome == Outcome.Success) {
    s.consecutiveFailures = 0;
    s.consecutiveSuccesses++;
    if (s.reason != Reason.Failures) s.ejections = 0;
    // During the ejection: a request sent before it began, which does not end it. After its time: the trial succeeded.
    else if (nowMs >= s.cooldownUntilMs) { endEjection(s); s.ejections = 0; }
  } else if (outcome == Outcome.RateLimited) {
    const until = nowMs + (retryAfterMs > 0 ? retryAfterMs : cd.defaultRateLimitMs);
    if (until > s.cooldownUntilMs) { s.cooldownUntilMs = until; s.reason = Reason.RateLimited; s.trialUntilMs = 0; }
  } else if (outcome == Outcome.QuotaExhausted) {
    s.cooldownUntilMs = nowMs + cd.authFailureMs;
    s.reason = Reason.Quota;
    s.trialUntilMs = 0;
  } else if (outcome == Outcome.CredentialRejected) {
    s.credentialBad = true;
    s.reason = Reason.CredentialBad;
    s.cooldownUntilMs = nowMs + cd.authFailureMs;
    s.trialUntilMs = 0;
  } else if (outcome == Outcome.UpstreamFailure) {
    // Failures of requests already in flight when the provider was ejected say nothing new:
    // they must not extend or double the ejection.
    if (s.reason == Reason.Failures && nowMs < s.cooldownUntilMs) return false;
    s.consecutiveSuccesses = 0;
    s.consecutiveFailures++;
    // Not proven good by a live success since its last ejection (a trial, or the first requests
    // after good probes ended it): this one failure ejects it again.
    if (s.ejections > 0 || s.reason == Reason.Failures || s.consecutiveFailures >= cd.consecutiveFailures) {
      eject(s, nowMs, cd);
      ejected = true;
    }
  } else if (outcome == Outcome.ClientError) {
    // Says nothing about the provider's health; a trial it answered is over: the next request tries.
    if (s.halfOpen(nowMs)) s.trialUntilMs = 0;
  }
  return ejected || (was && !s.available(nowMs));
}
