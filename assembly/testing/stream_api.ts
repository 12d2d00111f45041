// Test-facing exports of the response-body scanners (usage extraction, usage-chunk stripping,
// what a stream carried, a whole answer's pass through ResponseScan).
// A body and its split positions come in; the chunks are fed one by one as separate buffers,
// as the HTTP context does. Compiled only into the unit-test module.

import { UsageScanner } from "../lib/usage";
import { SseStripper } from "../lib/sse";
import { StreamEvents } from "../lib/stream_events";
import { ByteBuilder } from "../lib/bytes";
import { charge } from "../plan/accounting";
import { ResponseScan } from "../plan/response_scan";
import { ApiKind } from "../provider/api";
import { JsonObject } from "./json_out";

/** Chunk k of `body` cut at the ascending, in-range byte positions `splits`. */
function chunkAt(body: Uint8Array, splits: Int32Array, k: i32): Uint8Array {
  const from = k == 0 ? 0 : splits[k - 1];
  const to = k == splits.length ? body.length : splits[k];
  return body.slice(from, to);
}

/** {"found","prompt","completion","total"} after feeding `body` cut at `splits`. */
export function usageScan(body: Uint8Array, splits: Int32Array): string {
  const u = new UsageScanner();
  for (let k = 0; k <= splits.length; k++) u.feed(chunkAt(body, splits, k));
  return new JsonObject()
    .bool("found", u.found)
    .int("prompt", u.promptTokens)
    .int("completion", u.completionTokens)
    .int("total", u.totalTokens)
    .toString();
}

/**
 * Feeds `body` cut at `splits` through an SseStripper (the last chunk with endOfStream; with
 * `emptyEnd`, a further empty chunk carries endOfStream instead). Returns the concatenated
 * output.
 */
export function sseStrip(body: Uint8Array, splits: Int32Array, emptyEnd: bool): Uint8Array {
  const s = new SseStripper();
  const out = new ByteBuilder(body.length + 16);
  for (let k = 0; k <= splits.length; k++) {
    out.bytes(s.feed(chunkAt(body, splits, k), !emptyEnd && k == splits.length));
  }
  if (emptyEnd) out.bytes(s.feed(new Uint8Array(0), true));
  return out.finish();
}

/** A copy of `body` stripped whole, in place (SseStripper.stripWhole: a failover answer). */
export function sseStripWhole(body: Uint8Array): Uint8Array {
  const copy = body.slice();
  return copy.slice(0, new SseStripper().stripWhole(copy));
}

/** The same run as sseStrip: {"lengths":[output length per feed],"stripped","overflow"}. */
export function sseStripTrace(body: Uint8Array, splits: Int32Array, emptyEnd: bool): string {
  const s = new SseStripper();
  const lengths = new Array<string>();
  for (let k = 0; k <= splits.length; k++) {
    lengths.push(s.feed(chunkAt(body, splits, k), !emptyEnd && k == splits.length).length.toString());
  }
  if (emptyEnd) lengths.push(s.feed(new Uint8Array(0), true).length.toString());
  return new JsonObject()
    .raw("lengths", "[" + lengths.join(",") + "]")
    .int("stripped", s.stripped)
    .bool("overflow", s.overflow)
    .toString();
}

/** What a StreamEvents of `shape` (0 choices, 1 typed) found in `body` cut at `splits`. */
export function streamEventsScan(shape: i32, body: Uint8Array, splits: Int32Array): string {
  const e = new StreamEvents(shape);
  for (let k = 0; k <= splits.length; k++) e.feed(chunkAt(body, splits, k));
  return new JsonObject()
    .bool("complete", e.complete)
    .int("events", e.events)
    .int("contentBytes", e.contentBytes)
    .int("choices", e.choices)
    .bool("done", e.doneSeen)
    .bool("terminal", e.terminal)
    .bool("usageFound", e.usage.found)
    .int("prompt", e.usage.promptTokens)
    .int("completion", e.usage.completionTokens)
    .int("total", e.usage.totalTokens)
    .toString();
}

/**
 * A 200 answer of API `kind` and `contentType` passed through a ResponseScan as the HTTP context
 * passes it (`body` cut at `splits`, the last chunk with endOfStream; with `emptyEnd` a further
 * empty chunk carries it; with `reset` no chunk carries it: the transfer broke). Returns
 * {"out": what the client got, "cutShort", "end" (at on_log, with `details` as the host's
 * response code details), "streamedOutput", "usageFound", "prompt", "completion", "charge": the
 * output charged (max tokens 100000)}.
 */
export function responseScanRun(kind: i32, contentType: string, stripUsage: bool, body: Uint8Array, splits: Int32Array,
  emptyEnd: bool, reset: bool, details: string): string {
  const r = new ResponseScan();
  r.start(<ApiKind>kind, 200, contentType, stripUsage);
  const out = new ByteBuilder(body.length + 256);
  for (let k = 0; k <= splits.length; k++) {
    out.bytes(r.chunk(chunkAt(body, splits, k), !reset && !emptyEnd && k == splits.length));
  }
  if (emptyEnd && !reset) out.bytes(r.chunk(new Uint8Array(0), true));
  const c = charge(r.usage, true, 0, 100000, r.streamedOutput, r.bytes);
  return new JsonObject()
    .str("out", String.UTF8.decode(out.finish().buffer))
    .bool("cutShort", r.cutShort)
    .int("end", <i64>r.end(r.needsDetails ? details : ""))
    .int("streamedOutput", r.streamedOutput)
    .bool("usageFound", r.usage.found)
    .int("prompt", r.usage.promptTokens)
    .int("completion", r.usage.completionTokens)
    .int("charge", c.output)
    .bool("estimated", c.estimated)
    .toString();
}

/** ResponseScan.whole (a failover answer): {"out", "cutShort", "streamedOutput"}. */
export function responseScanWhole(kind: i32, contentType: string, stripUsage: bool, body: Uint8Array): string {
  const r = new ResponseScan();
  const out = r.whole(<ApiKind>kind, body.slice(), contentType, stripUsage);
  return new JsonObject()
    .str("out", String.UTF8.decode(out.slice().buffer))
    .bool("cutShort", r.cutShort)
    .int("end", <i64>r.end(""))
    .int("streamedOutput", r.streamedOutput)
    .toString();
}
