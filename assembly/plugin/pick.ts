// Choosing a provider for an attempt and reserving its capacity: the pure choice (select/)
// over the providers' shared states, then a CAS reservation in the chosen one's window; a
// lost race (another worker took the capacity between read and write) chooses again.

import { fits, windowResetAt } from "../admission/window";
import { ProviderType } from "../config/model";
import { ProviderState } from "../health/state";
import { SharedValue } from "../host/calls";
import { ApiKind } from "../provider/api";
import { bodyNeedsModel } from "../provider/route";
import { Rng } from "../select/rng";
import { choose, NoChoice } from "../select/selector";
import { Reservation, reserveIn } from "./reservation";
import { ConfigView, loadStates } from "./views";
import { simpleAuth, usableCredential } from "./credentials";
import { DeploymentRead, deploymentFits, readDeployment, perDeployment, reserveDeployment } from "./deployments";
import { Tokens } from "./tokens";
import { ClusterLimiter, PoolKind } from "./cluster";
import { Take } from "../cluster/pool";

export class Picked {
  /** The provider's index in the view (-1: none could take the request). */
  index: i32 = -1;
  /** Which of its credentials to send (plugin/credentials.ts). */
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
 * it are skipped.
 */
export function pickProvider(view: ConfigView, model: string, api: ApiKind, need: i64, tried: bool[], headerOnly: bool,
  rng: Rng, now: i64, tokens: Tokens, skip: bool[] | null = null, cluster: ClusterLimiter | null = null, mayWait: bool = false,
  affinity: u64 = 0): Picked {
  const providers = view.providers;
  const n = providers.length;
  const out = new Picked();
  let contended = 0;
  const reads: SharedValue[] = [];
  const creds = new Array<i32>(n);
  // Providers with several deployments: the record of the one serving the model (null: none read).
  let deployments: Array<DeploymentRead | null> | null = null;
  // Cluster limits: providers whose cluster-wide share is spent for this request.
  const clusterOut = cluster !== null && cluster.on ? new Array<bool>(n) : null;
  for (let round = 0; round < n + 2; round++) {
    const states = loadStates(view.slots, reads);
    const capacity = new Array<bool>(n);
    for (let i = 0; i < n; i++) {
      const p = unchecked(providers[i]);
      unchecked((capacity[i] = fits(unchecked(states[i]), p.limits, need, now)));
      if (perDeployment(p) && model.length > 0 && p.serves(model)) {
        // Its cooldown, its window and its last report are the deployment's own.
        const d = readDeployment(unchecked(view.slots[i]), p, model);
        if (deployments === null) deployments = new Array<DeploymentRead | null>(n);
        unchecked((deployments![i] = d));
        unchecked(states[i]).deploymentCooldownUntilMs = d.state.cooldownUntilMs;
        if (!deploymentFits(d, need, now)) {
          unchecked((capacity[i] = false));
          unchecked(states[i]).deploymentWindowResetMs = windowResetAt(d.state, d.limits);
        }
      }
      const slot = unchecked(view.slots[i]);
      if (simpleAuth(slot, p)) continue;
      const k = usableCredential(slot, p, unchecked(states[i]), tokens, now);
      unchecked((creds[i] = k));
      if (k < 0) unchecked(states[i]).noCredential = true;
    }
    // Providers that do not serve this model (plugin/model_ejections.ts).
    if (skip !== null) for (let i = 0; i < n; i++) if (unchecked(skip[i])) unchecked((capacity[i] = false));
    if (clusterOut !== null) for (let i = 0; i < n; i++) if (unchecked(clusterOut[i])) unchecked((capacity[i] = false));
    if (headerOnly) {
      for (let i = 0; i < n; i++) {
        const p = unchecked(providers[i]);
        if (p.type == ProviderType.AzureOpenAI && bodyNeedsModel(p, api) && p.deploymentFor(model) != model) {
          unchecked((capacity[i] = false));
        }
      }
    }
    const choice = choose(providers, states, model, now, tried, capacity, rng, affinity);
    if (choice.index < 0) {
      out.why = choice.why;
      out.states = states;
      return out;
    }
    const i = choice.index;
    const slot = unchecked(view.slots[i]);
    // The first CAS round writes over the read the choice was made on (a write since fails it).
    const r = reserveIn<ProviderState>(slot.stateKey, slot.stateFingerprint, unchecked(providers[i]).limits, need, now, false,
      unchecked(reads[i]));
    const dr = deployments !== null ? unchecked(deployments![i]) : null;
    if (r.reservation !== null && dr !== null) {
      // The deployment's window too; a race lost there gives the provider's back and chooses again.
      const d = reserveDeployment(slot, dr, need, now);
      if (!d.ok) {
        r.reservation!.settle(-1, now);
        if (d.contended && contended++ < 8) round--;
        continue;
      }
      r.reservation!.linked = d.reservation;
    }
    if (r.reservation !== null && clusterOut !== null) {
      // The provider's cluster-wide window (plugin/cluster.ts): take the estimate from the lease.
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
