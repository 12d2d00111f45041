// Active health checks: one worker (the lease holder) probes every provider of every view on
// its own interval, with that provider's own :authority, path and credential, built from the
// provider record and never from a request. Results go to shared data for every worker.

import { Config } from "../config/model";
import { ProviderState, reasonName } from "../health/state";
import { ClearCredentialOp, ProbeOp } from "../health/ops";
import { Outcome } from "../health/transitions";
import { AnswerHeaders, classifyAnswer } from "../plan/answer";
import { BufferType, MapType, nowMs, Result } from "../host/calls";
import { readAnswerHeaders, readBodyPrefix } from "../host/answer";
import { CalloutHandler, Callouts } from "../host/callouts";
import { acquireLease } from "../host/lease";
import { enabled, Level, log } from "../host/log";
import { randomU64 } from "../host/wasi";
import { probePath } from "../provider/route";
import { ProviderSlot } from "../provider/registry";
import { Metrics } from "./metrics";
import { loadStates, updateProvider } from "./views";
import { CredentialChoice, CredentialGoodOp, credentialFor, simpleAuth, usableCredential } from "./credentials/choice";
import { Tokens } from "./credentials/tokens";
import { loadState } from "../host/store";
import { ProviderConfig } from "../config/model";

function allIdentities(p: ProviderConfig): bool {
  for (let k = 0; k < p.credentials.length; k++) if (unchecked(p.credentials[k]).identity === null) return false;
  return true;
}

class Probe extends CalloutHandler {
  constructor(public checks: HealthChecks, public index: i32, public credential: CredentialChoice,
    /** When it was sent: a probe sent before an ejection began does not end it. */
    public sentMs: i64) { super(); }
  contextId(): u32 {
    return 0;
  }
  onAnswer(headers: u32, bodySize: u32, _trailers: u32): void {
    const h = headers > 0 ? readAnswerHeaders(MapType.HttpCallResponseHeaders) : new AnswerHeaders();
    const body = h.status == 429 ? readBodyPrefix(BufferType.HttpCallResponseBody, bodySize) : null;
    this.checks.answered(this.index, h, body, this.credential, this.sentMs);
  }
}

export class HealthChecks {
  private slots: ProviderSlot[] = [];
  private cfg: Config = new Config();
  private probing: bool[] = [];
  /** Per provider: the token generation its probe got a 401 to (0: none) — never probed with again. */
  private refusedGeneration: u32[] = [];
  /** When each provider's next probe is due (this VM's view; reset when the lease moves here). */
  private nextProbeAt: i64[] = [];
  private owner: u64 = 0;

  constructor(private callouts: Callouts, private metrics: Metrics, private tokens: Tokens) {}

  configure(cfg: Config, slots: ProviderSlot[]): void {
    this.cfg = cfg;
    this.slots = slots;
    this.probing = new Array<bool>(slots.length);
    this.refusedGeneration = new Array<u32>(slots.length);
    this.nextProbeAt = new Array<i64>(slots.length);
    this.owner = randomU64();
  }

  /** One tick of this worker: probe what is due if this worker holds `leaseKey`. */
  tick(now: i64, tickMs: i64, leaseKey: string): void {
    const cfg = this.cfg;
    if (!cfg.healthCheck.enabled) {
      // No probe will ever prove a rejected key good again: once its authFailure ejection has
      // run out, let live traffic try it (a 401 ejects it again).
      const states = loadStates(this.slots);
      for (let i = 0; i < states.length; i++) {
        const s = unchecked(states[i]);
        if (s.credentialBad && now >= s.cooldownUntilMs) updateProvider(unchecked(this.slots[i]), new ClearCredentialOp(now));
      }
      return;
    }
    if (!acquireLease(leaseKey, this.owner, now, tickMs * 3)) return;
    for (let i = 0; i < this.slots.length; i++) {
      if (unchecked(this.probing[i]) || now < unchecked(this.nextProbeAt[i])) continue;
      unchecked((this.nextProbeAt[i] = now + cfg.healthCheck.intervalMs));
      this.probe(i, now);
    }
  }

  /** GET the provider's models endpoint with its own :authority and credential. */
  private probe(i: i32, now: i64): void {
    const slot = unchecked(this.slots[i]);
    const p = slot.config;
    const path = probePath(p);
    // The credential traffic would use now; a provider with every key set aside is probed with
    // its first (a success brings it back).
    let k = 0;
    if (!simpleAuth(slot, p)) {
      k = usableCredential(slot, p, loadState<ProviderState>(slot.stateKey, slot.stateFingerprint), this.tokens, now);
      if (k < 0) {
        // An identity without a token (yet): nothing to probe with; the provider is unavailable meanwhile.
        if (slot.credential >= 0 || p.credentials.length <= 1 || allIdentities(p)) return;
        k = 0;
      }
    }
    const cred = credentialFor(slot, k, this.tokens, now);
    if (cred === null) return;
    // Never a token this provider already refused (a probe's 401, or traffic's "no access"): the
    // next one is fetched (plugin/credentials/tokens.ts), and probed with when it is there.
    const id = cred.identity;
    if (id !== null && (unchecked(this.refusedGeneration[i]) == cred.generation || this.tokens.refusedBy(id, cred.generation, p.name))) return;
    const headers: string[] = [
      ":method", "GET", ":path", path, ":authority", p.host, ":scheme", "https",
      cred.header, cred.value, "user-agent", "ai-failover-health-check",
    ];
    const r = this.callouts.send(p.cluster, headers, new ArrayBuffer(0), <u32>this.cfg.healthCheck.timeoutMs, new Probe(this, i, cred, now));
    if (enabled(Level.Debug)) {
      log(Level.Debug, "ai-failover: health check " + slot.label + ": GET " + p.host + path + " via cluster " + p.cluster +
        " with " + cred.describe() + " → call result " + r.toString());
    }
    if (r != Result.Ok) {
      // BadArgument: unknown cluster; InternalFailure: no healthy upstream host. Both are probe failures.
      const why = r == Result.BadArgument ? "cluster " + p.cluster + " is not defined in Envoy" : "cluster " + p.cluster + " has no healthy host";
      log(Level.Warn, "ai-failover: health check " + p.name + " could not be sent: " + why);
      this.record(i, classifyAnswer(new AnswerHeaders(), null).outcome, 0, now, 0, cred, now);
      return;
    }
    unchecked((this.probing[i] = true));
  }

  answered(i: i32, h: AnswerHeaders, body: Uint8Array | null, cred: CredentialChoice, sentMs: i64): void {
    if (i >= this.probing.length) return;
    unchecked((this.probing[i] = false));
    const v = classifyAnswer(h, body);
    const now = nowMs();
    const outcome = v.outcome;
    const slot = unchecked(this.slots[i]);
    if (cred.identity !== null) {
      if (outcome == Outcome.CredentialRejected) unchecked((this.refusedGeneration[i] = cred.generation));
      else if (outcome == Outcome.Success) cred.accepted(this.tokens);
    }
    // A probe's 401/403 to one of several credentials, or to a token: set aside (plugin/credentials/choice.ts)?
    if (outcome == Outcome.CredentialRejected && cred.setAside(v.status, now, this.cfg.cooldown.authFailureMs, this.tokens, "health check " + slot.config.name)) {
      this.metrics.probe(slot.config.name, "credential_set_aside");
      return;
    }
    this.record(i, outcome, v.status, now, v.retryAfterMs, cred, sentMs);
  }

  private record(i: i32, outcome: Outcome, status: i32, now: i64, retryAfter: i64, cred: CredentialChoice, sentMs: i64): void {
    const slot = unchecked(this.slots[i]);
    const p = slot.config;
    const op = new ProbeOp(outcome, status, now, retryAfter, this.cfg.healthCheck, this.cfg.cooldown, sentMs);
    const s = updateProvider(slot, op);
    if (outcome == Outcome.Success && slot.credential < 0 && p.credentials.length > 1) updateProvider(slot, new CredentialGoodOp(cred.index));
    this.metrics.probe(p.name, outcome == Outcome.Success || outcome == Outcome.RateLimited ? "ok"
      : outcome == Outcome.ClientError ? "client_error" : "failed");
    if (outcome == Outcome.CredentialRejected) {
      log(Level.Error, "ai-failover: health check " + slot.label + " rejected with " + status.toString() +
        ": the credential (" + cred.describe() + ", from " + cred.source() + ") is not valid for endpoint " +
        p.host + probePath(p) + "; the provider gets no traffic until a check succeeds");
    }
    if (s !== null && op.flipped) {
      if (s.healthy) log(Level.Info, "ai-failover: provider " + p.name + " is healthy again (status " + status.toString() + ")");
      else log(Level.Warn, "ai-failover: provider " + p.name + " marked unhealthy: " + reasonName(s.reason) +
        " (last probe status " + status.toString() + ")");
    } else if (s !== null && op.ejectionEnded) {
      log(Level.Info, "ai-failover: provider " + p.name + " back in service: " + this.cfg.healthCheck.healthyThreshold.toString() +
        " good health check(s) since its ejection after failures (status " + status.toString() + ")");
    }
  }
}
