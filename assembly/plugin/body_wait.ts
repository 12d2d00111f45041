// Without allow_on_headers_stop_iteration, Envoy turns the filter's StopIteration into
// StopAllIterationAndWatermark: the body is held until the filter continues, which in body mode
// it never does — the request hangs until the client or a timeout gives up. A slow client looks
// the same for a while, so the verdict waits for the end: a request that ended without its body
// ever reaching the filter, after waiting long, is the misconfiguration (said once, loudly);
// a long wait still in progress is only a hint (said once, as a warning).

import { Level, log } from "../host/log";

const WAIT_MS: i64 = 3000;

export class BodyWaitWatch {
  /** Body-mode streams whose headers were held and that have not seen a body callback yet. */
  private waiting: Map<u32, i64> = new Map();
  private hinted: bool = false;
  private concluded: bool = false;

  held(contextId: u32, now: i64): void {
    if (!this.concluded) this.waiting.set(contextId, now);
  }

  arrived(contextId: u32): void {
    if (this.waiting.size > 0) this.waiting.delete(contextId);
  }

  /** The stream ended: if it never saw its body after a long wait, that is the misconfiguration. */
  ended(contextId: u32, now: i64): void {
    if (this.waiting.size == 0 || !this.waiting.has(contextId)) return;
    const since = this.waiting.get(contextId);
    this.waiting.delete(contextId);
    if (this.concluded || now - since < WAIT_MS) return;
    this.concluded = true;
    this.waiting.clear();
    log(Level.Error, "ai-failover: a request waited " + (now - since).toString() + " ms and ended without its body ever reaching the filter. " +
      "The wasm filter's config lacks allow_on_headers_stop_iteration: true (Envoy >= 1.35; on Higress the module's ABI 0_2_100 does this): " +
      "without it Envoy holds the body until the filter continues, and requests hang. Set it, or set \"mode\": \"headers\" in the plugin configuration.");
  }

  /** On the tick: a long wait in progress is worth a hint (a slow client looks the same for a while). */
  check(now: i64): void {
    if (this.hinted || this.concluded || this.waiting.size == 0) return;
    const ids = this.waiting.keys();
    for (let i = 0; i < ids.length; i++) {
      const since = this.waiting.get(unchecked(ids[i]));
      if (now - since < WAIT_MS) continue;
      this.hinted = true;
      log(Level.Warn, "ai-failover: a request has waited " + (now - since).toString() + " ms for its body after its headers: " +
        "a slow client, or, if requests hang and never complete, allow_on_headers_stop_iteration is missing (an error says so when such a request ends)");
      return;
    }
  }
}
