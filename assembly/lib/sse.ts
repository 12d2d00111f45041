// SSE event framing for removing the usage chunk the gateway injected: complete events are
// released at once, a partial trailing event waits (bounded) for its end. Only used when
// stripping; otherwise chunks pass through untouched and only the UsageScanner reads them.

import { ByteBuilder, CH_CR, CH_LF, indexOf, utf8 } from "./bytes";

const EMPTY_CHOICES = utf8("\"choices\":[]");
const USAGE_OPEN = utf8("\"usage\":{");
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
      // An event ends at a blank line: \n\n, \r\n\r\n or \r\r.
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

  private isUsageOnly(b: Uint8Array, s: i32, e: i32): bool {
    const ev = b.subarray(s, e);
    return indexOf(ev, EMPTY_CHOICES, 0) >= 0 && indexOf(ev, USAGE_OPEN, 0) >= 0;
  }
}
