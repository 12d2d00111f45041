// The cursor of the configuration's JSON check (json_check.ts): position, line and column, the
// first error with what was found there (never echoing text that could be part of a secret), and
// JSON's lexical rules for strings, numbers and literals.

import { isAsciiDigit } from "./text";

export class JsonCursor {
  text: string;
  /** text.length, and the address of its first code unit. */
  n: i32;
  base: usize;
  pos: i32 = 0;
  line: i32 = 1;
  lineStart: i32 = 0;
  failed: bool = false;
  errors: string[] = [];
  /** Did the last string() see a backslash? */
  escaped: bool = false;

  constructor(text: string) {
    this.text = text;
    this.n = text.length;
    this.base = changetype<usize>(text);
  }

  /** The code unit at `i` (0 ≤ i < n). */
  @inline unit(i: i32): i32 {
    return <i32>load<u16>(this.base + ((<usize>i) << 1));
  }

  at(): i32 {
    return this.pos < this.n ? this.unit(this.pos) : -1;
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
    const n = this.n;
    while (this.pos < n) {
      const c = this.unit(this.pos);
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

  string(): i32 {
    const t = this.text;
    const n = this.n;
    let i = this.pos + 1;
    this.escaped = false;
    while (true) {
      // The plain run: no quote, backslash or control character.
      let c = 0;
      while (i < n) {
        c = this.unit(i);
        if (c == 0x22 || c == 0x5c || c < 0x20) break;
        i++;
      }
      if (i >= n) {
        this.pos = i;
        this.fail("unterminated string");
        return -1;
      }
      if (c == 0x22) return i + 1;
      if (c == 0x5c) {
        this.escaped = true;
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
    return -1; // not reached (asc's flow analysis does not see that the loop only returns)
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
}
