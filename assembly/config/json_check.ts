// Phase 1: a JSON syntax check that never aborts. json-as aborts (traps the VM) on malformed
// JSON, so nothing reaches it before this scan has accepted the whole text.
// Reports the first syntax error with line/column and what was expected, plus every
// duplicate key (with its JSON path), and bounds nesting so later recursive phases stay
// within the stack.

import { decodeJsonString } from "../lib/json_text";
import { childPath, indexPath, isAsciiDigit } from "./text";

export const MAX_DEPTH: i32 = 64;

const OBJ: u8 = 0;
const ARR: u8 = 1;

// Scanner states.
const S_VALUE: i32 = 0;
const S_FIRST_MEMBER: i32 = 1;
const S_MEMBER: i32 = 2;
const S_FIRST_ELEMENT: i32 = 3;
const S_AFTER_VALUE: i32 = 4;
const S_DONE: i32 = 5;

class Scanner {
  text: string;
  pos: i32 = 0;
  line: i32 = 1;
  lineStart: i32 = 0;
  failed: bool = false;
  errors: string[] = [];
  // One entry per open container.
  kinds: u8[] = [];
  seen: Array<Set<string>> = [];
  /** Current member key (objects) of each open container. */
  keys: string[] = [];
  /** Current element index (arrays) of each open container. */
  counts: i32[] = [];

  constructor(text: string) {
    this.text = text;
  }

  at(): i32 {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  column(): i32 {
    return this.pos - this.lineStart + 1;
  }

  fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.errors.push(
      "configuration: invalid JSON at line " + this.line.toString() + ", column " +
        this.column().toString() + ": " + message,
    );
  }

  /** What is at the cursor, for messages; never echoes text that could be part of a secret. */
  found(): string {
    const c = this.at();
    if (c < 0) return "end of input";
    if (c == 0xa0 || c == 0xfeff || c == 0x3000 || (c >= 0x2000 && c <= 0x200b) || c == 0x2028 || c == 0x2029) {
      return "a space character JSON does not allow (U+" + c.toString(16).toUpperCase().padStart(4, "0") + ")";
    }
    if (c == 0x27) return "' (strings and keys must use double quotes)";
    if (c == 0x2f) return "/ (comments are not allowed in JSON)";
    if (c == 0x7b || c == 0x7d || c == 0x5b || c == 0x5d || c == 0x2c || c == 0x3a || c == 0x22) {
      return "'" + String.fromCharCode(c) + "'";
    }
    if (c < 0x20) return "a control character";
    return "an unexpected character";
  }

  skipSpace(): void {
    const t = this.text;
    const n = t.length;
    while (this.pos < n) {
      const c = t.charCodeAt(this.pos);
      if (c == 0x20 || c == 0x09 || c == 0x0d) {
        this.pos++;
      } else if (c == 0x0a) {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else {
        break;
      }
    }
  }

  path(): string {
    let p = "";
    for (let i = 0; i < this.kinds.length; i++) {
      if (unchecked(this.kinds[i]) == OBJ) p = childPath(p, unchecked(this.keys[i]));
      else p = indexPath(p, unchecked(this.counts[i]));
    }
    return p;
  }

  push(kind: u8): bool {
    if (this.kinds.length >= MAX_DEPTH) {
      this.fail("nesting deeper than " + MAX_DEPTH.toString() + " levels");
      return false;
    }
    this.kinds.push(kind);
    this.seen.push(new Set<string>());
    this.keys.push("");
    this.counts.push(0);
    this.pos++;
    return true;
  }

  pop(): void {
    this.kinds.pop();
    this.seen.pop();
    this.keys.pop();
    this.counts.pop();
    this.pos++;
  }

  /** Scans a string starting at the quote; returns the index after the closing quote, or -1. */
  string(): i32 {
    const t = this.text;
    const n = t.length;
    let i = this.pos + 1;
    while (true) {
      if (i >= n) {
        this.pos = i;
        this.fail("unterminated string");
        return -1;
      }
      const c = t.charCodeAt(i);
      if (c == 0x22) return i + 1;
      if (c == 0x5c) {
        const e = i + 1 < n ? t.charCodeAt(i + 1) : -1;
        if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
          i += 2;
          continue;
        }
        if (e == 0x75) {
          let ok = i + 6 <= n;
          for (let k = i + 2; ok && k < i + 6; k++) {
            const h = t.charCodeAt(k);
            ok = isAsciiDigit(h) || (h >= 0x61 && h <= 0x66) || (h >= 0x41 && h <= 0x46);
          }
          if (ok) {
            i += 6;
            continue;
          }
          this.pos = i;
          this.fail("invalid \\u escape in string (expected 4 hex digits)");
          return -1;
        }
        this.pos = i;
        this.fail("invalid escape sequence in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        return -1;
      }
      if (c < 0x20) {
        this.pos = i;
        this.fail(c == 0x0a ? "unterminated string (line break inside a string)" : "control character inside a string (write it as an escape such as \\t)");
        return -1;
      }
      i++;
    }
  }

  digits(what: string): bool {
    if (!isAsciiDigit(this.at())) {
      this.fail("expected a digit " + what + ", found " + this.found());
      return false;
    }
    while (isAsciiDigit(this.at())) this.pos++;
    return true;
  }

  number(): bool {
    if (this.at() == 0x2d) this.pos++;
    if (this.at() == 0x30) {
      this.pos++;
      if (isAsciiDigit(this.at())) {
        this.fail("numbers must not have leading zeros");
        return false;
      }
    } else if (!this.digits("in number")) {
      return false;
    }
    if (this.at() == 0x2e) {
      this.pos++;
      if (!this.digits("after the decimal point")) return false;
    }
    const e = this.at();
    if (e == 0x65 || e == 0x45) {
      this.pos++;
      const s = this.at();
      if (s == 0x2b || s == 0x2d) this.pos++;
      if (!this.digits("in the exponent")) return false;
    }
    return true;
  }

  literal(word: string): bool {
    const t = this.text;
    if (this.pos + word.length <= t.length && t.substring(this.pos, this.pos + word.length) == word) {
      this.pos += word.length;
      return true;
    }
    this.fail("expected a value (string, number, object, array, true, false or null), found " + this.found());
    return false;
  }

  /** A scalar or the opening of a container. Returns the next state. */
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
    const key = decodeJsonString(this.text, this.pos + 1, end - 1);
    this.pos = end;
    const top = this.kinds.length - 1;
    unchecked((this.keys[top] = key));
    const seen = unchecked(this.seen[top]);
    if (seen.has(key)) {
      this.errors.push(
        this.path() + ": duplicate key (line " + keyLine.toString() + ", column " + keyCol.toString() +
          "); a key may appear only once in an object",
      );
    } else {
      seen.add(key);
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
    const depth = this.kinds.length;
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
