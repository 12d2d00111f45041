// SSE event framing for removing the usage chunk the gateway injected: complete events are
// released at once, a partial trailing event waits (bounded) for its end. Only used when
// stripping; otherwise chunks pass through untouched and only the UsageScanner reads them.

import { ByteBuilder, CH_CR, CH_LF, indexOf, skipJsonWs, utf8 } from "./bytes";

const CHOICES_KEY = utf8("\"choices\"");
const USAGE_KEY = utf8("\"usage\"");

/** Somewhere in [s,e): `key` : `open` (then `close` right after, when close != 0). */
function keyThen(b: Uint8Array, s: i32, e: i32, key: Uint8Array, open: u8, close: u8): bool {
  let from = s;
  while (true) {
    const at = indexOf(b, key, from);
    if (at < 0 || at >= e) return false;
    let i = skipJsonWs(b, at + key.length, e);
    if (i < e && load<u8>(b.dataStart + <usize>(i)) == 0x3a) {
      i = skipJsonWs(b, i + 1, e);
      if (i < e && load<u8>(b.dataStart + <usize>(i)) == open) {
        if (close == 0) return true;
        i = skipJsonWs(b, i + 1, e);
        if (i < e && load<u8>(b.dataStart + <usize>(i)) == close) return true;
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

// Where a scan stands in an event's end, as the SSE format defines it: lines end with CRLF, LF or
// CR, and an empty line ends the event. A blank line ended by a CR may still have its LF to come
// (CRLF), so that case is only decided by the next byte (or the end of the stream).
const S_LINE: i32 = 0;    // inside a line
const S_LF: i32 = 1;      // a line just ended (by LF, or by CRLF)
const S_CR: i32 = 2;      // a line just ended by CR (an LF may follow: CRLF)
const S_BLANK_CR: i32 = 3; // an empty line just ended by CR: the event ended, unless an LF follows first

/** Scan result: the index the event ends at (-1: not in this range), and the state to go on with. */
let endAt: i32 = -1;
let stOut: i32 = S_LINE;

/** Finds the first event end in b[from, to) continuing from state `st` (each byte read once). */
function findEnd(b: Uint8Array, from: i32, to: i32, st: i32): void {
  const data = b.dataStart;
  for (let k = from; k < to; k++) {
    const c = load<u8>(data + <usize>k);
    if (st == S_BLANK_CR) {
      // The event ended at the CR before; an LF right after it is that line's CRLF.
      endAt = c == CH_LF ? k + 1 : k;
      stOut = S_LINE;
      return;
    }
    if (c == CH_LF) {
      if (st == S_LF) { endAt = k + 1; stOut = S_LINE; return; }
      st = S_LF; // a line ends here (LF, or the LF of a CRLF)
    } else if (c == CH_CR) {
      st = st == S_LF || st == S_CR ? S_BLANK_CR : S_CR;
    } else {
      st = S_LINE;
    }
  }
  endAt = -1;
  stOut = st;
}

/** Does a stream that ends in state `st` end with a complete event? */
@inline function endsEvent(st: i32): bool {
  return st == S_BLANK_CR;
}

export class SseStripper {
  /** The start of an event that has not ended yet (at most HOLD_MAX bytes). */
  private carry: ByteBuilder = new ByteBuilder(512);
  /** The terminator scan's state at the end of what was seen (each byte is scanned once). */
  private st: i32 = S_LINE;
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
      findEnd(chunk, i, n, this.st);
      const end = endAt;
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
        // An event whose blank line was a final CR did end: examine it like any other.
        if (endsEvent(this.st) && !this.passing && this.isUsageOnly(this.carry.buf, 0, this.carry.len)) { this.stripped++; dropped = true; }
        else out.bytes(this.carry.buf, 0, this.carry.len);
        this.dropCarry();
      }
      this.st = S_LINE;
      this.passing = false;
    }
    if (out === null) return n == 0 ? chunk : new Uint8Array(0);
    // Nothing held before, nothing dropped, everything released: the output is the chunk.
    if (heldBefore == 0 && !dropped && out.len == n) return chunk;
    return out.finish();
  }

  /**
   * A whole stream at once, in place (a failover attempt's answer arrives whole): the usage-only
   * events are removed by moving what follows over them. Returns the new length. The same bytes
   * as feed(buf, true) on a fresh stripper, without a second buffer as large as the answer.
   */
  stripWhole(buf: Uint8Array): i32 {
    const n = buf.length;
    const base = buf.dataStart;
    let w = 0;
    let i = 0;
    let st = S_LINE;
    while (i < n) {
      findEnd(buf, i, n, st);
      let e = endAt;
      st = stOut;
      // The last event without its blank line is released as is, unless a final CR ended it (and
      // it is short enough to be held, as the streaming path would have held it).
      const complete = e >= 0 || (endsEvent(st) && n - i <= HOLD_MAX);
      if (e < 0) e = n;
      if (complete && this.isUsageOnly(buf, i, e)) this.stripped++;
      else {
        if (w != i) memory.copy(base + <usize>w, base + <usize>i, <usize>(e - i));
        w += e - i;
      }
      i = e;
    }
    return w;
  }

  /** Forgets the carried bytes; a carry that grew for one long event does not stay large. */
  private dropCarry(): void {
    if (this.carry.buf.length > 2 * HOLD_MAX) this.carry = new ByteBuilder(512);
    else this.carry.reset();
  }

  /**
   * `"choices"` : [ ] and `"usage"` : { — any JSON whitespace around the punctuation (also a line
   * break and the next `data:` line's field name: skipJsonWs).
   */
  private isUsageOnly(b: Uint8Array, s: i32, e: i32): bool {
    return keyThen(b, s, e, CHOICES_KEY, 0x5b, 0x5d) && keyThen(b, s, e, USAGE_KEY, 0x7b, 0);
  }
}
