// Provider choice: lowest priority group with an available member that serves the model,
// then weighted random inside the group. Pure: states and time come in as arguments.

import { ProviderConfig } from "../config/model";
import { ProviderState } from "../health/state";
import { Rng } from "./rng";
import { Fnv64 } from "../lib/hash";

/** Why nothing could be chosen (for the client's error and the metrics). */
export const enum NoChoice {
  None = 0,
  UnknownModel = 1,   // no provider serves the model
  AllUnavailable = 2, // every provider serving it is unhealthy, ejected or cooling down
  NoCapacity = 3,     // every available provider lacks capacity for this request
}

export class Choice {
  index: i32 = -1;
  why: NoChoice = NoChoice.None;
}

/**
 * `excluded[i]` marks providers already tried for this request; `capacityOk[i]` (may be empty)
 * says whether provider i can take this request's reservation. Only priority groups up to
 * `maxPriority` are considered (their members' states are all that is read): a choice made there
 * is the choice over all groups, and no random draw is made for a group that has no candidate.
 */
export function choose(providers: ProviderConfig[], states: ProviderState[], model: string, nowMs: i64,
  excluded: bool[], capacityOk: bool[], rng: Rng, maxPriority: i32 = i32.MAX_VALUE, affinity: u64 = 0): Choice {
  const out = new Choice();
  const n = providers.length;
  let serving = 0;
  let availableSeen = 0;
  // Distinct priorities in ascending order, walked without sorting allocations.
  let current: i32 = i32.MIN_VALUE;
  while (true) {
    let next: i32 = i32.MAX_VALUE;
    let found = false;
    for (let i = 0; i < n; i++) {
      const pr = unchecked(providers[i]).priority;
      if (pr > current && pr < next) { next = pr; found = true; }
    }
    if (!found || next > maxPriority) break;
    current = next;
    let total: u32 = 0;
    for (let i = 0; i < n; i++) {
      const p = unchecked(providers[i]);
      if (p.priority != current || !p.serves(model)) continue;
      serving++;
      if (i < excluded.length && unchecked(excluded[i])) continue;
      if (p.weight <= 0 || !unchecked(states[i]).available(nowMs)) continue;
      availableSeen++;
      if (i < capacityOk.length && !unchecked(capacityOk[i])) continue;
      total += <u32>p.weight;
    }
    if (total == 0) continue;
    if (affinity != 0) {
      // Sticky: the same key picks the same provider on every worker and replica while the
      // group's candidates are the same (weighted rendezvous hashing: a provider leaving moves
      // only its own keys).
      let best: f64 = -1;
      for (let i = 0; i < n; i++) {
        const p = unchecked(providers[i]);
        if (!candidate(p, i, current, model, nowMs, states, excluded, capacityOk)) continue;
        const score = rendezvous(affinity, p.name, p.weight);
        if (score > best) { best = score; out.index = i; }
      }
      return out;
    }
    let r = rng.below(total);
    for (let i = 0; i < n; i++) {
      const p = unchecked(providers[i]);
      if (!candidate(p, i, current, model, nowMs, states, excluded, capacityOk)) continue;
      const w = <u32>p.weight;
      if (r < w) { out.index = i; return out; }
      r -= w;
    }
  }
  if (serving == 0) out.why = NoChoice.UnknownModel;
  else if (availableSeen == 0) out.why = NoChoice.AllUnavailable;
  else out.why = NoChoice.NoCapacity;
  return out;
}

/** May provider i of priority group `group` take the request (serves it, weighted, not tried, available, has capacity)? */
// @ts-ignore: decorator
@inline function candidate(p: ProviderConfig, i: i32, group: i32, model: string, nowMs: i64, states: ProviderState[], excluded: bool[],
  capacityOk: bool[]): bool {
  if (p.priority != group || !p.serves(model) || p.weight <= 0) return false;
  if (i < excluded.length && unchecked(excluded[i])) return false;
  if (!unchecked(states[i]).available(nowMs)) return false;
  return i >= capacityOk.length || unchecked(capacityOk[i]);
}

/** Could provider i of `group` take a request for `model` now (serves it, available, not excluded, with capacity)? */
export function isCandidate(p: ProviderConfig, i: i32, group: i32, model: string, nowMs: i64, states: ProviderState[], excluded: bool[],
  capacityOk: bool[]): bool {
  return candidate(p, i, group, model, nowMs, states, excluded, capacityOk);
}

/**
 * Weighted rendezvous score of provider `name` for an affinity key: weight / -ln(u), u uniform in
 * (0, 1) from a hash of key and name. The highest score wins; equal weights give each provider
 * an equal share of keys.
 */
export function rendezvous(key: u64, name: string, weight: i32): f64 {
  const f = new Fnv64();
  f.h ^= key;
  let x = f.str(name).h;
  // splitmix64's finalizer: FNV's low bits alone are not uniform enough for a share.
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  x = x ^ (x >> 31);
  const u = (<f64>(x >> 11) + 0.5) / 9007199254740992.0;
  return <f64>weight / -Math.log(u);
}
