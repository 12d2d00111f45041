// Records in shared data (provider states, consumer budgets), updated with CAS so every worker
// VM sees one truth. A record whose fingerprint changed starts afresh.

import { Window } from "../admission/window";
import { StateOp } from "../lib/state_op";
import { CREATE_CAS, getShared, Result, setShared } from "./calls";

/** CAS rounds before giving up (each lost round means another worker wrote in between). */
const MAX_CAS_TRIES = 64;

function fresh<T extends Window>(fingerprint: u32): T {
  const s = instantiate<T>();
  s.fingerprint = fingerprint;
  return s;
}

/** The current record (fresh when absent, unreadable, or of a different fingerprint). */
export function loadState<T extends Window>(key: string, fingerprint: u32): T {
  const v = getShared(key);
  if (v.result == Result.Ok) {
    const s = instantiate<T>();
    if (s.decodeFrom(v.value) && s.fingerprint == fingerprint) return s;
  }
  return fresh<T>(fingerprint);
}

/**
 * Read–modify–write with CAS, retried on conflict (bounded). Returns the record written, or
 * null when the op declined or the retries ran out.
 */
export function updateState<T extends Window>(key: string, fingerprint: u32, op: StateOp<T>): T | null {
  for (let attempt = 0; attempt < MAX_CAS_TRIES; attempt++) {
    const v = getShared(key);
    let s = fresh<T>(fingerprint);
    // An absent key is created only if it is still absent (never over another worker's write).
    let cas: u32 = CREATE_CAS;
    if (v.result == Result.Ok) {
      cas = v.cas;
      const cur = instantiate<T>();
      if (cur.decodeFrom(v.value) && cur.fingerprint == fingerprint) s = cur;
    }
    if (!op.apply(s)) return null;
    const r = setShared(key, s.encode(), cas);
    if (r == Result.Ok) return s;
    if (r != Result.CasMismatch) return null;
  }
  return null;
}
