// Without allow_on_headers_stop_iteration, Envoy turns the filter's StopIteration into
// StopAllIterationAndWatermark: the body is held until the filter continues, which in body mode
// it never does — the request hangs. Watch for held requests that never see their body and say
// so, loudly, once per worker.

import { Level, log } from "../host/log";

const WAIT_MS: i64 = 3000;

export class BodyWaitWatch {
  /** Body-mode streams whose headers were held and that have not seen a body callback yet. */
  private waiting: Map<u32, i64> = new Map();
  private warned: bool = false;

  held(contextId: u32, now: i64): void {
    if (!this.warned) this.waiting.set(contextId, now);
  }

  arrived(contextId: u32): void {
    if (this.waiting.size > 0) this.waiting.delete(contextId);
  }

  check(now: i64): void {
    if (this.warned || this.waiting.size == 0) return;
    const ids = this.waiting.keys();
    for (let i = 0; i < ids.length; i++) {
      const since = this.waiting.get(unchecked(ids[i]));
      if (now - since < WAIT_MS) continue;
      this.warned = true;
      this.waiting.clear();
      log(Level.Error, "ai-failover: a request has waited " + (now - since).toString() + " ms for its body after its headers. " +
        "If requests hang, the wasm filter's config lacks allow_on_headers_stop_iteration: true (Envoy >= 1.35; Higress): " +
        "without it Envoy holds the body until the filter continues. Set it, or set \"mode\": \"headers\" in the plugin configuration.");
      return;
    }
  }
}
