// A batch input file (JSONL: one request a line, `{"custom_id", "method", "url", "body": {…}}`)
// as the gateway judges it at upload (issue 20 item 6): the model of every line, the file's token
// bound (every line's prompt estimate + its output bound), its line count, the first malformed
// line. Linear: each line is walked once for its top-level keys and its `body` is read by the
// request scanner (lib/json_scan.ts) — no tree is built. Pure.

import { CH_BACKSLASH, CH_COLON, CH_COMMA, CH_CR, CH_LBRACE, CH_LBRACKET, CH_LF, CH_QUOTE, CH_RBRACE, CH_RBRACKET, isWs } from "../lib/bytes";
import { scanRequest } from "../lib/json_scan";

/** A bound past any real file (2^53): sums saturate here rather than overflow. */
export const MAX_BOUND: i64 = 9007199254740992;
/** The longest model name a verdict keeps (longer: the line is refused). */
export const MAX_BATCH_MODEL: i32 = 256;

export const BATCH_OK: u8 = 0;
/** A line the gateway cannot read (400 invalid_batch_file). */
export const BATCH_MALFORMED: u8 = 1;
/** A line's model is not in the consumer's list (403 model_not_allowed). */
export const BATCH_MODEL: u8 = 2;

export class BatchFileVerdict {
  status: u8 = BATCH_OK;
  /** The offending line (1-based, as an editor counts lines; blank lines count). */
  line: i32 = 0;
  /** Why the line is refused. */
  why: string = "";
  /** The one model every line names. */
  model: string = "";
  /** Requests in the file (non-blank lines). */
  lines: i32 = 0;
  /** Σ over lines of prompt estimate + output bound × n (saturating at MAX_BOUND). */
  bound: i64 = 0;
}

const K_BODY: u32 = 0x79646f62; // "body" as a little-endian u32

@inline function at(p: usize, i: i32): u8 {
  return load<u8>(p + <usize>i);
}

function skipWsIn(p: usize, i: i32, end: i32): i32 {
  while (i < end && isWs(at(p, i))) i++;
  return i;
}

/** i at an opening quote → after its closing quote (-1: unterminated); `escaped[0]` set when it holds a backslash. */
function skipStringIn(p: usize, i: i32, end: i32, escaped: StaticArray<bool>): i32 {
  i++;
  while (i < end) {
    const c = at(p, i);
    if (c == CH_QUOTE) return i + 1;
    if (c == CH_BACKSLASH) { unchecked((escaped[0] = true)); i += 2; continue; }
    i++;
  }
  return -1;
}

/**
 * i at a value → after it (-1: malformed). Containers are matched by counting brackets outside
 * strings (iterative; their content is the provider's to validate, except the body's, which the
 * request scanner reads).
 */
function skipValueIn(p: usize, i: i32, end: i32, escaped: StaticArray<bool>): i32 {
  if (i >= end) return -1;
  const c = at(p, i);
  if (c == CH_QUOTE) return skipStringIn(p, i, end, escaped);
  if (c == CH_LBRACE || c == CH_LBRACKET) {
    let depth = 0;
    while (i < end) {
      const d = at(p, i);
      if (d == CH_QUOTE) {
        i = skipStringIn(p, i, end, escaped);
        if (i < 0) return -1;
        continue;
      }
      if (d == CH_LBRACE || d == CH_LBRACKET) depth++;
      else if (d == CH_RBRACE || d == CH_RBRACKET) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A scalar: up to the next delimiter.
  const s = i;
  while (i < end) {
    const d = at(p, i);
    if (d == CH_COMMA || d == CH_RBRACE || d == CH_RBRACKET || isWs(d)) break;
    i++;
  }
  return i > s ? i : -1;
}

function refuse(v: BatchFileVerdict, status: u8, line: i32, why: string): BatchFileVerdict {
  v.status = status;
  v.line = line;
  v.why = why;
  return v;
}

@inline function addSat(a: i64, b: i64): i64 {
  if (b < 0) return a;
  const s = a + b;
  return s > MAX_BOUND || s < a ? MAX_BOUND : s;
}

/**
 * Judges `data` (a whole batch input file). `allowed`: the consumer's model list (empty: any
 * model); `defaultMaxTokens`: a line's output bound when its body sets none (as for a chat
 * request); image and audio token rates as for requests.
 */
export function scanBatchFile(data: Uint8Array, allowed: string[], defaultMaxTokens: i64, imageTokens: i64, audioTokensPerSecond: i64): BatchFileVerdict {
  const v = new BatchFileVerdict();
  const p = data.dataStart;
  const n = data.length;
  const escaped = new StaticArray<bool>(1);
  let lineNo = 0;
  let s = 0;
  while (s < n) {
    lineNo++;
    let e = s;
    while (e < n && at(p, e) != CH_LF) e++;
    const next = e + 1;
    if (e > s && at(p, e - 1) == CH_CR) e--;
    let i = skipWsIn(p, s, e);
    if (i == e) { s = next; continue; } // a blank line
    if (at(p, i) != CH_LBRACE) return refuse(v, BATCH_MALFORMED, lineNo, "not a JSON object");
    // The line's top-level members: find its one "body".
    let bodyStart = -1;
    let bodyEnd = -1;
    i = skipWsIn(p, i + 1, e);
    let closed = false;
    if (i < e && at(p, i) == CH_RBRACE) { closed = true; i++; }
    while (!closed) {
      if (i >= e || at(p, i) != CH_QUOTE) return refuse(v, BATCH_MALFORMED, lineNo, "not a JSON object");
      unchecked((escaped[0] = false));
      const ks = i + 1;
      const ke = skipStringIn(p, i, e, escaped);
      if (ke < 0) return refuse(v, BATCH_MALFORMED, lineNo, "an unterminated string");
      // A key with an escape may spell "body" to the provider: not guessed at.
      if (unchecked(escaped[0])) return refuse(v, BATCH_MALFORMED, lineNo, "a top-level key with an escape");
      const isBody = ke - 1 - ks == 4 && load<u32>(p + <usize>ks) == K_BODY;
      i = skipWsIn(p, ke, e);
      if (i >= e || at(p, i) != CH_COLON) return refuse(v, BATCH_MALFORMED, lineNo, "not a JSON object");
      i = skipWsIn(p, i + 1, e);
      const vs = i;
      i = skipValueIn(p, i, e, escaped);
      if (i < 0) return refuse(v, BATCH_MALFORMED, lineNo, "a malformed value");
      if (isBody) {
        if (bodyStart >= 0) return refuse(v, BATCH_MALFORMED, lineNo, "two \"body\" fields");
        bodyStart = vs;
        bodyEnd = i;
      }
      i = skipWsIn(p, i, e);
      if (i >= e) return refuse(v, BATCH_MALFORMED, lineNo, "not a JSON object");
      const c = at(p, i);
      if (c == CH_RBRACE) { closed = true; i++; break; }
      if (c != CH_COMMA) return refuse(v, BATCH_MALFORMED, lineNo, "not a JSON object");
      i = skipWsIn(p, i + 1, e);
    }
    if (skipWsIn(p, i, e) != e) return refuse(v, BATCH_MALFORMED, lineNo, "more than one JSON value on the line");
    if (bodyStart < 0) return refuse(v, BATCH_MALFORMED, lineNo, "no \"body\"");
    if (at(p, bodyStart) != CH_LBRACE) return refuse(v, BATCH_MALFORMED, lineNo, "\"body\" is not an object");
    const scan = scanRequest(data.subarray(bodyStart, bodyEnd));
    if (!scan.ok) return refuse(v, BATCH_MALFORMED, lineNo, "body: " + scan.error);
    const model = scan.model;
    if (model.length == 0) return refuse(v, BATCH_MALFORMED, lineNo, "no body.model");
    if (model.length > MAX_BATCH_MODEL) return refuse(v, BATCH_MALFORMED, lineNo, "body.model longer than 256 characters");
    if (allowed.length > 0 && !allowed.includes(model)) return refuse(v, BATCH_MODEL, lineNo, model);
    if (v.lines == 0) v.model = model;
    else if (model != v.model) return refuse(v, BATCH_MALFORMED, lineNo, "model \"" + model + "\" differs from the file's \"" + v.model + "\" (a batch serves one model)");
    v.lines++;
    const out = scan.maxTokens >= 0 ? scan.maxTokens : defaultMaxTokens;
    const outAll = out >= MAX_BOUND / 128 ? MAX_BOUND : out * <i64>scan.choices;
    v.bound = addSat(addSat(v.bound, scan.promptTokens(imageTokens, audioTokensPerSecond)), outAll);
    s = next;
  }
  if (v.lines == 0) return refuse(v, BATCH_MALFORMED, lineNo > 0 ? lineNo : 1, "no requests in the file");
  return v;
}
