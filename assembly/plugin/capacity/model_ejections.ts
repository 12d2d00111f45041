// Providers that answered "this model is not served here" (404 DeploymentNotFound /
// model_not_found) are skipped for that model — not ejected as a whole: their other models and
// their health are fine. Kept in the worker VM (no host call per request): each worker learns it
// from its own 404, at most one failover per worker and period.

import { ConfigView } from "../views";

/** At most this many (provider, model) pairs are remembered; past it the expired ones go, else all (they are learned again from the next 404). */
const MAX_EJECTED = 1024;

export class ModelEjections {
  /** provider state key + NUL + model → skipped until (ms). */
  private until: Map<string, i64> = new Map();

  eject(stateKey: string, model: string, untilMs: i64, now: i64 = 0): void {
    // Model names are the client's: a stream of made-up ones must not grow the VM without bound.
    if (this.until.size >= MAX_EJECTED) this.forgetExpired(now);
    if (this.until.size >= MAX_EJECTED) this.until.clear();
    this.until.set(stateKey + "\u0000" + model, untilMs);
  }

  private forgetExpired(now: i64): void {
    const keys = this.until.keys();
    for (let i = 0; i < keys.length; i++) {
      const k = unchecked(keys[i]);
      if (now >= this.until.get(k)) this.until.delete(k);
    }
  }

  get size(): i32 {
    return this.until.size;
  }

  /** Which of the view's providers to skip for `model` (null: none). */
  mask(view: ConfigView, model: string, now: i64): bool[] | null {
    if (this.until.size == 0) return null;
    let out: bool[] | null = null;
    const n = view.slots.length;
    for (let i = 0; i < n; i++) {
      const k = unchecked(view.slots[i]).stateKey + "\u0000" + model;
      if (!this.until.has(k)) continue;
      if (now >= this.until.get(k)) {
        this.until.delete(k);
        continue;
      }
      if (out === null) out = new Array<bool>(n);
      unchecked((out[i] = true));
    }
    return out;
  }
}
