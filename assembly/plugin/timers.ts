// A request that waits on time: an in-band error whose body stalls (decided from what arrived
// after ERROR_BODY_WAIT_MS), a retry at the same provider after its Retry-After or a back-off, a
// stream held until its first token (firstTokenTimeout); and streams watched for a stall
// (streamIdleTimeout). The root's tick (every TIMER_TICK_MS) calls each one that is due on its
// own stream.

import { setEffectiveContext } from "../host/calls";
import { ResponseScan } from "../plan/response_scan";

export const ERROR_BODY_WAIT_MS: i64 = 1000;

/** How often due timers are looked at (the root ticks this often; its slower work keeps its own period). */
export const TIMER_TICK_MS: i64 = 100;

export const enum Timer {
  /** The held error's body stalled. */
  ErrorBody = 0,
  /** A retry at the same provider is due. */
  Retry = 1,
  /** A stream held for its first token did not get one within firstTokenTimeout. */
  FirstToken = 2,
  /** A stream that is answering sent nothing for streamIdleTimeout. */
  Stalled = 3,
}

/** What waits: a request, called back on its own stream. */
export abstract class TimerOwner {
  abstract contextId(): u32;
  abstract timerDue(timer: Timer, now: i64): void;
}

class Waiting {
  constructor(public owner: TimerOwner, public dueMs: i64, public timer: Timer) {}
}

/**
 * A stream on its way to the client, watched for a stall. Nothing is done per chunk: the scan
 * counts the stream's bytes anyway, and the tick compares that count with the one it saw last.
 */
class Watched {
  /** When the byte count last moved (or the watch began), ms. */
  sinceMs: i64;
  seenBytes: i64;
  /** Where it is in RequestTimers.watched. */
  slot: i32 = 0;
  constructor(public owner: TimerOwner, public scan: ResponseScan, public idleMs: i64, now: i64) {
    this.sinceMs = now;
    this.seenBytes = scan.bytes;
  }
}

export class RequestTimers {
  private waiting: Map<u32, Waiting> = new Map();
  /** Streams watched for a stall (an array for the tick's walk, a map to find one by its request). */
  private watched: Watched[] = [];
  private watchedBy: Map<u32, Watched> = new Map();

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

  /**
   * `owner`'s stream (counted by `scan`) is given up as stalled once its byte count has not moved
   * for `idleMs` (it is called back with Timer.Stalled, once). One watch per request.
   */
  watch(owner: TimerOwner, scan: ResponseScan, idleMs: i64, now: i64): void {
    const id = owner.contextId();
    this.unwatch(id);
    const w = new Watched(owner, scan, idleMs, now);
    w.slot = this.watched.length;
    this.watched.push(w);
    this.watchedBy.set(id, w);
  }

  /** The stream ended (or its request did): no longer watched. */
  unwatch(contextId: u32): void {
    if (this.watchedBy.size == 0 || !this.watchedBy.has(contextId)) return;
    const w = this.watchedBy.get(contextId);
    this.watchedBy.delete(contextId);
    // Swap with the last one.
    const last = this.watched.pop();
    if (last !== w) {
      last.slot = w.slot;
      unchecked((this.watched[w.slot] = last));
    }
  }

  get streams(): i32 {
    return this.watched.length;
  }

  /** On the tick: each request whose time has come is called on its own stream. */
  check(now: i64): void {
    if (this.watched.length > 0) this.checkStreams(now);
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

  private checkStreams(now: i64): void {
    // From the end: a stalled stream is swapped out with the last one, already looked at.
    for (let i = this.watched.length - 1; i >= 0; i--) {
      if (i >= this.watched.length) continue;
      const w = unchecked(this.watched[i]);
      const bytes = w.scan.bytes;
      if (bytes != w.seenBytes) {
        w.seenBytes = bytes;
        w.sinceMs = now;
        continue;
      }
      if (now - w.sinceMs < w.idleMs) continue;
      const id = w.owner.contextId();
      this.unwatch(id);
      setEffectiveContext(id);
      w.owner.timerDue(Timer.Stalled, now);
    }
  }
}
