// SSE event framing for removing the usage chunk the gateway injected: complete events are
// released at once, a partial trailing event waits (bounded) for its end. Only used when
// stripping; otherwise chunks pass through untouched and only the UsageScanner reads them.

import { ByteBuilder, CH_CR, CH_LF, indexOf, utf8 } from "./bytes";

const CHOICES_KEY = utf8("\"choices\"");
const USAGE_KEY = utf8("\"usage\"");

function skipSpace(b: Uint8Array, i: i32, e: i32): i32 {
  while (i < e) {
    const c = unchecked(b[i]);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    i++;
  }
  return i;
}

/** Somewhere in [s,e): `key` : `open` (then `close` right after, when close != 0). */
function keyThen(b: Uint8Array, s: i32, e: i32, key: Uint8Array, open: u8, close: u8): bool {
  let from = s;
  while (true) {
    const at = indexOf(b, key, from);
    if (at < 0 || at >= e) return false;
    let i = skipSpace(b, at + key.length, e);
    if (i < e && unchecked(b[i]) == 0x3a) {
      i = skipSpace(b, i + 1, e);
      if (i < e && unchecked(b[i]) == open) {
        if (close == 0) return true;
        i = skipSpace(b, i + 1, e);
        if (i < e && unchecked(b[i]) == close) return true;
      }
    }
    from = at + 1;
  }
}
/**
 * The longest event held back to be examined. The usage-only event is a few hundred bytes: a
 * longer event cannot be it, so it streams through as it arrives instead of being carried.
 */
const HOLD_MAX: i32 = 16384;

// Where a scan stands in an event terminator: a blank line, "\n\n" or "\r\n\r\n" (what
// providers send; "\r\n\n" counts too, as it contains "\n\n").
const S_NONE: i32 = 0;
const S_LF: i32 = 1;
const S_CR: i32 = 2;
const S_CRLF: i32 = 3;
const S_CRLFCR: i32 = 4;
const S_END: i32 = 5;

@inline function step(st: i32, c: u8): i32 {
  if (c == CH_LF) return st == S_NONE || st == S_CR ? (st == S_CR ? S_CRLF : S_LF) : S_END;
  if (c == CH_CR) return st == S_CRLF ? S_CRLFCR : S_CR;
  return S_NONE;
}

/** Index just past the first event end in b[from, to) continuing from state `st`, or -1 (state left in `stOut`). */
let stOut: i32 = 0;
function findEnd(b: Uint8Array, from: i32, to: i32, st: i32): i32 {
  const data = b.dataStart;
  for (let k = from; k < to; k++) {
    st = step(st, load<u8>(data + <usize>k));
    if (st == S_END) {
      stOut = S_NONE;
      return k + 1;
    }
  }
  stOut = st;
  return -1;
}

export class SseStripper {
  /** The start of an event that has not ended yet (at most HOLD_MAX bytes). */
  private carry: ByteBuilder = new ByteBuilder(512);
  /** The terminator scan's state at the end of what was seen (each byte is scanned once). */
  private st: i32 = S_NONE;
  /** The current event is too long to be the usage event: it streams through until it ends. */
  private passing: bool = false;
  stripped: i32 = 0;
  /** Some event was passed through without being examined (longer than HOLD_MAX). */
  overflow: bool = false;

  /**
   * Feeds a chunk; returns the bytes to send on now (complete events minus the usage-only
   * event, and the part of an over-long event seen so far) — the chunk itself when that is all
   * of it. At end of stream whatever is left is released as is. Linear in the bytes fed.
   */
  feed(chunk: Uint8Array, endOfStream: bool): Uint8Array {
    const n = chunk.length;
    const heldBefore = this.carry.len;
    let out: ByteBuilder | null = null;
    let dropped = false;
    let i = 0;
    while (i < n) {
      if (out === null) out = new ByteBuilder(heldBefore + n + 16);
      const end = findEnd(chunk, i, n, this.st);
      this.st = stOut;
      if (this.passing) {
        out.bytes(chunk, i, end < 0 ? n : end);
        if (end < 0) break;
        this.passing = false;
        i = end;
        continue;
      }
      if (end < 0) {
        if (this.carry.len + (n - i) > HOLD_MAX) {
          // Too long for the usage event: send what there is, and the rest as it comes.
          out.bytes(this.carry.buf, 0, this.carry.len).bytes(chunk, i, n);
          this.dropCarry();
          this.passing = true;
          this.overflow = true;
        } else {
          this.carry.bytes(chunk, i, n);
        }
        break;
      }
      // A whole event: examined in place when it lies within this chunk.
      if (this.carry.len == 0) {
        if (this.isUsageOnly(chunk, i, end)) { this.stripped++; dropped = true; }
        else out.bytes(chunk, i, end);
      } else {
        this.carry.bytes(chunk, i, end);
        if (this.isUsageOnly(this.carry.buf, 0, this.carry.len)) { this.stripped++; dropped = true; }
        else out.bytes(this.carry.buf, 0, this.carry.len);
        this.dropCarry();
      }
      i = end;
    }
    if (endOfStream) {
      if (this.carry.len > 0) {
        if (out === null) out = new ByteBuilder(this.carry.len);
        out.bytes(this.carry.buf, 0, this.carry.len);
        this.dropCarry();
      }
      this.st = S_NONE;
      this.passing = false;
    }
    if (out === null) return n == 0 ? chunk : new Uint8Array(0);
    // Nothing held before, nothing dropped, everything released: the output is the chunk.
    if (heldBefore == 0 && !dropped && out.len == n) return chunk;
    return out.finish();
  }

  /** Forgets the carried bytes; a carry that grew for one long event does not stay large. */
  private dropCarry(): void {
    if (this.carry.buf.length > 2 * HOLD_MAX) this.carry = new ByteBuilder(512);
    else this.carry.reset();
  }

  /** `"choices"` : [ ] and `"usage"` : { — whitespace allowed around the punctuation. */
  private isUsageOnly(b: Uint8Array, s: i32, e: i32): bool {
    return keyThen(b, s, e, CHOICES_KEY, 0x5b, 0x5d) && keyThen(b, s, e, USAGE_KEY, 0x7b, 0);
  }
}
