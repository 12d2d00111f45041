// Finds a fixed byte pattern in a stream split into arbitrary chunks (KMP state carried
// between chunks, no copies).

import { findByte, utf8 } from "./bytes";

export class Needle {
  private pat: Uint8Array;
  private fail: Int32Array;
  private k: i32 = 0;
  found: bool = false;
  /** Occurrences seen so far (non-overlapping). */
  count: i32 = 0;

  constructor(pattern: string) {
    const pat = utf8(pattern);
    const n = pat.length;
    const fail = new Int32Array(n);
    let k = 0;
    for (let i = 1; i < n; i++) {
      while (k > 0 && pat[i] != pat[k]) k = fail[k - 1];
      if (pat[i] == pat[k]) k++;
      fail[i] = k;
    }
    this.pat = pat;
    this.fail = fail;
  }

  feed(b: Uint8Array): bool {
    // Hot path (every SSE chunk): raw loads, locals only; outside a partial match a tight loop
    // only stops on the pattern's first byte.
    const data = b.dataStart;
    const len = <usize>b.length;
    const pat = this.pat.dataStart;
    const fail = this.fail.dataStart;
    const n = this.pat.length;
    if (n == 0) return this.found;
    const first = load<u8>(pat);
    let k = this.k;
    let i: usize = 0;
    while (i < len) {
      if (k == 0) {
        i = <usize>findByte(data, <i32>i, <i32>len, first);
        if (i >= len) break;
        i++;
        k = 1;
      } else {
        const c = load<u8>(data + i);
        i++;
        while (k > 0 && c != load<u8>(pat + <usize>k)) k = load<i32>(fail + (<usize>(k - 1) << 2));
        if (c == load<u8>(pat + <usize>k)) k++;
      }
      if (k == n) { this.found = true; this.count++; k = 0; }
    }
    this.k = k;
    return this.found;
  }
}
