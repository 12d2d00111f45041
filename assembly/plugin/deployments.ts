// Azure counts quota per deployment: a provider serving gpt-4o and gpt-4o-mini has two windows,
// and a 429 for one says nothing of the other. A provider with several deployments keeps one
// record per deployment in shared data next to its state: the deployment's cooldown after its own
// rate-limit 429, its admission window (its own `limits`), and what its x-ratelimit-remaining-*
// headers last said. Health (auth, 5xx) and insufficient_quota stay per provider; the provider's
// own `limits` bound the resource as a whole.

import { Limits, ProviderConfig } from "../config/model";
import { alignWindowEnd, fits, learnRemaining, rollWindow, Window } from "../admission/window";
import { getShared, SharedValue } from "../host/calls";
import { stateOf, updateState } from "../host/store";
import { StateOp } from "../lib/state_op";
import { ProviderSlot } from "../provider/registry";
import { Reservation, reserveIn } from "./reservation";

/** Does `p` keep one record per deployment (it serves more than one, or one has limits of its own)? */
export function perDeployment(p: ProviderConfig): bool {
  return p.deploymentKeys.length > 1 || p.hasDeploymentLimits;
}

const LAYOUT: u32 = 0xde910001;
const BYTES: i32 = 88;

/** One deployment's record: its window, its provider's last report for it, its cooldown. */
export class DeploymentState extends Window {
  cooldownUntilMs: i64 = 0;

  encode(): ArrayBuffer {
    const buf = new ArrayBuffer(BYTES);
    const p = changetype<usize>(buf);
    store<u32>(p, LAYOUT);
    store<u32>(p, this.fingerprint, 4);
    store<i64>(p, this.windowStartMs, 8);
    store<i64>(p, this.tokensReserved, 16);
    store<i64>(p, this.requestsReserved, 24);
    store<i64>(p, this.remainingTokens, 32);
    store<i64>(p, this.remainingRequests, 40);
    store<i64>(p, this.remainingAtMs, 48);
    store<i64>(p, this.tokensAtReport, 56);
    store<i64>(p, this.requestsAtReport, 64);
    store<i64>(p, this.cooldownUntilMs, 72);
    return buf;
  }

  decodeFrom(buf: ArrayBuffer): bool {
    if (buf.byteLength != BYTES) return false;
    const p = changetype<usize>(buf);
    if (load<u32>(p) != LAYOUT) return false;
    this.fingerprint = load<u32>(p, 4);
    this.windowStartMs = load<i64>(p, 8);
    this.tokensReserved = load<i64>(p, 16);
    this.requestsReserved = load<i64>(p, 24);
    this.remainingTokens = load<i64>(p, 32);
    this.remainingRequests = load<i64>(p, 40);
    this.remainingAtMs = load<i64>(p, 48);
    this.tokensAtReport = load<i64>(p, 56);
    this.requestsAtReport = load<i64>(p, 64);
    this.cooldownUntilMs = load<i64>(p, 72);
    return true;
  }
}

function keyOf(slot: ProviderSlot, deployment: string): string {
  return slot.stateKey + "/deployment/" + deployment;
}

/** What a pick knows of one deployment: its record as read (the seed of a reservation) and its limits. */
export class DeploymentRead {
  constructor(public readonly key: string, public readonly read: SharedValue, public readonly state: DeploymentState,
    public readonly limits: Limits) {}

  /** Is there anything to count in its window: limits of its own, or a report of its provider's for this window? */
  get counted(): bool {
    const l = this.limits;
    const s = this.state;
    return l.tokensPerMinute > 0 || l.requestsPerMinute > 0 || s.remainingTokens >= 0 || s.remainingRequests >= 0;
  }
}

/** The record of the deployment serving `model` at the slot's provider. */
export function readDeployment(slot: ProviderSlot, p: ProviderConfig, model: string): DeploymentRead {
  const key = keyOf(slot, p.deploymentFor(model));
  const v = getShared(key);
  return new DeploymentRead(key, v, stateOf<DeploymentState>(v, slot.stateFingerprint), p.deploymentLimitsFor(model));
}

/** Would `need` tokens fit the deployment's window (its limits and its provider's last report)? */
export function deploymentFits(d: DeploymentRead, need: i64, now: i64): bool {
  return !d.counted || fits(d.state, d.limits, need, now);
}

/**
 * Reserves `need` tokens and a request in the deployment's window when anything is counted
 * there; the reservation settles with the provider's. Null when it no longer fits (or the CAS
 * race was lost: `contended`).
 */
export function reserveDeployment(slot: ProviderSlot, d: DeploymentRead, need: i64, now: i64): DeploymentReserved {
  const out = new DeploymentReserved();
  if (!d.counted) {
    out.ok = true;
    return out;
  }
  const r = reserveIn<DeploymentState>(d.key, slot.stateFingerprint, d.limits, need, now, false, d.read);
  out.ok = r.reservation !== null;
  out.reservation = r.reservation;
  out.contended = r.contended;
  return out;
}

export class DeploymentReserved {
  ok: bool = false;
  contended: bool = false;
  reservation: Reservation<DeploymentState> | null = null;
}

/**
 * What one answer said of the deployment: a rate-limit 429 cools it down until `coolUntilMs`
 * (a later cooldown already there is kept) and ends its window then, dropping its report;
 * otherwise its x-ratelimit-remaining-* (when present) are learned for its current window.
 */
class DeploymentAnswerOp extends StateOp<DeploymentState> {
  constructor(public limits: Limits, public now: i64, public coolUntilMs: i64, public retryAfterMs: i64,
    public remainingTokens: i64, public remainingRequests: i64) { super(); }
  apply(s: DeploymentState): bool {
    if (this.coolUntilMs > 0) {
      if (s.cooldownUntilMs < this.coolUntilMs) s.cooldownUntilMs = this.coolUntilMs;
      alignWindowEnd(s, this.limits, this.now, this.retryAfterMs);
      return true;
    }
    if (this.remainingTokens < 0 && this.remainingRequests < 0) return false;
    // The report is for the provider's current window: it counts from now, even in a deployment
    // whose window nothing had opened yet.
    rollWindow(s, this.limits, this.now);
    learnRemaining(s, this.remainingTokens, this.remainingRequests, this.now);
    return true;
  }
}

/** Cools `deployment` down until `untilMs` after its own rate-limit 429. */
export function coolDeployment(slot: ProviderSlot, deployment: string, limits: Limits, now: i64, untilMs: i64, retryAfterMs: i64): void {
  updateState<DeploymentState>(keyOf(slot, deployment), slot.stateFingerprint,
    new DeploymentAnswerOp(limits, now, untilMs, retryAfterMs, -1, -1));
}

/** The provider reported the deployment's remaining tokens/requests (-1: absent). */
export function learnDeployment(slot: ProviderSlot, deployment: string, limits: Limits, now: i64, remainingTokens: i64, remainingRequests: i64): void {
  if (remainingTokens < 0 && remainingRequests < 0) return;
  updateState<DeploymentState>(keyOf(slot, deployment), slot.stateFingerprint,
    new DeploymentAnswerOp(limits, now, 0, 0, remainingTokens, remainingRequests));
}
