// Phase 1: a JSON syntax check that never aborts. json-as aborts (traps the VM) on malformed
// JSON, so nothing reaches it before this scan has accepted the whole text.
// Reports the first syntax error with line/column and what was expected, plus every
// duplicate key (with its JSON path), and bounds nesting so later recursive phases stay
// within the stack.

import { decodeJsonString } from "../lib/json_text";
import { childPath, indexPath, isAsciiDigit } from "./text";
import { JsonCursor } from "./json_cursor";

export const MAX_DEPTH: i32 = 64;

/** The key contains an escape (then it is compared decoded). */
const ESCAPED: u64 = (<u64>1) << 63;

/** Objects with at most this many keys find a duplicate by comparing the keys' text. */
const LINEAR_KEYS: i32 = 16;

const OBJ: u8 = 0;
const ARR: u8 = 1;

// Scanner states.
const S_VALUE: i32 = 0;
const S_FIRST_MEMBER: i32 = 1;
const S_MEMBER: i32 = 2;
const S_FIRST_ELEMENT: i32 = 3;
const S_AFTER_VALUE: i32 = 4;
const S_DONE: i32 = 5;

class Scanner extends JsonCursor {
  // The open containers, innermost at depth - 1 (at most MAX_DEPTH).
  depth: i32 = 0;
  kinds: StaticArray<u8> = new StaticArray<u8>(MAX_DEPTH);
  /** Index of the container's first key in the key stack. */
  kBase: StaticArray<i32> = new StaticArray<i32>(MAX_DEPTH);
  /** The container's keys decoded, once it has more than LINEAR_KEYS (else null: a scan). */
  seen: StaticArray<Set<string> | null> = new StaticArray<Set<string> | null>(MAX_DEPTH);
  /** Current element index (arrays) of each open container. */
  counts: StaticArray<i32> = new StaticArray<i32>(MAX_DEPTH);
  // The key stack: the keys of every open object, the innermost object's last, as spans of the
  // text inside the quotes (no string is made for a key: a configuration of megabytes has ~10^6
  // of them). Two u64 per key: start | end << 32 | ESCAPED, and its signature (see pushKey).
  keys: StaticArray<u64> = new StaticArray<u64>(64);
  kCount: i32 = 0;
  constructor(text: string) {
    super(text);
  }

  @inline span(k: i32): u64 {
    return load<u64>(changetype<usize>(this.keys) + ((<usize>k) << 4));
  }

  @inline sig(k: i32): u64 {
    return load<u64>(changetype<usize>(this.keys) + ((<usize>k) << 4), 8);
  }

  /** Key `k` of the key stack, decoded. */
  key(k: i32): string {
    const w = this.span(k);
    return decodeJsonString(this.text, <i32>(<u32>w), <i32>((w & ~ESCAPED) >> 32));
  }

  /** Are keys `a` and `b` the same key (escapes decoded)? */
  sameKey(a: i32, b: i32): bool {
    const wa = this.span(a);
    const wb = this.span(b);
    if (((wa | wb) & ESCAPED) == 0) {
      if (this.sig(a) != this.sig(b)) return false;
      const sa = <usize>(<u32>wa);
      const n = <usize>(wa >> 32) - sa;
      if (<usize>(wb >> 32) - <usize>(<u32>wb) != n) return false;
      return memory.compare(this.base + (sa << 1), this.base + ((<usize>(<u32>wb)) << 1), n << 1) == 0;
    }
    return this.key(a) == this.key(b);
  }

  pushKey(from: i32, to: i32, escaped: bool): void {
    if ((this.kCount << 1) >= this.keys.length) {
      const grown = new StaticArray<u64>(this.keys.length << 1);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.keys), (<usize>this.kCount) << 4);
      this.keys = grown;
    }
    const n = to - from;
    // Length, first, second and last code unit: most different keys differ here.
    const sig = n == 0 ? 0 : (<u64>n << 48) | (<u64>this.unit(from) << 32) | (<u64>this.unit(to - 1) << 16) |
      <u64>this.unit(from + (n > 1 ? 1 : 0));
    const at = changetype<usize>(this.keys) + ((<usize>this.kCount) << 4);
    store<u64>(at, <u64>(<u32>from) | (<u64>(<u32>to) << 32) | (escaped ? ESCAPED : 0));
    store<u64>(at, sig, 8);
    this.kCount++;
  }

  path(): string {
    let p = "";
    const depth = this.depth;
    for (let i = 0; i < depth; i++) {
      if (unchecked(this.kinds[i]) == OBJ) {
        // The container's current key: its last one (a nested container's keys come after it).
        const next = i + 1 < depth ? unchecked(this.kBase[i + 1]) : this.kCount;
        p = childPath(p, next > unchecked(this.kBase[i]) ? this.key(next - 1) : "");
      } else {
        p = indexPath(p, unchecked(this.counts[i]));
      }
    }
    return p;
  }

  push(kind: u8): bool {
    const d = this.depth;
    if (d >= MAX_DEPTH) {
      this.fail("nesting deeper than " + MAX_DEPTH.toString() + " levels");
      return false;
    }
    unchecked((this.kinds[d] = kind));
    unchecked((this.kBase[d] = this.kCount));
    unchecked((this.seen[d] = null));
    unchecked((this.counts[d] = 0));
    this.depth = d + 1;
    this.pos++;
    return true;
  }

  pop(): void {
    const d = --this.depth;
    this.kCount = unchecked(this.kBase[d]);
    unchecked((this.seen[d] = null));
    this.pos++;
  }

  /** Is the key just pushed (the last on the key stack) one the innermost object already has? */
  duplicateKey(): bool {
    const top = this.depth - 1;
    const base = unchecked(this.kBase[top]);
    const last = this.kCount - 1;
    let seen = unchecked(this.seen[top]);
    if (seen === null) {
      if (last - base <= LINEAR_KEYS) {
        for (let k = base; k < last; k++) if (this.sameKey(k, last)) return true;
        return false;
      }
      // Many keys (a large map): decoded into a set once, then looked up.
      const set = new Set<string>();
      for (let k = base; k < last; k++) set.add(this.key(k));
      unchecked((this.seen[top] = set));
      seen = set;
    }
    const key = this.key(last);
    if (seen.has(key)) return true;
    seen.add(key);
    return false;
  }

  /** Scans a string starting at the quote; returns the index after the closing quote, or -1. */
  value(): i32 {
    this.skipSpace();
    const c = this.at();
    if (c == 0x7b) return this.push(OBJ) ? S_FIRST_MEMBER : S_DONE;
    if (c == 0x5b) return this.push(ARR) ? S_FIRST_ELEMENT : S_DONE;
    if (c == 0x22) {
      const end = this.string();
      if (end < 0) return S_DONE;
      this.pos = end;
      return S_AFTER_VALUE;
    }
    let ok = false;
    if (c == 0x2d || isAsciiDigit(c)) ok = this.number();
    else if (c == 0x74) ok = this.literal("true");
    else if (c == 0x66) ok = this.literal("false");
    else if (c == 0x6e) ok = this.literal("null");
    else this.fail("expected a value (string, number, object, array, true, false or null), found " + this.found());
    return ok ? S_AFTER_VALUE : S_DONE;
  }

  /** `"key": ` up to the value. */
  member(): i32 {
    this.skipSpace();
    if (this.at() != 0x22) {
      this.fail("expected a double-quoted key, found " + this.found());
      return S_DONE;
    }
    const keyLine = this.line;
    const keyCol = this.column();
    const end = this.string();
    if (end < 0) return S_DONE;
    this.pushKey(this.pos + 1, end - 1, this.escaped);
    this.pos = end;
    if (this.duplicateKey()) {
      this.errors.push(
        this.path() + ": duplicate key (line " + keyLine.toString() + ", column " + keyCol.toString() +
          "); a key may appear only once in an object",
      );
    }
    this.skipSpace();
    if (this.at() != 0x3a) {
      this.fail("expected ':' after the key, found " + this.found());
      return S_DONE;
    }
    this.pos++;
    return S_VALUE;
  }

  afterValue(): i32 {
    this.skipSpace();
    const depth = this.depth;
    const c = this.at();
    if (depth == 0) {
      if (c >= 0) this.fail("expected the end of the text after the JSON value, found " + this.found());
      return S_DONE;
    }
    const kind = unchecked(this.kinds[depth - 1]);
    if (c == 0x2c) {
      this.pos++;
      this.skipSpace();
      const next = this.at();
      if (kind == OBJ) {
        if (next == 0x7d) {
          this.fail("trailing comma before '}'");
          return S_DONE;
        }
        return S_MEMBER;
      }
      if (next == 0x5d) {
        this.fail("trailing comma before ']'");
        return S_DONE;
      }
      unchecked((this.counts[depth - 1] = unchecked(this.counts[depth - 1]) + 1));
      return S_VALUE;
    }
    if (kind == OBJ && c == 0x7d) {
      this.pop();
      return S_AFTER_VALUE;
    }
    if (kind == ARR && c == 0x5d) {
      this.pop();
      return S_AFTER_VALUE;
    }
    this.fail((kind == OBJ ? "expected ',' or '}' after an object member" : "expected ',' or ']' after an array element") + ", found " + this.found());
    return S_DONE;
  }

  run(): void {
    let state = S_VALUE;
    while (state != S_DONE && !this.failed) {
      if (state == S_VALUE) {
        state = this.value();
      } else if (state == S_FIRST_MEMBER) {
        this.skipSpace();
        if (this.at() == 0x7d) {
          this.pop();
          state = S_AFTER_VALUE;
        } else {
          state = S_MEMBER;
        }
      } else if (state == S_MEMBER) {
        state = this.member();
      } else if (state == S_FIRST_ELEMENT) {
        this.skipSpace();
        if (this.at() == 0x5d) {
          this.pop();
          state = S_AFTER_VALUE;
        } else {
          state = S_VALUE;
        }
      } else {
        state = this.afterValue();
      }
    }
  }
}

/** Every syntax problem found in `text` (empty = well-formed JSON, safe for json-as). */
export function checkJson(text: string): string[] {
  const s = new Scanner(text);
  s.run();
  return s.errors;
}
