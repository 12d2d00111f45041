// An in-band 429 is held while its body says whether it is a quota error (insufficient_quota: a
// long ejection) or a rate limit (a short cooldown). A body that stalls must not hold the client:
// past ERROR_BODY_WAIT_MS the decision is made from what has arrived (on the root's tick, at most
// one tick period later).

import { setEffectiveContext } from "../host/calls";
import { AttemptOwner } from "./attempt";

export const ERROR_BODY_WAIT_MS: i64 = 1000;

export class ErrorBodyWait {
  private owners: Map<u32, AttemptOwner> = new Map();
  private deadlines: Map<u32, i64> = new Map();

  hold(owner: AttemptOwner, now: i64): void {
    const id = owner.contextId();
    this.owners.set(id, owner);
    this.deadlines.set(id, now + ERROR_BODY_WAIT_MS);
  }

  release(contextId: u32): void {
    if (this.owners.size == 0 || !this.owners.has(contextId)) return;
    this.owners.delete(contextId);
    this.deadlines.delete(contextId);
  }

  /** On the tick: each held 429 past its deadline is decided now, on its own stream. */
  check(now: i64): void {
    if (this.owners.size == 0) return;
    const ids = this.deadlines.keys();
    for (let i = 0; i < ids.length; i++) {
      const id = unchecked(ids[i]);
      if (now < this.deadlines.get(id)) continue;
      const owner = this.owners.get(id);
      this.release(id);
      setEffectiveContext(id);
      owner.errorBodyExpired(now);
    }
  }
}
