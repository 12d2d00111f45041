// Header mode (older Envoys without allow_on_headers_stop_iteration): the request went upstream
// at its headers, routed from the path and headers alone; its body follows through the filter.

import { FilterDataStatusValues } from "@solo-io/proxy-runtime/assembly";
import { concat } from "../../lib/bytes";
import { scanRequest } from "../../lib/json_scan";
import { modelMismatch } from "../../plan/rejection";
import { BufferType, getBuffer, nowMs } from "../../host/calls";
import { heldBodies, holdBody } from "./held_bodies";
import { RequestState } from "./state";
import { reject } from "./response";

/** A body chunk of a request already sent upstream in header mode. */
export function headerModeBody(r: RequestState, bodySize: usize, endOfStream: bool): FilterDataStatusValues {
  const cfg = r.cfg();
  if (r.consumer >= 0 && unchecked(cfg.consumers[r.consumer]).models.length > 0) {
    // A model allow-list: the provider reads the model from the body, so the body must say the
    // model that was checked. Hold it until it is whole.
    if (!endOfStream) return FilterDataStatusValues.StopIterationAndBuffer;
    const whole = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
    const bytes = whole !== null ? Uint8Array.wrap(whole) : new Uint8Array(0);
    const scan = scanRequest(bytes);
    if (!scan.ok || (scan.modelValueStart >= 0 && scan.model != r.model)) {
      const now = nowMs();
      r.attempt!.reservation.settle(-1, now);
      r.releaseBudget(now);
      reject(r, modelMismatch());
      return FilterDataStatusValues.StopIterationNoBuffer;
    }
    r.body = bytes;
    holdBody(r, bytes.length);
    return FilterDataStatusValues.Continue;
  }
  // The body streams through; keep a copy for in-request retry, within the worker's
  // retry.maxHeldBodyBytes (plugin/request/held_bodies.ts; beyond it: no copy, no failover).
  if (bodySize > 0 && cfg.retry.maxAttempts > 1 && !heldBodies.isRefused(r.context_id)) {
    const chunk = getBuffer(BufferType.RequestBody, 0, <u32>bodySize);
    if (chunk !== null && holdBody(r, chunk.byteLength)) r.body = concat(r.body, Uint8Array.wrap(chunk));
  }
  return FilterDataStatusValues.Continue;
}
