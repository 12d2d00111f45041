// Request-body scanner: reads the few top-level fields routing and admission need
// (model, stream, max tokens, stream_options) and sizes the prompt, in one pass over the
// bytes, without building a JSON tree. Iterative (no recursion): hostile nesting cannot
// overflow the stack, and malformed input yields ok=false, never a trap.

import {
  CH_BACKSLASH, CH_COLON, CH_COMMA, CH_LBRACE, CH_LBRACKET, CH_QUOTE, CH_RBRACE, CH_RBRACKET,
  isWs, matchAt, utf8, decode,
} from "./bytes";

const K_MODEL = utf8("\"model\"");
const K_STREAM = utf8("\"stream\"");
const K_MAX_TOKENS = utf8("\"max_tokens\"");
const K_MAX_COMPLETION = utf8("\"max_completion_tokens\"");
const K_MAX_OUTPUT = utf8("\"max_output_tokens\"");
const K_STREAM_OPTIONS = utf8("\"stream_options\"");
const K_INCLUDE_USAGE = utf8("\"include_usage\"");
const K_MESSAGES = utf8("\"messages\"");
const K_INPUT = utf8("\"input\"");
const K_PROMPT = utf8("\"prompt\"");
const L_TRUE = utf8("true");
const L_FALSE = utf8("false");

export class RequestScan {
  ok: bool = false;
  error: string = "";
  model: string = "";
  /** Byte span of the model string's content (inside the quotes), -1 when absent. */
  modelStart: i32 = -1;
  modelEnd: i32 = -1;
  stream: bool = false;
  /** max_tokens / max_completion_tokens / max_output_tokens, -1 when absent. */
  maxTokens: i64 = -1;
  hasStreamOptions: bool = false;
  /** -1 absent, 0 false, 1 true. */
  includeUsage: i32 = -1;
  /** Span of the stream_options value ({…}) when present. */
  streamOptionsStart: i32 = -1;
  streamOptionsEnd: i32 = -1;
  /** Bytes of text in messages/input/prompt strings, and the number of message objects. */
  promptBytes: i64 = 0;
  messageCount: i32 = 0;
  /** Index of the closing brace of the top-level object. */
  objectEnd: i32 = -1;

  /** Prompt tokens as a provider's admission estimate would count them (≈4 bytes a token). */
  promptTokens(): i64 {
    return (this.promptBytes + 3) / 4 + <i64>this.messageCount * 4 + 3;
  }
}

function skipWs(b: Uint8Array, i: i32): i32 {
  const n = b.length;
  while (i < n && isWs(unchecked(b[i]))) i++;
  return i;
}

/** i at an opening quote → index after the closing quote, or -1. */
function skipString(b: Uint8Array, i: i32): i32 {
  const n = b.length;
  i++;
  while (i < n) {
    const c = unchecked(b[i]);
    if (c == CH_BACKSLASH) { i += 2; continue; }
    if (c == CH_QUOTE) return i + 1;
    i++;
  }
  return -1;
}

/**
 * Skips any JSON value starting at i; returns the index after it or -1.
 * For containers, counts string bytes (into acc.promptBytes when `count`) and objects at
 * depth 1 of an array (messages).
 */
function skipValue(b: Uint8Array, i: i32, out: RequestScan, count: bool): i32 {
  const n = b.length;
  if (i >= n) return -1;
  const c0 = unchecked(b[i]);
  if (c0 == CH_QUOTE) {
    const e = skipString(b, i);
    if (count && e > 0) out.promptBytes += <i64>(e - i - 2);
    return e;
  }
  if (c0 == CH_LBRACE || c0 == CH_LBRACKET) {
    let depth = 0;
    const arrayTop = c0 == CH_LBRACKET;
    while (i < n) {
      const c = unchecked(b[i]);
      if (c == CH_QUOTE) {
        const e = skipString(b, i);
        if (e < 0) return -1;
        if (count) out.promptBytes += <i64>(e - i - 2);
        i = e;
        continue;
      }
      if (c == CH_LBRACE || c == CH_LBRACKET) {
        depth++;
        if (count && arrayTop && depth == 2 && c == CH_LBRACE) out.messageCount++;
      } else if (c == CH_RBRACE || c == CH_RBRACKET) {
        depth--;
        if (depth == 0) return i + 1;
        if (depth < 0) return -1;
      }
      i++;
    }
    return -1;
  }
  // number / literal: up to a delimiter
  let j = i;
  while (j < n) {
    const c = unchecked(b[j]);
    if (c == CH_COMMA || c == CH_RBRACE || c == CH_RBRACKET || isWs(c)) break;
    j++;
  }
  return j > i ? j : -1;
}

function parseIntAt(b: Uint8Array, i: i32, end: i32): i64 {
  let v: i64 = 0;
  if (i >= end) return -1;
  for (let k = i; k < end; k++) {
    const c = unchecked(b[k]);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + <i64>(c - 0x30);
    if (v > 100_000_000) return -1;
  }
  return v;
}

/** include_usage inside a stream_options object value [s, e). */
function scanIncludeUsage(b: Uint8Array, s: i32, e: i32): i32 {
  // A flat scan is enough: stream_options is a small object of scalars.
  let i = s + 1;
  while (i < e) {
    i = skipWs(b, i);
    if (i >= e) break;
    const c = unchecked(b[i]);
    if (c == CH_QUOTE) {
      const isKey = matchAt(b, i, K_INCLUDE_USAGE);
      const ke = skipString(b, i);
      if (ke < 0) return -1;
      let j = skipWs(b, ke);
      if (j < e && unchecked(b[j]) == CH_COLON) {
        j = skipWs(b, j + 1);
        if (isKey) {
          if (matchAt(b, j, L_TRUE)) return 1;
          if (matchAt(b, j, L_FALSE)) return 0;
          return -1;
        }
        const ve = skipValue(b, j, new RequestScan(), false);
        if (ve < 0) return -1;
        i = ve;
        continue;
      }
      i = ke;
      continue;
    }
    i++;
  }
  return -1;
}

export function scanRequest(b: Uint8Array): RequestScan {
  const out = new RequestScan();
  const n = b.length;
  let i = skipWs(b, 0);
  if (i >= n || unchecked(b[i]) != CH_LBRACE) {
    out.error = "request body is not a JSON object";
    return out;
  }
  i++;
  while (true) {
    i = skipWs(b, i);
    if (i >= n) break;
    let c = unchecked(b[i]);
    if (c == CH_RBRACE) {
      out.objectEnd = i;
      const rest = skipWs(b, i + 1);
      if (rest != n) { out.error = "unexpected data after the JSON object"; return out; }
      out.ok = true;
      return out;
    }
    if (c == CH_COMMA) { i++; continue; }
    if (c != CH_QUOTE) break;
    const ks = i;
    const ke = skipString(b, i);
    if (ke < 0) break;
    i = skipWs(b, ke);
    if (i >= n || unchecked(b[i]) != CH_COLON) break;
    i = skipWs(b, i + 1);
    if (i >= n) break;
    const vs = i;
    const keyLen = ke - ks;
    const isPrompt = (keyLen == K_MESSAGES.length && matchAt(b, ks, K_MESSAGES))
      || (keyLen == K_INPUT.length && matchAt(b, ks, K_INPUT))
      || (keyLen == K_PROMPT.length && matchAt(b, ks, K_PROMPT));
    const ve = skipValue(b, vs, out, isPrompt);
    if (ve < 0) break;
    if (keyLen == K_MODEL.length && matchAt(b, ks, K_MODEL)) {
      if (unchecked(b[vs]) == CH_QUOTE) {
        out.modelStart = vs + 1;
        out.modelEnd = ve - 1;
        out.model = decode(b, vs + 1, ve - 1);
      }
    } else if (keyLen == K_STREAM.length && matchAt(b, ks, K_STREAM)) {
      out.stream = matchAt(b, vs, L_TRUE);
    } else if ((keyLen == K_MAX_TOKENS.length && matchAt(b, ks, K_MAX_TOKENS))
      || (keyLen == K_MAX_COMPLETION.length && matchAt(b, ks, K_MAX_COMPLETION))
      || (keyLen == K_MAX_OUTPUT.length && matchAt(b, ks, K_MAX_OUTPUT))) {
      const v = parseIntAt(b, vs, ve);
      if (v >= 0) out.maxTokens = v;
    } else if (keyLen == K_STREAM_OPTIONS.length && matchAt(b, ks, K_STREAM_OPTIONS)) {
      if (unchecked(b[vs]) == CH_LBRACE) {
        out.hasStreamOptions = true;
        out.streamOptionsStart = vs;
        out.streamOptionsEnd = ve;
        out.includeUsage = scanIncludeUsage(b, vs, ve);
      }
    }
    i = ve;
  }
  out.error = "request body is not valid JSON";
  return out;
}
