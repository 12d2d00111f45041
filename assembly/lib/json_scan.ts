// Request-body scanner: reads the few top-level fields routing and admission need
// (model, stream, max tokens, n, store, stream_options) and sizes the prompt, in one pass over the
// bytes, without building a JSON tree. Iterative (no recursion): hostile nesting cannot
// overflow the stack, and malformed input yields ok=false, never a trap.

import { CH_BACKSLASH, CH_COLON, CH_COMMA, CH_LBRACE, CH_LBRACKET, CH_QUOTE, CH_RBRACE, CH_RBRACKET, matchAt, utf8, decode } from "./bytes";
import { decodeJsonString } from "./json_text";
import { L_FALSE, L_TRUE, skipScalar, skipString, skipWs, spanIs, stringStarts } from "./json_lex";
export { RequestScan } from "./request_scan";
import { RequestScan } from "./request_scan";
import { addConversationRef, addRef, REF_CONTENT, REF_FILE, REF_ID, REF_OTHER, refKeyOf } from "./json_refs";

const K_MODEL = utf8("\"model\"");
const K_STREAM = utf8("\"stream\"");
const K_MAX_TOKENS = utf8("\"max_tokens\"");
const K_MAX_COMPLETION = utf8("\"max_completion_tokens\"");
const K_MAX_OUTPUT = utf8("\"max_output_tokens\"");
const K_N = utf8("\"n\"");
const K_STORE = utf8("\"store\"");
const K_STREAM_OPTIONS = utf8("\"stream_options\"");
const K_INCLUDE_USAGE = utf8("\"include_usage\"");
const K_MESSAGES = utf8("\"messages\"");
const K_INPUT = utf8("\"input\"");
const K_PROMPT = utf8("\"prompt\"");
// Other fields the providers bill as input tokens.
const K_INSTRUCTIONS = utf8("\"instructions\"");
const K_TOOLS = utf8("\"tools\"");
const K_FUNCTIONS = utf8("\"functions\"");
const K_RESPONSE_FORMAT = utf8("\"response_format\"");
const K_SYSTEM = utf8("\"system\"");
const K_TEXT = utf8("\"text\"");
// Stored-object references (json_refs.ts).
const K_PREV = utf8("\"previous_response_id\"");
const K_CONVERSATION = utf8("\"conversation\"");
const K_INPUT_FILE_ID = utf8("\"input_file_id\"");
const K_FILE_ID = utf8("\"file_id\"");


const DATA_IMAGE = utf8("data:image/");
const DATA_AUDIO = utf8("data:audio/");
const K_URL = utf8("\"url\"");
const K_IMAGE_URL = utf8("\"image_url\"");
const K_INPUT_AUDIO = utf8("\"input_audio\"");
const K_DATA = utf8("\"data\"");

/** What the key just read says of its value: nothing special, an image's URL, an input_audio object, its data. */
const KEY_PLAIN: u8 = 0;
const KEY_IMAGE: u8 = 1;
const KEY_AUDIO: u8 = 2;
const KEY_DATA: u8 = 3;
let keyKind: u8 = KEY_PLAIN;
/** Where a stored-object-referencing body's ids go (null: not read); skipValue is reading its top-level `input`. */
let refs: string[] | null = null;
let refsInInput: bool = false;
/** The key of interest inside input[] just read (json_refs.ts), and the depth of an open input[].content[] (-1: none). */
let refKey: u8 = REF_OTHER;
let contentDepth: i32 = -1;
/** Depth of the input_audio object being read (its `data` is audio), -1 when none. */
let audioDepth: i32 = -1;

/** At a key's opening quote (after whitespace): index after the ':' that follows it, or -1. */
function skipKeyColon(b: Uint8Array, i: i32, out: RequestScan, count: bool): i32 {
  if (i >= b.byteLength || load<u8>(b.dataStart + <usize>(i)) != CH_QUOTE) return -1;
  const e = skipString(b, i);
  if (e < 0) return -1;
  if (refsInInput) refKey = refKeyOf(b, i, e);
  if (count) {
    out.promptBytes += <i64>(e - i - 2);
    keyKind = spanIs(b, i, e, K_URL) || spanIs(b, i, e, K_IMAGE_URL) ? KEY_IMAGE
      : spanIs(b, i, e, K_INPUT_AUDIO) ? KEY_AUDIO : spanIs(b, i, e, K_DATA) ? KEY_DATA : KEY_PLAIN;
  }
  const j = skipWs(b, e);
  if (j >= b.byteLength || load<u8>(b.dataStart + <usize>(j)) != CH_COLON) return -1;
  return j + 1;
}

const K_OBJECT: u8 = 1;
const K_ARRAY: u8 = 2;

/**
 * Skips one JSON value starting at i, checking its grammar; returns the index after it or -1
 * when it is not valid JSON. Iterative, with an explicit stack of open containers: a
 * hostile nesting depth costs a byte per level, never the call stack.
 * When `count`, adds the bytes of every string inside (keys included) to out.promptBytes and
 * counts the objects directly inside a top-level array (messages) in out.messageCount.
 */
let valueStack = new Uint8Array(16);

function skipValue(b: Uint8Array, i: i32, out: RequestScan, count: bool): i32 {
  const n = b.byteLength;
  if (i >= n) return -1;
  // A value that ended in an error may have left its input_audio open.
  audioDepth = -1;
  contentDepth = -1;
  const arrayTop = load<u8>(b.dataStart + <usize>(i)) == CH_LBRACKET;
  // One stack for every call (skipValue never runs inside itself), grown as deep as needed.
  let stack = valueStack;
  let depth = 0;
  while (true) {
    // A value is expected at i.
    i = skipWs(b, i);
    if (i >= n) return -1;
    const c = load<u8>(b.dataStart + <usize>(i));
    let closed = false;
    const kind = keyKind;
    keyKind = KEY_PLAIN;
    const rk = refKey;
    refKey = REF_OTHER;
    if (c == CH_QUOTE) {
      const e = skipString(b, i);
      if (e < 0) return -1;
      // input[].id (a replayed reasoning item), input[].content[].file_id (an input file).
      if (refsInInput && depth >= 2 && unchecked(stack[0]) == K_ARRAY && unchecked(stack[1]) == K_OBJECT) {
        if (depth == 2 && rk == REF_ID) addRef(refs!, b, i, e, "rs_");
        else if (depth == 4 && rk == REF_FILE && contentDepth == 3 && unchecked(stack[3]) == K_OBJECT) addRef(refs!, b, i, e, "");
      }
      if (count) {
        if (kind == KEY_IMAGE || stringStarts(b, i, e, DATA_IMAGE)) out.images++;
        else if ((kind == KEY_DATA && depth == audioDepth) || stringStarts(b, i, e, DATA_AUDIO)) out.audioBytes += <i64>(e - i - 2) * 3 / 4;
        else out.promptBytes += <i64>(e - i - 2);
      }
      i = e;
      closed = true;
    } else if (c == CH_LBRACE || c == CH_LBRACKET) {
      if (depth == stack.length) {
        const grown = new Uint8Array(depth * 2);
        grown.set(stack);
        stack = grown;
        // A hostile depth does not keep its stack: the next value starts small again.
        if (depth < 4096) valueStack = grown;
      }
      unchecked((stack[depth] = c == CH_LBRACE ? K_OBJECT : K_ARRAY));
      if (refsInInput && depth == 2 && rk == REF_CONTENT && c == CH_LBRACKET && unchecked(stack[0]) == K_ARRAY && unchecked(stack[1]) == K_OBJECT) contentDepth = 3;
      depth++;
      if (kind == KEY_AUDIO && c == CH_LBRACE) audioDepth = depth;
      if (count && arrayTop && depth == 2 && c == CH_LBRACE) out.messageCount++;
      i = skipWs(b, i + 1);
      if (i >= n) return -1;
      const d = load<u8>(b.dataStart + <usize>(i));
      if ((c == CH_LBRACE && d == CH_RBRACE) || (c == CH_LBRACKET && d == CH_RBRACKET)) {
        if (depth == audioDepth) audioDepth = -1;
        if (depth == contentDepth) contentDepth = -1;
        depth--;
        i++;
        closed = true;
      } else if (c == CH_LBRACE) {
        i = skipKeyColon(b, i, out, count);
        if (i < 0) return -1;
      }
    } else {
      i = skipScalar(b, i);
      if (i < 0) return -1;
      closed = true;
    }
    if (!closed) continue;
    // A value ended: close containers, or find the next element.
    while (true) {
      if (depth == 0) return i;
      i = skipWs(b, i);
      if (i >= n) return -1;
      const d = load<u8>(b.dataStart + <usize>(i));
      const top = unchecked(stack[depth - 1]);
      if (d == CH_COMMA) {
        i++;
        if (top == K_OBJECT) {
          i = skipKeyColon(b, skipWs(b, i), out, count);
          if (i < 0) return -1;
        }
        break;
      }
      if ((d == CH_RBRACE && top == K_OBJECT) || (d == CH_RBRACKET && top == K_ARRAY)) {
        if (depth == audioDepth) audioDepth = -1;
        if (depth == contentDepth) contentDepth = -1;
        depth--;
        i++;
        continue;
      }
      return -1;
    }
  }
}

/** The largest token bound taken at face value; a larger one reserves this (no window holds it). */
const MAX_BOUND: i64 = 100_000_000;

/**
 * A token bound at [i, end): an integer, or a JSON number in any other notation (1e3, 25.0,
 * 2.5e1) that a lenient provider reads as an integer — rounded up, so the reservation is never
 * below what it may bill. Above MAX_BOUND: MAX_BOUND. -1 for no number or a negative one (the
 * provider refuses those).
 */
function parseBoundAt(b: Uint8Array, i: i32, end: i32): i64 {
  let v: i64 = 0;
  if (i >= end) return -1;
  for (let k = i; k < end; k++) {
    const c = load<u8>(b.dataStart + <usize>(k));
    if (c < 0x30 || c > 0x39) return parseNumberAt(b, i, end);
    v = v * 10 + <i64>(c - 0x30);
    if (v > MAX_BOUND) return MAX_BOUND;
  }
  return v;
}

function parseNumberAt(b: Uint8Array, i: i32, end: i32): i64 {
  const c = load<u8>(b.dataStart + <usize>(i));
  if (c != 0x2d && (c < 0x30 || c > 0x39)) return -1; // a string, true, null, an object…
  if (end - i > 64) return -1;
  const f = F64.parseFloat(decode(b, i, end));
  if (isNaN(f) || f < 0) return -1;
  if (f >= <f64>MAX_BOUND) return MAX_BOUND;
  return <i64>Math.ceil(f);
}

/**
 * include_usage inside a stream_options object value [s, e) (already checked to be valid JSON):
 * 1 true, 0 false, -1 absent or not a boolean. A repeated key counts as providers read it:
 * the last one wins.
 */
function scanIncludeUsage(b: Uint8Array, s: i32, e: i32, out: RequestScan): i32 {
  let found = -1;
  let i = skipWs(b, s + 1);
  while (i < e && load<u8>(b.dataStart + <usize>(i)) == CH_QUOTE) {
    const ke = skipString(b, i);
    if (ke < 0) return -1;
    keyBytes(b, i, ke);
    const isUsageKey = isKey(K_INCLUDE_USAGE);
    let j = skipWs(b, ke);
    if (j >= e || load<u8>(b.dataStart + <usize>(j)) != CH_COLON) return -1;
    j = skipWs(b, j + 1);
    const ve = skipValue(b, j, new RequestScan(), false);
    if (ve < 0) return -1;
    if (isUsageKey) {
      found = matchAt(b, j, L_TRUE) ? 1 : matchAt(b, j, L_FALSE) ? 0 : -1;
      out.includeUsageValueStart = found < 0 ? j : -1;
      out.includeUsageValueEnd = found < 0 ? ve : -1;
    }
    i = skipWs(b, ve);
    if (i < e && load<u8>(b.dataStart + <usize>(i)) == CH_COMMA) i = skipWs(b, i + 1);
  }
  return found;
}

/**
 * The key at [ks, ke) (quotes included) as bytes to compare with the K_ constants. A key
 * written with escapes ("mod\u0065l") is decoded first: the provider reads it as "model", so
 * must we (else a second, escaped "model" or "stream" would slip past routing and policy).
 */
function keyBytes(b: Uint8Array, ks: i32, ke: i32): void {
  let escaped = false;
  for (let k = ks + 1; k < ke - 1; k++) {
    if (load<u8>(b.dataStart + <usize>(k)) == CH_BACKSLASH) { escaped = true; break; }
  }
  if (!escaped) {
    // Compared in place: no copy, no view object.
    keyBuf = b;
    keyStart = ks;
    keyLen = ke - ks;
    return;
  }
  const raw = decode(b, ks + 1, ke - 1);
  keyBuf = utf8("\"" + decodeJsonString(raw, 0, raw.length) + "\"");
  keyStart = 0;
  keyLen = keyBuf.byteLength;
}

/** The current key (keyBytes): keyLen bytes at keyStart of keyBuf. */
let keyBuf: Uint8Array = new Uint8Array(0);
let keyStart: i32 = 0;
let keyLen: i32 = 0;

function isKey(k: Uint8Array): bool {
  return keyLen == k.byteLength && memory.compare(keyBuf.dataStart + <usize>keyStart, k.dataStart, <usize>keyLen) == 0;
}

/** The top-level object ended at i (its closing brace). */
function finish(b: Uint8Array, i: i32, out: RequestScan): RequestScan {
  out.objectEnd = i;
  if (skipWs(b, i + 1) != b.byteLength) {
    out.error = "unexpected data after the JSON object";
    return out;
  }
  out.ok = true;
  return out;
}

/**
 * Scans a request body. `ids`: where the stored objects it refers to go (json_refs.ts; null: an
 * API that keeps none) — read in the same pass.
 */
export function scanRequest(b: Uint8Array, ids: string[] | null = null): RequestScan {
  refs = ids;
  const out = scanMembers(b);
  keyBuf = EMPTY; // the body is not kept alive by the key view
  refs = null;
  refsInInput = false;
  return out;
}

const EMPTY = new Uint8Array(0);

function scanMembers(b: Uint8Array): RequestScan {
  const out = new RequestScan();
  const n = b.byteLength;
  let i = skipWs(b, 0);
  if (i >= n || load<u8>(b.dataStart + <usize>(i)) != CH_LBRACE) {
    out.error = "request body is not a JSON object";
    return out;
  }
  i = skipWs(b, i + 1);
  if (i < n && load<u8>(b.dataStart + <usize>(i)) == CH_RBRACE) return finish(b, i, out);
  // Members: "key": value, separated by single commas, closed by '}'.
  while (i < n && load<u8>(b.dataStart + <usize>(i)) == CH_QUOTE) {
    const ks = i;
    const ke = skipString(b, i);
    if (ke < 0) break;
    i = skipWs(b, ke);
    if (i >= n || load<u8>(b.dataStart + <usize>(i)) != CH_COLON) break;
    i = skipWs(b, i + 1);
    if (i >= n) break;
    const vs = i;
    keyBytes(b, ks, ke);
    // Everything the provider bills as input counts toward the prompt estimate: the messages or
    // input, and the instructions, tool and function definitions, response schemas (Chat's
    // response_format, Responses' text.format) and system prompts sent beside them.
    const isPrompt = isKey(K_MESSAGES) || isKey(K_INPUT) || isKey(K_PROMPT) || isKey(K_INSTRUCTIONS) ||
      isKey(K_TOOLS) || isKey(K_FUNCTIONS) || isKey(K_RESPONSE_FORMAT) || isKey(K_SYSTEM) || isKey(K_TEXT);
    refsInInput = refs !== null && isKey(K_INPUT);
    const ve = skipValue(b, vs, out, isPrompt);
    refsInInput = false;
    if (ve < 0) break;
    const ids = refs;
    if (ids !== null) {
      const str = load<u8>(b.dataStart + <usize>(vs)) == CH_QUOTE;
      if (isKey(K_PREV) || isKey(K_INPUT_FILE_ID) || isKey(K_FILE_ID)) {
        if (str) addRef(ids, b, vs, ve, "");
      } else if (isKey(K_CONVERSATION)) {
        if (str) addRef(ids, b, vs, ve, "");
        else if (load<u8>(b.dataStart + <usize>(vs)) == CH_LBRACE) addConversationRef(ids, b, vs, ve);
      }
    }
    // A repeated key is read as providers read it: the last one wins (a later non-string
    // "model" or non-object "stream_options" clears what an earlier one set).
    if (isKey(K_MODEL)) {
      out.model = "";
      out.modelStart = -1;
      out.modelEnd = -1;
      out.modelValueStart = vs;
      out.modelValueEnd = ve;
      if (load<u8>(b.dataStart + <usize>(vs)) == CH_QUOTE) {
        out.modelStart = vs + 1;
        out.modelEnd = ve - 1;
        // The model as the provider reads it (escapes decoded); the span stays the raw text.
        const raw = decode(b, vs + 1, ve - 1);
        out.model = decodeJsonString(raw, 0, raw.length);
      }
    } else if (isKey(K_STREAM)) {
      out.stream = matchAt(b, vs, L_TRUE);
    } else if (isKey(K_STORE)) {
      out.store = matchAt(b, vs, L_TRUE) ? 1 : matchAt(b, vs, L_FALSE) ? 0 : -1;
    } else if (isKey(K_N)) {
      // Providers allow 1–128; a value outside is refused by them (count it as 1 here).
      const n = parseBoundAt(b, vs, ve);
      out.choices = n >= 1 && n <= 128 ? <i32>n : 1;
    } else if (isKey(K_MAX_TOKENS) || isKey(K_MAX_COMPLETION) || isKey(K_MAX_OUTPUT)) {
      // The largest bound any of them sets: providers differ in which one they honour (Azure and
      // OpenAI take max_completion_tokens over max_tokens), so reserving less could be outrun.
      const v = parseBoundAt(b, vs, ve);
      if (v > out.maxTokens) out.maxTokens = v;
    } else if (isKey(K_STREAM_OPTIONS)) {
      out.hasStreamOptions = false;
      out.streamOptionsStart = -1;
      out.streamOptionsEnd = -1;
      out.includeUsage = -1;
      out.includeUsageValueStart = -1;
      out.includeUsageValueEnd = -1;
      if (load<u8>(b.dataStart + <usize>(vs)) == CH_LBRACE) {
        out.hasStreamOptions = true;
        out.streamOptionsStart = vs;
        out.streamOptionsEnd = ve;
        out.includeUsage = scanIncludeUsage(b, vs, ve, out);
      }
    }
    i = skipWs(b, ve);
    if (i >= n) break;
    const c = load<u8>(b.dataStart + <usize>(i));
    if (c == CH_RBRACE) return finish(b, i, out);
    if (c != CH_COMMA) break;
    i = skipWs(b, i + 1);
  }
  out.error = "request body is not valid JSON";
  return out;
}
