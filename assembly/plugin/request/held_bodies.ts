// Request bodies a worker VM keeps for failover: a body kept to be sent again to the next
// provider lives in the VM's linear memory for as long as its request does. Many large bodies
// at once (100 concurrent 4 MB requests held by a slow provider) would grow the memory without
// bound — and a wasm memory never shrinks. So the bytes kept are counted per VM, all requests
// together, against `retry.maxHeldBodyBytes`: a request whose body would go beyond it is still
// served (in-band, on the provider chosen first) but without failover — its body is not kept —
// said once in the log and counted in ai_failover_failover_off_total{reason="held_body_limit"}.
// Freed bytes are reused by the allocator (TLSF): `npm run bench` shows the memory after a second
// round of such requests staying where the first one left it.
//
// Not counted here: a failover attempt's answer (retry.maxAnswerBytes bounds it) is copied into
// the VM only for the callback that sends it, never held from one callback to the next.

import { Level, log } from "../../host/log";
import { RequestState } from "./state";

export const HELD_BODY_LIMIT = "held_body_limit";

/** Bytes of kept bodies freed since the last full collection, past which the tick collects. */
const COLLECT_AFTER: i64 = 8 << 20;

class HeldBodies {
  /** Bytes kept, all requests of this VM. */
  total: i64 = 0;
  /** Bytes of kept bodies freed since the last full collection. */
  released: i64 = 0;
  /** Bytes kept per request (context id). */
  private held: Map<u32, i64> = new Map();
  /** Requests that were refused a place (their body is not kept any more). */
  private refused: Map<u32, bool> = new Map();

  /** Room for `bytes` more of request `id` within `limit`: taken (true), or none (false). */
  take(id: u32, bytes: i64, limit: i64): bool {
    if (bytes <= 0) return true;
    if (this.refused.has(id) || this.total + bytes > limit) return false;
    this.held.set(id, (this.held.has(id) ? this.held.get(id) : 0) + bytes);
    this.total += bytes;
    return true;
  }

  /** The request no longer keeps its body: its bytes are free. Idempotent. */
  release(id: u32): void {
    if (this.held.has(id)) {
      const n = this.held.get(id);
      this.total -= n;
      this.released += n;
      this.held.delete(id);
    }
    if (this.refused.has(id)) this.refused.delete(id);
  }

  /** Marks `id` refused; true the first time (log and count once per request). */
  refuse(id: u32): bool {
    if (this.refused.has(id)) return false;
    this.refused.set(id, true);
    return true;
  }

  isRefused(id: u32): bool {
    return this.refused.has(id);
  }
}

/** This VM's account (one per worker VM: module state). */
export const heldBodies = new HeldBodies();

/**
 * The request keeps `bytes` more of its body (r.body, already that long) for failover. False: no
 * room — the body is dropped, the request goes on without failover.
 */
export function holdBody(r: RequestState, bytes: i64): bool {
  const id = r.context_id;
  if (heldBodies.take(id, bytes, r.cfg().retry.maxHeldBodyBytes)) return true;
  const held = r.body.length;
  r.body = new Uint8Array(0);
  heldBodies.release(id);
  heldBodies.released += held; // garbage now: collected on the tick like a freed body
  if (heldBodies.refuse(id)) {
    r.svc.metrics.failoverOff(HELD_BODY_LIMIT);
    log(Level.Warn, "ai-failover: request body of " + held.toString() + " bytes not kept for failover: the worker already keeps " +
      heldBodies.total.toString() + " bytes of request bodies (retry.maxHeldBodyBytes " + r.cfg().retry.maxHeldBodyBytes.toString() +
      "); this request is served without failover");
  }
  return false;
}

/**
 * On the root's tick (no request's frames on the stack, finished requests' contexts deleted):
 * after large kept bodies were freed, a full collection, so their blocks are free for the next
 * ones. The incremental collector would get to them only as later allocations drive it — a burst
 * of new large bodies could grow the memory first (a wasm memory never shrinks).
 */
export function collectFreedBodies(): void {
  if (heldBodies.released < COLLECT_AFTER) return;
  heldBodies.released = 0;
  __collect();
}

/** The request ended: its kept body, if any, is free. */
export function releaseBody(r: RequestState): void {
  heldBodies.release(r.context_id);
}
