// Per-provider shared state: what every worker needs to agree on (health, cooldown, and the
// provider's admission window), in a fixed binary layout stored in shared data under the
// provider's name. Pure: encode/decode.

import { Window } from "../admission/window";

export const enum Reason {
  None = 0,
  RateLimited = 1,   // 429 with or without retry-after
  CredentialBad = 2, // 401/403: never retried with that key
  Failures = 3,      // consecutive 5xx / connect failures / resets / timeouts
  Quota = 4,         // insufficient_quota: long ejection
  ProbeFailed = 5,   // active health check marked it unhealthy
  Remote = 6,        // another replica publishes a cooldown through the rate limit service (reason unknown); never republished
}

export function reasonName(r: Reason): string {
  switch (r) {
    case Reason.RateLimited: return "rate_limited";
    case Reason.CredentialBad: return "credential_rejected";
    case Reason.Failures: return "upstream_failures";
    case Reason.Quota: return "quota_exhausted";
    case Reason.ProbeFailed: return "health_check_failed";
    case Reason.Remote: return "cluster_cooldown";
  }
  return "none";
}

const LAYOUT_VERSION: u32 = 3;
export const STATE_BYTES: i32 = 144;

export class ProviderState extends Window {
  /** Result of active health checks (starts healthy: no traffic is refused before the first probe). */
  healthy: bool = true;
  credentialBad: bool = false;
  consecutiveFailures: i32 = 0;
  consecutiveSuccesses: i32 = 0;
  /** Consecutive probe failures / successes (active checks). */
  probeFailures: i32 = 0;
  probeSuccesses: i32 = 0;
  ejections: i32 = 0;
  cooldownUntilMs: i64 = 0;
  reason: Reason = Reason.None;
  lastProbeMs: i64 = 0;
  lastProbeStatus: i32 = 0;
  /**
   * Credentials of a provider with several (shared quota) that were rejected: bit k for
   * credentials[k], until badCredentialsUntilMs (then tried again). The provider is ejected only
   * when every one is rejected.
   */
  badCredentials: u8 = 0;
  badCredentialsUntilMs: i64 = 0;
  /**
   * When the latest ejection after failures began: probes sent before it, and good probes counted
   * before it, do not end it (health/transitions.ts applyProbe).
   */
  ejectedAtMs: i64 = 0;
  /**
   * An ejection after failures whose time is up lets one live request through as a trial: it is
   * out until then (0: none). Another request may take the trial after it, should the answer
   * never come (health/ops.ts TrialOp).
   */
  trialUntilMs: i64 = 0;
  /** Not stored: this VM found no usable credential for it now (an identity without a token). */
  noCredential: bool = false;
  /** Not stored: the model (Azure: deployment) a request needs is cooling down after its own 429 (plugin/capacity/model_records.ts). */
  deploymentCooldownUntilMs: i64 = 0;
  /** Not stored: the model (Azure: deployment) a request needs has no room in its window until then (0: it has). */
  deploymentWindowResetMs: i64 = 0;

  /** May this provider take traffic at `nowMs`? */
  available(nowMs: i64): bool {
    return this.healthy && !this.credentialBad && !this.noCredential && nowMs >= this.cooldownUntilMs && nowMs >= this.deploymentCooldownUntilMs &&
      (nowMs >= this.trialUntilMs || this.reason != Reason.Failures);
  }

  /**
   * Ejected after failures, the ejection's time is up, and nothing has proven it good yet (a
   * live success or good probes): half-open, one request at a time may try it.
   */
  halfOpen(nowMs: i64): bool {
    return this.reason == Reason.Failures && nowMs >= this.cooldownUntilMs;
  }

  /** Is credentials[k] set aside as rejected at `nowMs`? */
  credentialRejected(k: i32, nowMs: i64): bool {
    return (this.badCredentials & (<u8>1 << <u8>k)) != 0 && nowMs < this.badCredentialsUntilMs;
  }

  encode(): ArrayBuffer {
    const buf = new ArrayBuffer(STATE_BYTES);
    const p = changetype<usize>(buf);
    store<u32>(p, LAYOUT_VERSION);
    store<u32>(p, this.fingerprint, 4);
    store<u8>(p, this.healthy ? 1 : 0, 8);
    store<u8>(p, this.credentialBad ? 1 : 0, 9);
    store<u8>(p, <u8>this.reason, 10);
    store<u8>(p, this.badCredentials, 11);
    store<i32>(p, this.consecutiveFailures, 12);
    store<i32>(p, this.consecutiveSuccesses, 16);
    store<i32>(p, this.probeFailures, 20);
    store<i32>(p, this.probeSuccesses, 24);
    store<i32>(p, this.ejections, 28);
    store<i64>(p, this.cooldownUntilMs, 32);
    store<i64>(p, this.remainingTokens, 40);
    store<i64>(p, this.remainingRequests, 48);
    store<i64>(p, this.remainingAtMs, 56);
    store<i64>(p, this.lastProbeMs, 64);
    store<i32>(p, this.lastProbeStatus, 72);
    store<i64>(p, this.windowStartMs, 80);
    store<i64>(p, this.tokensReserved, 88);
    store<i64>(p, this.requestsReserved, 96);
    store<i64>(p, this.tokensAtReport, 104);
    store<i64>(p, this.requestsAtReport, 112);
    store<i64>(p, this.badCredentialsUntilMs, 120);
    store<i64>(p, this.ejectedAtMs, 128);
    store<i64>(p, this.trialUntilMs, 136);
    return buf;
  }

  /** Decodes; a value of the wrong size or version yields a fresh state (never a trap). */
  static decode(buf: ArrayBuffer): ProviderState {
    const s = new ProviderState();
    return s.decodeFrom(buf) ? s : new ProviderState();
  }

  /** Reads `buf` into this state; false (this state unusable) on a wrong size or version. */
  decodeFrom(buf: ArrayBuffer): bool {
    const s = this;
    if (buf.byteLength != STATE_BYTES) return false;
    const p = changetype<usize>(buf);
    if (load<u32>(p) != LAYOUT_VERSION) return false;
    s.fingerprint = load<u32>(p, 4);
    s.healthy = load<u8>(p, 8) != 0;
    s.credentialBad = load<u8>(p, 9) != 0;
    const r = load<u8>(p, 10);
    s.reason = r <= 6 ? <Reason>r : Reason.None;
    s.consecutiveFailures = load<i32>(p, 12);
    s.consecutiveSuccesses = load<i32>(p, 16);
    s.probeFailures = load<i32>(p, 20);
    s.probeSuccesses = load<i32>(p, 24);
    s.ejections = load<i32>(p, 28);
    s.cooldownUntilMs = load<i64>(p, 32);
    s.remainingTokens = load<i64>(p, 40);
    s.remainingRequests = load<i64>(p, 48);
    s.remainingAtMs = load<i64>(p, 56);
    s.lastProbeMs = load<i64>(p, 64);
    s.lastProbeStatus = load<i32>(p, 72);
    s.windowStartMs = load<i64>(p, 80);
    s.tokensReserved = load<i64>(p, 88);
    s.requestsReserved = load<i64>(p, 96);
    s.tokensAtReport = load<i64>(p, 104);
    s.requestsAtReport = load<i64>(p, 112);
    // Bytes 11 and 120..127 were zero before several credentials existed: none rejected.
    s.badCredentials = load<u8>(p, 11);
    s.badCredentialsUntilMs = load<i64>(p, 120);
    s.ejectedAtMs = load<i64>(p, 128);
    s.trialUntilMs = load<i64>(p, 136);
    return true;
  }
}
