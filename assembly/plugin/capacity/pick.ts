// Choosing a provider for an attempt and reserving its capacity: the pure choice (select/)
// over the providers' shared states, then a CAS reservation in the chosen one's window; a
// lost race (another worker took the capacity between read and write) chooses again.

import { fits, windowResetAt } from "../../admission/window";
import { Config, ProviderConfig } from "../../config/model";
import { ProviderState } from "../../health/state";
import { TrialOp } from "../../health/ops";
import { enabled, Level, log } from "../../host/log";
import { getShared, SharedValue } from "../../host/calls";
import { stateOf } from "../../host/store";
import { ApiKind } from "../../provider/api";
import { takesBodyAsSent } from "../../provider/route";
import { Rng } from "../../select/rng";
import { Choice, choose, isCandidate, NoChoice } from "../../select/selector";
import { Reservation, reserveIn } from "./reservation";
import { ConfigView, loadStates, updateProvider } from "../views";
import { simpleAuth, usableCredential } from "../credentials/choice";
import { ModelRead, modelFits, perModel, readModel, reserveModel } from "./model_records";
import { Tokens } from "../credentials/tokens";
import { ClusterLimiter, PoolKind } from "../cluster/limiter";
import { Take } from "../../cluster/pool";

export class Picked {
  /** The provider's index in the view (-1: none could take the request). */
  index: i32 = -1;
  /** Which of its credentials to send (plugin/credentials/choice.ts). */
  credential: i32 = 0;
  reservation: Reservation<ProviderState> | null = null;
  /** When none: why, and the states it was judged on. */
  why: NoChoice = NoChoice.None;
  states: ProviderState[] = [];
  /** Cluster limits: the preferred provider's lease is short — lease for it, then pick again (-1: no). */
  leaseFor: i32 = -1;
  /** Cluster limits: a provider was skipped because the service is unreachable and fails closed. */
  clusterClosed: bool = false;
}

/**
 * An available provider serving `model` with capacity for `need` tokens, not in `tried`.
 * `headerOnly`: the body will not be rewritten, so providers that need another model name in
 * it are skipped; `bodyModel` is the model the body names when it is not `model` (a fallback).
 */
export function pickProvider(view: ConfigView, model: string, api: ApiKind, need: i64, tried: bool[], headerOnly: bool,
  rng: Rng, now: i64, tokens: Tokens, skip: bool[] | null = null, cluster: ClusterLimiter | null = null, mayWait: bool = false,
  affinity: u64 = 0, bodyModel: string = ""): Picked {
  const providers = view.providers;
  const n = providers.length;
  const out = new Picked();
  let contended = 0;
  const sc = scratch.size(n);
  const reads = sc.reads;
  const creds = sc.creds;
  const states = sc.states;
  const capacity = sc.capacity;
  const loaded = sc.loaded;
  // Providers with per-model state: the record of the model (Azure: its deployment) (null: not read).
  const models = sc.models;
  // Cluster limits: providers whose cluster-wide share is spent for this request.
  const clusterOut = cluster !== null && cluster.on ? new Array<bool>(n) : null;
  for (let round = 0; round < n + 2; round++) {
    for (let i = 0; i < n; i++) { unchecked((loaded[i] = false)); unchecked((models[i] = null)); }
    // States are read a priority group at a time, lowest first, only as far as the choice needs:
    // a group with a provider that can take the request ends it (select/selector.ts never looks
    // past that group), so the usual request reads one provider's state, not all of them.
    let limit = nextPriority(providers, i64.MIN_VALUE);
    let choice: Choice;
    while (true) {
      for (let i = 0; i < n; i++) {
        if (unchecked(loaded[i]) || <i64>unchecked(providers[i]).priority > limit) continue;
        unchecked((loaded[i] = true));
        judge(view, i, model, bodyModel, api, need, headerOnly, now, tokens, skip, clusterOut, states, capacity, creds, reads, models);
      }
      choice = choose(providers, states, model, now, tried, capacity, rng, <i32>limit, affinity);
      if (choice.index >= 0) break;
      const next = nextPriority(providers, limit);
      if (next == i64.MAX_VALUE) break;
      limit = next;
    }
    if (choice.index < 0) {
      out.why = choice.why;
      // Every group was read; a copy (the scratch serves the next pick).
      out.states = states.slice(0, n);
      return out;
    }
    const i = choice.index;
    const slot = unchecked(view.slots[i]);
    // The first CAS round writes over the read the choice was made on (a write since fails it).
    const r = reserveIn<ProviderState>(slot.stateKey, slot.stateFingerprint, unchecked(providers[i]).limits, need, now, false,
      unchecked(reads[i]), unchecked(states[i]));
    const dr = unchecked(models[i]);
    if (r.reservation !== null && dr !== null) {
      // The model's window too; a race lost there gives the provider's back and chooses again.
      const d = reserveModel(slot, dr, need, now);
      if (!d.ok) {
        r.reservation!.settle(-1, now);
        if (d.contended && contended++ < 8) round--;
        continue;
      }
      r.reservation!.linked = d.reservation;
    }
    if (r.reservation !== null && clusterOut !== null) {
      // The provider's cluster-wide window (plugin/cluster/limiter.ts): take the estimate from the lease.
      const p = unchecked(providers[i]);
      const t = cluster!.take(PoolKind.Provider, p.name, need, p.limits.tokensPerMinute, p.limits.windowMs, false, now, !mayWait);
      if (t.hold !== null) r.reservation!.cluster = t.hold;
      // Taken without a hold: not counted cluster-wide (the Redis engine and a provider without a limit).
      else if (t.verdict != Take.Taken) {
        r.reservation!.settle(-1, now);
        if (t.verdict == Take.Lease && mayWait) {
          out.leaseFor = i;
          return out;
        }
        // Not waiting (a failover attempt): refill in the background, take the next provider now.
        if (t.verdict == Take.Lease) cluster!.lease(PoolKind.Provider, p.name, need, now, null);
        if (t.verdict == Take.Unavailable) out.clusterClosed = true;
        unchecked((clusterOut[i] = true));
        continue;
      }
    }
    if (r.reservation !== null && unchecked(states[i]).halfOpen(now)) {
      // Its ejection after failures is over and nothing has proven it good since: this request
      // is its one trial, unless another request holds it (then choose again without it).
      const p = unchecked(providers[i]);
      const t = new TrialOp(now, now + trialBoundMs(view.config, p));
      const w = updateProvider(slot, t);
      if (!t.ok || (t.took && w === null)) {
        r.reservation!.settle(-1, now);
        continue;
      }
      if (t.took && enabled(Level.Info)) log(Level.Info, "ai-failover: provider " + p.name + ": ejection over, one request tries it");
    }
    if (r.reservation !== null) {
      out.index = i;
      out.credential = unchecked(creds[i]);
      out.reservation = r.reservation;
      return out;
    }
    // It fitted but the CAS race was lost every time: choose again without calling it a round
    // (a spurious "no capacity" otherwise), within a bound.
    if (r.contended && contended++ < 8) round--;
  }
  out.why = NoChoice.NoCapacity;
  out.states = loadStates(view.slots);
  return out;
}

/**
 * Who else could take the request now: 2 a provider of `group` (other than `self`, not in `tried`),
 * 1 only one of another group, 0 none. Read without reserving anything: it tells whether retrying
 * at the same provider is the better choice (plan/decide.ts).
 */
export function peerLevel(view: ConfigView, model: string, api: ApiKind, need: i64, tried: bool[], headerOnly: bool, now: i64,
  tokens: Tokens, skip: bool[] | null, group: i32, self: i32, bodyModel: string = ""): i32 {
  const providers = view.providers;
  const n = providers.length;
  const sc = scratch.size(n);
  let level = 0;
  for (let i = 0; i < n; i++) {
    const p = unchecked(providers[i]);
    if (i == self || (i < tried.length && unchecked(tried[i]))) continue;
    if (level == 1 && p.priority != group) continue;
    judge(view, i, model, bodyModel, api, need, headerOnly, now, tokens, skip, null, sc.states, sc.capacity, sc.creds, sc.reads, sc.models);
    if (!isCandidate(p, i, p.priority, model, now, sc.states, tried, sc.capacity)) continue;
    if (p.priority == group) return 2;
    level = 1;
  }
  return level;
}

/**
 * A pick's working arrays, reused by every pick of the VM (a pick runs to its end before the next
 * begins; nothing in them outlives it).
 */
class PickScratch {
  states: ProviderState[] = [];
  capacity: bool[] = [];
  loaded: bool[] = [];
  creds: i32[] = [];
  reads: SharedValue[] = [];
  models: Array<ModelRead | null> = [];
  size(n: i32): PickScratch {
    if (this.states.length < n) {
      this.states = new Array<ProviderState>(n);
      this.capacity = new Array<bool>(n);
      this.loaded = new Array<bool>(n);
      this.creds = new Array<i32>(n);
      this.reads = new Array<SharedValue>(n);
      this.models = new Array<ModelRead | null>(n);
    }
    return this;
  }
}

const scratch = new PickScratch();

/**
 * How long a trial request holds a half-open provider at most: its answer, or its timeout's,
 * comes by then (firstByteTimeout, else upstreamTimeout, plus 1 s); a trial whose answer never
 * comes (its client left) does not keep the provider out longer.
 */
function trialBoundMs(cfg: Config, p: ProviderConfig): i64 {
  const fb = cfg.firstByteTimeoutFor(p);
  return (fb > 0 ? fb : cfg.calloutTimeoutFor(p)) + 1000;
}

/** The lowest provider priority above `above` (i64.MAX_VALUE: none). */
function nextPriority(providers: ProviderConfig[], above: i64): i64 {
  let next = i64.MAX_VALUE;
  for (let i = 0; i < providers.length; i++) {
    const pr = <i64>unchecked(providers[i]).priority;
    if (pr > above && pr < next) next = pr;
  }
  return next;
}

/** Reads candidate i's state and judges whether it could take the request now. */
function judge(view: ConfigView, i: i32, model: string, bodyModel: string, api: ApiKind, need: i64, headerOnly: bool, now: i64, tokens: Tokens,
  skip: bool[] | null, clusterOut: bool[] | null, states: ProviderState[], capacity: bool[], creds: i32[], reads: SharedValue[],
  models: Array<ModelRead | null>): void {
  const p = unchecked(view.providers[i]);
  const slot = unchecked(view.slots[i]);
  const v = getShared(slot.stateKey);
  unchecked((reads[i] = v));
  const st = stateOf<ProviderState>(v, slot.stateFingerprint);
  unchecked((states[i] = st));
  let fit = fits(st, p.limits, need, now);
  if (perModel(p) && model.length > 0 && p.serves(model)) {
    // Its cooldown, its window and its last report are the model's own (Azure: the deployment's;
    // plugin/capacity/model_records.ts). A model without a record reads fresh: nothing known of it.
    const d = readModel(slot, p, model);
    unchecked((models[i] = d));
    st.deploymentCooldownUntilMs = d.state.cooldownUntilMs;
    if (!modelFits(d, need, now)) {
      fit = false;
      st.deploymentWindowResetMs = windowResetAt(d.state, d.limits);
    }
  }
  if (!simpleAuth(slot, p)) {
    const k = usableCredential(slot, p, st, tokens, now);
    unchecked((creds[i] = k));
    if (k < 0) st.noCredential = true;
  } else unchecked((creds[i] = 0));
  // Providers that do not serve this model (plugin/capacity/model_ejections.ts), or whose cluster-wide share is spent.
  if (skip !== null && unchecked(skip[i])) fit = false;
  if (clusterOut !== null && unchecked(clusterOut[i])) fit = false;
  // Header mode: the body will not be rewritten, so a provider that needs another model name in it cannot take it.
  if (headerOnly && !takesBodyAsSent(p, api, model, bodyModel.length > 0 ? bodyModel : model)) fit = false;
  unchecked((capacity[i] = fit));
}
