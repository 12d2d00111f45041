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
const MAX_CARRY = 1 << 20;

export class SseStripper {
  private carry: ByteBuilder = new ByteBuilder(512);
  stripped: i32 = 0;
  overflow: bool = false;

  /**
   * Feeds a chunk; returns the bytes to send on now (complete events minus the usage-only
   * event). At end of stream whatever is left is released as is.
   */
  feed(chunk: Uint8Array, endOfStream: bool): Uint8Array {
    this.carry.bytes(chunk);
    const buf = this.carry.buf;
    const n = this.carry.len;
    const out = new ByteBuilder(n + 16);
    let evStart = 0;
    let i = 0;
    while (i < n) {
      // An event ends at a blank line: \n\n or \r\n\r\n (what providers send).
      const c = unchecked(buf[i]);
      let end = -1;
      if (c == CH_LF && i + 1 < n && unchecked(buf[i + 1]) == CH_LF) end = i + 2;
      else if (c == CH_CR && i + 3 < n && unchecked(buf[i + 1]) == CH_LF && unchecked(buf[i + 2]) == CH_CR && unchecked(buf[i + 3]) == CH_LF) end = i + 4;
      if (end < 0) { i++; continue; }
      if (!this.isUsageOnly(buf, evStart, end)) out.bytes(buf, evStart, end);
      else this.stripped++;
      evStart = end;
      i = end;
    }
    if (endOfStream || n - evStart > MAX_CARRY) {
      if (n - evStart > MAX_CARRY) this.overflow = true;
      out.bytes(buf, evStart, n);
      this.carry.reset();
    } else {
      // Keep the partial event.
      const rest = n - evStart;
      if (evStart > 0) {
        memory.copy(buf.dataStart, buf.dataStart + <usize>evStart, <usize>rest);
        this.carry.len = rest;
      }
    }
    return out.finish();
  }

  /** `"choices"` : [ ] and `"usage"` : { — whitespace allowed around the punctuation. */
  private isUsageOnly(b: Uint8Array, s: i32, e: i32): bool {
    return keyThen(b, s, e, CHOICES_KEY, 0x5b, 0x5d) && keyThen(b, s, e, USAGE_KEY, 0x7b, 0);
  }
}
