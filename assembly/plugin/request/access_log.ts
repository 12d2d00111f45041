// The per-request record: metrics and one access-log line (no credentials, no content).

import { Charge } from "../../plan/accounting";
import { StreamEnd } from "../../plan/response_scan";
import { ByteBuilder } from "../../lib/bytes";
import { getPropertyAt, propertyPathBytes } from "../../host/calls";
import { enabled, Level, logBytes } from "../../host/log";
import { apiName } from "../../provider/api";
import { Attempt } from "./attempt";
import { RequestState } from "./state";
import { logSafe } from "../../lib/log_safe";

// Moved to lib/ (attempt.ts logs client model names too, and access_log imports attempt).
export { logSafe };

/** logSafe(v) written as bytes. */
function writeLogSafe(b: ByteBuilder, v: string): void {
  if (v.length == 0) {
    b.byte(0x2d);
    return;
  }
  const n = v.length < 64 ? v.length : 64;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    b.byte(c > 0x20 && c < 0x7f && c != 0x3d ? <u8>c : 0x5f);
  }
  if (v.length > 64) b.byte(0xe2).byte(0x80).byte(0xa6); // "…"
}

/** The access line is built here, reused by every request of the VM. */
const line = new ByteBuilder(512);

/** Metric-set keys: view 12 bits, provider + 1 12 bits, consumer + 1 24 bits, model code 16 bits. */
function metricKey(view: i32, provider: i32, consumer: i32, model: i32): u64 {
  if (view >= 0xfff || provider + 1 >= 0xfff || consumer + 1 >= 0xffffff || model >= 0xffff) return 0;
  return (<u64>(view + 1) << 52) | (<u64>(provider + 1) << 40) | (<u64>(consumer + 1) << 16) | <u64>model;
}

const CODE_DETAILS = propertyPathBytes(["response", "code_details"]);

/**
 * How the answer the client got ended. A success answer that never reached its end_of_stream
 * was cut, unless the client left (Envoy's response.code_details, read only then:
 * `upstream_reset_after_response_started{…}` when the provider reset it, router.cc
 * onUpstreamReset; `downstream_remote_disconnect` when the client closed, conn_manager_impl.cc).
 */
export function streamEnd(a: Attempt | null): StreamEnd {
  if (a === null) return StreamEnd.Whole;
  const scan = a.scan;
  if (!scan.needsDetails) return scan.end("");
  const d = getPropertyAt(CODE_DETAILS);
  return scan.end(d !== null ? String.UTF8.decode(d) : "");
}

/** The access line's stream= value. */
function streamValue(end: StreamEnd, streamed: bool): string {
  switch (end) {
    case StreamEnd.Cut: return " stream=cut";
    case StreamEnd.Stalled: return " stream=stalled";
    case StreamEnd.ClientGone: return " stream=client_gone";
  }
  return streamed ? " stream=true" : " stream=false";
}

/** A request ended: `a` its last attempt (null: none), `c` what it was charged. */
export function recordRequest(r: RequestState, a: Attempt | null, c: Charge, now: i64): void {
  const view = r.view!;
  const cfg = view.config;
  const routed = a !== null;
  const provider = a !== null ? a.provider.name : "none";
  const consumer = r.consumer >= 0 ? unchecked(cfg.consumers[r.consumer]).name : "none";
  const scan = r.scan;
  const stream = scan !== null && scan.stream;
  // Metric labels only carry model names the configuration knows (bounded cardinality, no
  // client-controlled text in stat names).
  const code = routed ? view.modelCode(r.model) : -1;
  const model = !routed ? "none" : code >= 0 ? r.model : "other";
  const key = metricKey(view.ordinal, a !== null ? a.index : -1, r.consumer, !routed ? 0 : code >= 0 ? code + 2 : 1);
  const ids = r.svc.metrics.requestSet(key, provider, consumer, model);
  const ttfb = r.firstByteMs >= 0 ? r.firstByteMs - r.startedMs : -1;
  const end = streamEnd(a);
  r.svc.metrics.finished(ids, r.startedMs > 0, r.status, end, c.input, c.output, c.estimated, routed ? ttfb : -1);
  const level = view.config.accessLogLevel;
  if (r.startedMs > 0 && level >= 0 && enabled(<Level>level)) {
    const b = line;
    b.reset();
    b.ascii("ai-failover access: provider=");
    if (routed) b.str(provider);
    else b.byte(0x2d);
    b.ascii(" consumer=").str(consumer).ascii(" api=").ascii(apiName(r.api.kind)).ascii(" model=");
    writeLogSafe(b, r.model);
    b.ascii(" status=").dec(r.status).ascii(" attempts=").dec(r.attempts)
      .ascii(streamValue(end, stream))
      .ascii(" prompt_tokens=").dec(c.input).ascii(" completion_tokens=").dec(c.output)
      .ascii(c.estimated ? " estimated=true" : " estimated=false").ascii(" ttfb_ms=").dec(ttfb).ascii(" total_ms=").dec(now - r.startedMs);
    // Only after a failover: why each earlier attempt was left.
    if (r.failovers.length > 0) b.ascii(" failover=").ascii(r.failovers);
    logBytes(<Level>level, b.buf.dataStart, b.len);
  }
}
