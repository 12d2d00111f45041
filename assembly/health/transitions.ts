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
 */
export function applyProbe(s: ProviderState, outcome: Outcome, status: i32, nowMs: i64, retryAfterMs: i64,
  hc: HealthCheckConfig, cd: CooldownConfig): bool {
  if (retryAfterMs > MAX_RETRY_AFTER_MS) retryAfterMs = MAX_RETRY_AFTER_MS;
  const was = s.healthy;
  s.lastProbeMs = nowMs;
  s.lastProbeStatus = status;
  if (outcome == Outcome.Success || outcome == Outcome.RateLimited || outcome == Outcome.ClientError) {
    s.probeFailures = 0;
    s.probeSuccesses++;
    if (s.credentialBad) {
      // The key works again (rotated or re-enabled): lift the credential ejection.
      s.credentialBad = false;
      if (s.reason == Reason.CredentialBad) { s.cooldownUntilMs = 0; s.reason = Reason.None; }
    }
    if (!s.healthy && s.probeSuccesses >= hc.healthyThreshold) {
      s.healthy = true;
      s.consecutiveFailures = 0;
      s.ejections = 0;
      if (s.reason == Reason.ProbeFailed || s.reason == Reason.Failures) { s.reason = Reason.None; s.cooldownUntilMs = 0; }
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

/**
 * A live attempt's outcome (passive health). Returns true when the provider became unavailable.
 */
export function applyResponse(s: ProviderState, outcome: Outcome, nowMs: i64, retryAfterMs: i64, cd: CooldownConfig): bool {
  if (retryAfterMs > MAX_RETRY_AFTER_MS) retryAfterMs = MAX_RETRY_AFTER_MS;
  const was = s.available(nowMs);
  if (outcome == Outcome.Success) {
    s.consecutiveFailures = 0;
    s.consecutiveSuccesses++;
    if (s.reason == Reason.Failures && nowMs >= s.cooldownUntilMs) s.ejections = 0;
  } else if (outcome == Outcome.RateLimited) {
    const until = nowMs + (retryAfterMs > 0 ? retryAfterMs : cd.defaultRateLimitMs);
    if (until > s.cooldownUntilMs) { s.cooldownUntilMs = until; s.reason = Reason.RateLimited; }
  } else if (outcome == Outcome.QuotaExhausted) {
    s.cooldownUntilMs = nowMs + cd.authFailureMs;
    s.reason = Reason.Quota;
  } else if (outcome == Outcome.CredentialRejected) {
    s.credentialBad = true;
    s.reason = Reason.CredentialBad;
    s.cooldownUntilMs = nowMs + cd.authFailureMs;
  } else if (outcome == Outcome.UpstreamFailure) {
    // Failures of requests already in flight when the provider was ejected say nothing new:
    // they must not extend or double the ejection.
    if (s.reason == Reason.Failures && nowMs < s.cooldownUntilMs) return false;
    s.consecutiveSuccesses = 0;
    s.consecutiveFailures++;
    if (s.consecutiveFailures >= cd.consecutiveFailures) {
      let ms = cd.baseEjectionMs;
      for (let i = 0; i < s.ejections && ms < cd.maxEjectionMs; i++) ms *= 2;
      if (ms > cd.maxEjectionMs) ms = cd.maxEjectionMs;
      s.ejections++;
      s.consecutiveFailures = 0;
      s.cooldownUntilMs = nowMs + ms;
      s.reason = Reason.Failures;
    }
  }
  return was && !s.available(nowMs);
}
