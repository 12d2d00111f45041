// Reserving capacity in a shared window (a provider's or a consumer's) and the one place a
// reservation is settled, whichever way the request or attempt that holds it ends.

import { Limits } from "../../config/model";
import { ReserveOp, SettleOp } from "../../admission/ops";
import { Window } from "../../admission/window";
import { SharedValue } from "../../host/calls";
import { updateState } from "../../host/store";
import { ClusterHold } from "../cluster/limiter";

/** Something a request holds until its answer says what was used. */
export abstract class Held {
  /** Ends it: `actual` tokens were used, or -1 when nothing was. */
  abstract settle(actual: i64, now: i64): void;
}

/** Tokens and one request held in a window until the answer says what was used. */
export class Reservation<T extends Window> extends Held {
  private held: bool = true;
  /** Cluster limits: the tokens taken from the cluster-wide lease with it (plugin/cluster/limiter.ts). */
  cluster: ClusterHold | null = null;
  /** The same request's reservation in its model's (Azure: deployment's) window (plugin/capacity/model_records.ts), settled with this one. */
  linked: Held | null = null;
  /**
   * Tokens charged on top of what the answer used whenever it used anything (a batch's bound,
   * plugin/batches.ts: the batch runs at the provider, out of the gateway's sight); part of `tokens`.
   */
  kept: i64 = 0;

  constructor(public readonly key: string, public readonly fingerprint: u32, public readonly limits: Limits,
    public readonly tokens: i64,
    /** When the window it landed in began: settling applies to that window only. */
    public readonly at: i64,
    /** Settling below the reservation gives the difference back (consumer budgets, not providers). */
    public readonly refunds: bool) { super(); }

  get active(): bool {
    return this.held;
  }

  /** Ends the reservation: `actual` tokens were used, or -1 when nothing was (all of it is released). */
  settle(actual: i64, now: i64): void {
    if (!this.held) return;
    this.held = false;
    if (actual >= 0) actual += this.kept;
    const c = this.cluster;
    if (c !== null) c.settle(actual, now);
    const l = this.linked;
    if (l !== null) l.settle(actual, now);
    // A window that refunds nothing (a provider's) is left exactly as it is by a use at or below
    // the reservation (admission/window.ts settle): no read and write for an unchanged record.
    if (!this.refunds && actual >= 0 && actual <= this.tokens) return;
    updateState<T>(this.key, this.fingerprint, new SettleOp<T>(this.limits, this.tokens, actual, this.at, now, this.refunds));
  }
}

/**
 * The result of a reservation attempt: the reservation (null when none was made) and the window
 * as written. `contended`: it fitted, but other workers kept winning the CAS race — not a "no".
 */
export class Reserved<T extends Window> {
  constructor(public reservation: Reservation<T> | null, public window: T | null, public contended: bool = false) {}
}

/**
 * Reserves `tokens` and one request in the window at `key`; CAS, so it holds across workers.
 * `seed`: the read of `key` the choice was just made on (saves reading it again), `seedState` that
 * read decoded (saves decoding it again; changed in place).
 */
export function reserveIn<T extends Window>(key: string, fingerprint: u32, limits: Limits, tokens: i64, now: i64, refunds: bool,
  seed: SharedValue | null = null, seedState: T | null = null): Reserved<T> {
  const op = new ReserveOp<T>(limits, tokens, now);
  const w = updateState<T>(key, fingerprint, op, seed, seedState);
  if (w !== null && op.ok) return new Reserved<T>(new Reservation<T>(key, fingerprint, limits, tokens, w.windowStartMs, refunds), w);
  return new Reserved<T>(null, null, op.ok);
}
