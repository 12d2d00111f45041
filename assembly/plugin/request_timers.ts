// A request that waits on time: an in-band error whose body stalls (decided from what arrived
// after ERROR_BODY_WAIT_MS), a retry at the same provider after its Retry-After or a back-off.
// The root's tick (every TIMER_TICK_MS) calls each one that is due on its own stream.

import { setEffectiveContext } from "../host/calls";

export const ERROR_BODY_WAIT_MS: i64 = 1000;

/** How often due timers are looked at (the root ticks this often; its slower work keeps its own period). */
export const TIMER_TICK_MS: i64 = 100;

export const enum Timer {
  /** The held error's body stalled. */
  ErrorBody = 0,
  /** A retry at the same provider is due. */
  Retry = 1,
}

/** What waits: a request, called back on its own stream. */
export abstract class TimerOwner {
  abstract contextId(): u32;
  abstract timerDue(timer: Timer, now: i64): void;
}

class Waiting {
  constructor(public owner: TimerOwner, public dueMs: i64, public timer: Timer) {}
}

export class RequestTimers {
  private waiting: Map<u32, Waiting> = new Map();

  /** `owner`'s request waits until `dueMs` (one timer per request: a later one replaces it). */
  set(owner: TimerOwner, dueMs: i64, timer: Timer): void {
    this.waiting.set(owner.contextId(), new Waiting(owner, dueMs, timer));
  }

  /** Brings `contextId`'s pending `timer` forward to `dueMs` (nothing if it has no such timer, or one due sooner). */
  hurry(contextId: u32, timer: Timer, dueMs: i64): void {
    if (!this.waiting.has(contextId)) return;
    const w = this.waiting.get(contextId);
    if (w.timer == timer && dueMs < w.dueMs) w.dueMs = dueMs;
  }

  release(contextId: u32): void {
    if (this.waiting.size == 0 || !this.waiting.has(contextId)) return;
    this.waiting.delete(contextId);
  }

  get pending(): i32 {
    return this.waiting.size;
  }

  /** On the tick: each request whose time has come is called on its own stream. */
  check(now: i64): void {
    if (this.waiting.size == 0) return;
    const ids = this.waiting.keys();
    for (let i = 0; i < ids.length; i++) {
      const id = unchecked(ids[i]);
      if (!this.waiting.has(id)) continue;
      const w = this.waiting.get(id);
      if (now < w.dueMs) continue;
      this.waiting.delete(id);
      setEffectiveContext(id);
      w.owner.timerDue(w.timer, now);
    }
  }
}
