// Test-facing exports of the response-body scanners (usage extraction, usage-chunk stripping).
// A body and its split positions come in; the chunks are fed one by one as separate buffers,
// as the HTTP context does. Compiled only into the unit-test module.

import { UsageScanner } from "../lib/usage";
import { SseLine, SseStripper } from "../lib/sse";
import { Needle } from "../lib/needle";
import { ByteBuilder } from "../lib/bytes";
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

/** {"count","found"} of a Needle for `pattern` fed `body` cut at `splits`. */
export function needleScan(pattern: string, body: Uint8Array, splits: Int32Array): string {
  const n = new Needle(pattern);
  for (let k = 0; k <= splits.length; k++) n.feed(chunkAt(body, splits, k));
  return new JsonObject().int("count", n.count).bool("found", n.found).toString();
}

/** Did an SseLine `<field>:<value>` find its line in `body` cut at `splits`? */
export function sseLineScan(field: string, value: string, body: Uint8Array, splits: Int32Array): bool {
  const l = new SseLine(field, value);
  for (let k = 0; k <= splits.length; k++) l.feed(chunkAt(body, splits, k));
  return l.found;
}
