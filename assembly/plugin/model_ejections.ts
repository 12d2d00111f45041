// Providers that answered "this model is not served here" (404 DeploymentNotFound /
// model_not_found) are skipped for that model — not ejected as a whole: their other models and
// their health are fine. Kept in the worker VM (no host call per request): each worker learns it
// from its own 404, at most one failover per worker and period.

import { ConfigView } from "./views";

export class ModelEjections {
  /** provider state key + NUL + model → skipped until (ms). */
  private until: Map<string, i64> = new Map();

  eject(stateKey: string, model: string, untilMs: i64): void {
    this.until.set(stateKey + "\u0000" + model, untilMs);
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
