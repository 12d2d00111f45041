// One worker runs the health checks: it holds a lease in shared data, renewed every tick.
// If it stops renewing (VM failed or reloaded), another worker takes over after the TTL.

import { CREATE_CAS, getShared, Result, setShared } from "./calls";

/** Tries to take or renew the lease at `key` for `owner`; true when this VM holds it until now+ttl. */
export function acquireLease(key: string, owner: u64, nowMs: i64, ttlMs: i64): bool {
  const v = getShared(key);
  // Absent: create it only if it still is (two workers starting together must not both hold it).
  let cas: u32 = CREATE_CAS;
  if (v.result == Result.Ok) {
    cas = v.cas;
    if (v.value.byteLength == 16) {
      const p = changetype<usize>(v.value);
      const holder = load<u64>(p);
      const expires = load<i64>(p, 8);
      if (holder != owner && expires > nowMs) return false;
    }
  }
  const buf = new ArrayBuffer(16);
  store<u64>(changetype<usize>(buf), owner);
  store<i64>(changetype<usize>(buf), nowMs + ttlMs, 8);
  return setShared(key, buf, cas) == Result.Ok;
}
