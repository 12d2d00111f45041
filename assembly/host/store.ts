// Provider state in shared data: one entry per provider name, updated with CAS so every
// worker VM sees one truth. A record whose fingerprint changed starts from a fresh state.

import { ProviderState } from "../health/state";
import { getShared, Result, setShared } from "./calls";

const PREFIX = "ai-failover/provider/";
const MAX_CAS_TRIES = 16;

export function stateKey(name: string): string {
  return PREFIX + name;
}

/** The current state of a provider (fresh when absent or from a different record). */
export function loadState(key: string, fingerprint: u32): ProviderState {
  const v = getShared(key);
  if (v.result != Result.Ok) {
    const s = new ProviderState();
    s.fingerprint = fingerprint;
    return s;
  }
  const s = ProviderState.decode(v.value);
  if (s.fingerprint != fingerprint) {
    const fresh = new ProviderState();
    fresh.fingerprint = fingerprint;
    return fresh;
  }
  return s;
}

/** A change to apply atomically (AssemblyScript has no closures: subclasses carry their inputs). */
export abstract class StateOp {
  /** Mutates `s`; returns false to abandon the update (nothing written). */
  abstract apply(s: ProviderState): bool;
}

/**
 * Read–modify–write with CAS, retried on conflict (bounded). Returns the state written,
 * or null when the op declined or the retries ran out.
 */
export function updateState(key: string, fingerprint: u32, op: StateOp): ProviderState | null {
  for (let attempt = 0; attempt < MAX_CAS_TRIES; attempt++) {
    const v = getShared(key);
    let s: ProviderState;
    let cas: u32 = 0;
    if (v.result == Result.Ok) {
      s = ProviderState.decode(v.value);
      cas = v.cas;
      if (s.fingerprint != fingerprint) {
        s = new ProviderState();
      }
    } else {
      s = new ProviderState();
    }
    s.fingerprint = fingerprint;
    if (!op.apply(s)) return null;
    const r = setShared(key, s.encode(), cas);
    if (r == Result.Ok) return s;
    if (r != Result.CasMismatch) return null;
  }
  return null;
}
