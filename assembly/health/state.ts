// Per-provider shared state: what every worker needs to agree on (health, cooldown, and the
// provider's admission window), in a fixed binary layout stored in shared data under the
// provider's name. Pure: encode/decode.

import { Window } from "../admission/window";
import { RecordIo } from "../lib/record";

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

  layout(): u32 {
    return LAYOUT_VERSION;
  }

  bytes(): i32 {
    return STATE_BYTES;
  }

  fields(io: RecordIo): void {
    this.fingerprint = io.u32(this.fingerprint);
    this.healthy = io.bool(this.healthy);
    this.credentialBad = io.bool(this.credentialBad);
    const r = io.u8(<u8>this.reason);
    this.reason = r <= 6 ? <Reason>r : Reason.None;
    // Byte 11 and bytes 120..127 were zero before several credentials existed: none rejected.
    this.badCredentials = io.u8(this.badCredentials);
    this.consecutiveFailures = io.i32(this.consecutiveFailures);
    this.consecutiveSuccesses = io.i32(this.consecutiveSuccesses);
    this.probeFailures = io.i32(this.probeFailures);
    this.probeSuccesses = io.i32(this.probeSuccesses);
    this.ejections = io.i32(this.ejections);
    this.cooldownUntilMs = io.i64(this.cooldownUntilMs);
    this.remainingTokens = io.i64(this.remainingTokens);
    this.remainingRequests = io.i64(this.remainingRequests);
    this.remainingAtMs = io.i64(this.remainingAtMs);
    this.lastProbeMs = io.i64(this.lastProbeMs);
    this.lastProbeStatus = io.i32(this.lastProbeStatus);
    this.windowStartMs = io.i64(this.windowStartMs);
    this.tokensReserved = io.i64(this.tokensReserved);
    this.requestsReserved = io.i64(this.requestsReserved);
    this.tokensAtReport = io.i64(this.tokensAtReport);
    this.requestsAtReport = io.i64(this.requestsAtReport);
    this.badCredentialsUntilMs = io.i64(this.badCredentialsUntilMs);
    this.ejectedAtMs = io.i64(this.ejectedAtMs);
    this.trialUntilMs = io.i64(this.trialUntilMs);
  }

  /** Decodes; a value of the wrong size or version yields a fresh state (never a trap). */
  static decode(buf: ArrayBuffer): ProviderState {
    const s = new ProviderState();
    return s.decodeFrom(buf) ? s : new ProviderState();
  }
}
