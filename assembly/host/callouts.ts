// http_call dispatch: each call in flight has a handler object, found by the call's token
// when the answer arrives, with the HTTP context it belongs to made effective first (what the
// Rust SDK's dispatcher does). Health probes and failover attempts are both handlers.

import { httpCall, Result, setEffectiveContext } from "./calls";

export abstract class CalloutHandler {
  /** The HTTP context to make effective before the answer is handled (0: the root context's). */
  abstract contextId(): u32;
  /** The answer: `headers` response headers (0: none, the call failed), `bodySize` body bytes. */
  abstract onAnswer(headers: u32, bodySize: u32, trailers: u32): void;
}

export class Callouts {
  private pending: Map<u32, CalloutHandler> = new Map();

  /** Sends an http_call whose answer goes to `handler`; the host's result (Result.Ok when sent). */
  send(cluster: string, headers: string[], body: ArrayBuffer, timeoutMs: u32, handler: CalloutHandler): u32 {
    const r = httpCall(cluster, headers, body, timeoutMs);
    if (r.result == Result.Ok) this.pending.set(r.token, handler);
    return r.result;
  }

  /** Hands an answer to its handler; false for a token this VM did not send. */
  deliver(token: u32, headers: u32, bodySize: u32, trailers: u32): bool {
    if (!this.pending.has(token)) return false;
    const h = this.pending.get(token);
    this.pending.delete(token);
    const ctx = h.contextId();
    if (ctx != 0) setEffectiveContext(ctx);
    h.onAnswer(headers, bodySize, trailers);
    return true;
  }
}
