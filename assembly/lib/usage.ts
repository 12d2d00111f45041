// Finds the token usage in a response body as it streams by (JSON answers, and SSE other than a
// 200 event stream, whose usage lib/stream_events.ts reads in its own pass), one
// byte-state-machine pass per chunk: `"usage"` → `:` → `{` … matching `}` is captured (at
// most 2 KiB) and its counters read. Chunks may split anything anywhere; `null` usages (every
// streaming chunk before the last) are skipped; the last usage object seen wins. Any JSON
// whitespace between the tokens, also a line break followed by the next `data:` line's field
// name (an event's JSON split over several data lines).

import {
  ByteBuilder, CH_BACKSLASH, CH_COLON, CH_CR, CH_LBRACE, CH_LF, CH_QUOTE, CH_RBRACE, CH_SPACE, findByte, indexOf, isWs, skipJsonWs, utf8,
} from "./bytes";

const PATTERN = utf8("\"usage\"");
const MAX_CAPTURE = 2048;
const K_PROMPT = utf8("\"prompt_tokens\"");
const K_INPUT = utf8("\"input_tokens\"");
const K_COMPLETION = utf8("\"completion_tokens\"");
const K_OUTPUT = utf8("\"output_tokens\"");
const K_TOTAL = utf8("\"total_tokens\"");

const DATA_COLON = utf8("data:");

const S_MATCH = 0;
const S_COLON = 1;
const S_OPEN = 2;
const S_CAPTURE = 3;

/** The number after `key` : within b[start, end) (-1: none). */
function numberAfterKey(b: Uint8Array, start: i32, end: i32, key: Uint8Array): i64 {
  const at = indexOf(b, key, start, end);
  if (at < 0) return -1;
  const data = b.dataStart;
  let i = skipJsonWs(b, at + key.length, end);
  if (i >= end || load<u8>(data + <usize>i) != CH_COLON) return -1;
  i = skipJsonWs(b, i + 1, end);
  let v: i64 = 0;
  let digits = 0;
  while (i < end) {
    const c = load<u8>(data + <usize>i);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + <i64>(c - 0x30);
    digits++;
    if (digits > 15) return -1;
    i++;
  }
  return digits > 0 ? v : -1;
}

/** Token usage a provider reported (-1: a counter it did not report). */
export class Usage {
  promptTokens: i64 = -1;
  completionTokens: i64 = -1;
  totalTokens: i64 = -1;
  found: bool = false;

  /**
   * One usage object's counters (prompt_tokens or input_tokens, completion_tokens or output_tokens,
   * total_tokens; -1 absent): the last object with any of them wins.
   */
  record(prompt: i64, input: i64, completion: i64, output: i64, total: i64): void {
    const p = prompt >= 0 ? prompt : input;
    const c = completion >= 0 ? completion : output;
    if (p < 0 && c < 0 && total < 0) return;
    this.promptTokens = p;
    this.completionTokens = c;
    this.totalTokens = total;
    this.found = true;
  }
}

export class UsageScanner extends Usage {
  private state: i32 = S_MATCH;
  private k: i32 = 0;
  /**
   * Between `"usage"` and its `{`, after a line break: the bytes of the next line's `data:` matched
   * (0–5; 5: its optional space may come); -1: not after a break. The JSON of an event may be split
   * over several data lines (skipJsonWs).
   */
  private prefix: i32 = -1;
  private depth: i32 = 0;
  private inString: bool = false;
  private escaped: bool = false;
  /**
   * A usage object split across chunks, as captured so far (made at the first such: an object
   * that lies within one chunk, the usual case, is read where it is).
   */
  private cap: ByteBuilder | null = null;

  feed(b: Uint8Array, start: i32 = 0, end: i32 = -1): void {
    if (end < 0) end = b.length;
    // Hot path (every response chunk): raw loads and locals; the common state (looking for
    // `"usage"`) is a tight loop that only leaves on a byte of the pattern.
    const data = b.dataStart;
    const pat = PATTERN.dataStart;
    const plen = PATTERN.length;
    // Where the usage object being captured began in this chunk (-1: before it, or none).
    let local = -1;
    let i = start;
    while (i < end) {
      if (this.state == S_MATCH) {
        let k = this.k;
        while (i < end) {
          if (k == 0) {
            // Outside a partial match only a quote can start one.
            i = findByte(data, i, end, CH_QUOTE);
            if (i >= end) break;
          }
          const c = load<u8>(data + <usize>i);
          i++;
          if (c == load<u8>(pat + <usize>k)) {
            k++;
            if (k == plen) { this.state = S_COLON; this.prefix = -1; k = 0; break; }
          } else {
            k = c == CH_QUOTE ? 1 : 0;
          }
        }
        this.k = k;
        continue;
      }
      const c = load<u8>(data + <usize>i);
      i++;
      const st = this.state;
      if (st != S_CAPTURE) {
        // Between tokens: a line break may bring the next data line's field name.
        const p = this.prefix;
        if (c == CH_LF || c == CH_CR) { this.prefix = 0; continue; }
        if (p >= 0) {
          if (p < 5 && c == unchecked(DATA_COLON[p])) { this.prefix = p + 1; continue; }
          this.prefix = -1;
          if (p == 5 && c == CH_SPACE) continue;
        }
      }
      if (st == S_COLON) {
        if (c == CH_COLON) this.state = S_OPEN;
        else if (!isWs(c)) { this.state = S_MATCH; this.k = c == CH_QUOTE ? 1 : 0; }
      } else if (st == S_OPEN) {
        if (c == CH_LBRACE) {
          this.state = S_CAPTURE;
          this.depth = 1;
          this.inString = false;
          this.escaped = false;
          local = i - 1;
        } else if (!isWs(c)) { this.state = S_MATCH; this.k = c == CH_QUOTE ? 1 : 0; }
      } else {
        // Capturing: a local loop to the object's end (or the chunk's), then one copy of the run.
        const runStart = i - 1;
        let depth = this.depth;
        let inString = this.inString;
        let escaped = this.escaped;
        let ch = c;
        let closed = false;
        while (true) {
          if (inString) {
            if (escaped) escaped = false;
            else if (ch == CH_BACKSLASH) escaped = true;
            else if (ch == CH_QUOTE) inString = false;
          } else if (ch == CH_QUOTE) inString = true;
          else if (ch == CH_LBRACE) depth++;
          else if (ch == CH_RBRACE) {
            depth--;
            if (depth == 0) { closed = true; break; }
          }
          if (i >= end) break;
          ch = load<u8>(data + <usize>i);
          i++;
        }
        this.depth = depth;
        this.inString = inString;
        this.escaped = escaped;
        if (closed && local >= 0) {
          // The whole object is in this chunk: read in place (its first MAX_CAPTURE bytes, as captured).
          this.read(b, local, i - local < MAX_CAPTURE ? i : local + MAX_CAPTURE);
          local = -1;
        } else {
          if (local >= 0) {
            this.startCapture(b, local, i);
            local = -1;
          } else {
            const cap = this.cap!;
            const room = MAX_CAPTURE - cap.len;
            if (room > 0) cap.bytes(b, runStart, i - runStart < room ? i : runStart + room);
          }
          if (closed) this.read(this.cap!.buf, 0, this.cap!.len);
        }
        if (closed) {
          this.state = S_MATCH;
          this.k = 0;
        }
      }
    }
    // The chunk ended right after an object's `{`: keep it for the next chunk.
    if (local >= 0) this.startCapture(b, local, end);
  }

  /** An object split across chunks: its bytes b[from, to) so far start the capture. */
  private startCapture(b: Uint8Array, from: i32, to: i32): void {
    let cap = this.cap;
    if (cap === null) this.cap = cap = new ByteBuilder(256);
    cap.reset();
    cap.bytes(b, from, to - from < MAX_CAPTURE ? to : from + MAX_CAPTURE);
  }

  private read(b: Uint8Array, s: i32, e: i32): void {
    this.record(numberAfterKey(b, s, e, K_PROMPT), numberAfterKey(b, s, e, K_INPUT), numberAfterKey(b, s, e, K_COMPLETION),
      numberAfterKey(b, s, e, K_OUTPUT), numberAfterKey(b, s, e, K_TOTAL));
  }
}
