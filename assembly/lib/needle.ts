// Finds a fixed byte pattern in a stream split into arbitrary chunks (KMP state carried
// between chunks, no copies).

import { utf8 } from "./bytes";

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
    const pat = this.pat;
    const n = pat.length;
    let k = this.k;
    for (let i = 0; i < b.length; i++) {
      const c = unchecked(b[i]);
      while (k > 0 && c != unchecked(pat[k])) k = unchecked(this.fail[k - 1]);
      if (c == unchecked(pat[k])) k++;
      if (k == n) { this.found = true; this.count++; k = 0; }
    }
    this.k = k;
    return this.found;
  }
}
