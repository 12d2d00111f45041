// The per-request record: metrics and one access-log line (no credentials, no content).

import { isConfiguredModel } from "../config/model";
import { Charge } from "../plan/accounting";
import { enabled, Level, log } from "../host/log";
import { apiName } from "../provider/api";
import { Attempt } from "./attempt";
import { ClientRequest } from "./request";

/** A client-supplied value made safe for one log line: printable, no spaces, at most 64 chars. */
export function logSafe(v: string): string {
  if (v.length == 0) return "-";
  let out = "";
  const n = v.length < 64 ? v.length : 64;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    out += c > 0x20 && c < 0x7f && c != 0x3d ? String.fromCharCode(c) : "_";
  }
  return v.length > 64 ? out + "…" : out;
}

/** A request ended: `a` its last attempt (null: none), `c` what it was charged. */
export function recordRequest(r: ClientRequest, a: Attempt | null, c: Charge, now: i64): void {
  const cfg = r.cfg();
  const m = r.root.metrics;
  const routed = a !== null;
  const provider = a !== null ? a.provider.name : "none";
  const consumer = r.consumer >= 0 ? unchecked(cfg.consumers[r.consumer]).name : "none";
  const scan = r.scan;
  const stream = scan !== null && scan.stream;
  // Metric labels only carry model names the configuration knows (bounded cardinality, no
  // client-controlled text in stat names).
  const model = !routed ? "none" : isConfiguredModel(cfg.providers, r.model) ? r.model : "other";
  if (r.startedMs > 0) m.request(provider, consumer, model, r.status);
  if (c.input > 0 || c.output > 0) m.tokens(provider, consumer, model, c.input, c.output, c.estimated);
  const ttfb = r.firstByteMs >= 0 ? r.firstByteMs - r.startedMs : -1;
  if (ttfb >= 0 && routed) m.timeToFirstByte(provider, ttfb);
  if (r.startedMs > 0 && enabled(Level.Info)) {
    log(Level.Info, "ai-failover access: provider=" + (routed ? provider : "-") +
      " consumer=" + consumer + " api=" + apiName(r.api.kind) + " model=" + logSafe(r.model) +
      " status=" + r.status.toString() + " attempts=" + r.attempts.toString() +
      " stream=" + (stream ? "true" : "false") +
      " prompt_tokens=" + c.input.toString() + " completion_tokens=" + c.output.toString() +
      " estimated=" + (c.estimated ? "true" : "false") + " ttfb_ms=" + ttfb.toString() + " total_ms=" + (now - r.startedMs).toString());
  }
}
