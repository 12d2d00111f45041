// Records in shared data (provider states, consumer budgets), updated with CAS so every worker
// VM sees one truth. A record whose fingerprint changed starts afresh.

import { Window } from "../admission/window";
import { StateOp } from "../lib/state_op";
import { CREATE_CAS, getShared, Result, setShared, SharedValue } from "./calls";

/** CAS rounds before giving up (each lost round means another worker wrote in between). */
const MAX_CAS_TRIES = 64;

function fresh<T extends Window>(fingerprint: u32): T {
  const s = instantiate<T>();
  s.fingerprint = fingerprint;
  return s;
}

/** The current record (fresh when absent, unreadable, or of a different fingerprint). */
export function loadState<T extends Window>(key: string, fingerprint: u32): T {
  return stateOf<T>(getShared(key), fingerprint);
}

/** The record a shared-data read holds (fresh when absent, unreadable, or of a different fingerprint). */
export function stateOf<T extends Window>(v: SharedValue, fingerprint: u32): T {
  if (v.result == Result.Ok) {
    const s = instantiate<T>();
    if (s.decodeFrom(v.value) && s.fingerprint == fingerprint) return s;
  }
  return fresh<T>(fingerprint);
}

/**
 * Read–modify–write with CAS, retried on conflict (bounded). Returns the record written, or
 * null when the op declined or the retries ran out. `seed`: a read of `key` just made (its value
 * and cas), used for the first round instead of reading again; if another worker wrote since,
 * the CAS fails and the next round reads afresh. `seedState`: that read decoded by stateOf (it is
 * changed in place by the op).
 */
export function updateState<T extends Window>(key: string, fingerprint: u32, op: StateOp<T>, seed: SharedValue | null = null,
  seedState: T | null = null): T | null {
  for (let attempt = 0; attempt < MAX_CAS_TRIES; attempt++) {
    const v = attempt == 0 && seed !== null ? seed : getShared(key);
    let s: T | null = null;
    // An absent key is created only if it is still absent (never over another worker's write).
    let cas: u32 = CREATE_CAS;
    if (v.result == Result.Ok) cas = v.cas;
    if (attempt == 0 && seed !== null && seedState !== null) {
      // The seed as stateOf decoded it (fresh when unreadable): not decoded a second time.
      s = seedState;
    } else if (v.result == Result.Ok) {
      const cur = instantiate<T>();
      if (cur.decodeFrom(v.value) && cur.fingerprint == fingerprint) s = cur;
    }
    if (s === null) s = fresh<T>(fingerprint);
    if (!op.apply(s)) return null;
    const r = setShared(key, s.encode(), cas);
    if (r == Result.Ok) return s;
    if (r != Result.CasMismatch) return null;
  }
  return null;
}
