// JSON's lexical rules for the request-body scanner (json_scan.ts): whitespace, strings with their
// escapes, numbers and literals, each skipped with its end checked (malformed: -1, never a trap).

import { CH_BACKSLASH, CH_MINUS, CH_QUOTE, CH_SLASH, isWs, matchAt, utf8 } from "./bytes";

export const L_TRUE = utf8("true");
export const L_FALSE = utf8("false");
export const L_NULL = utf8("null");

export function skipWs(b: Uint8Array, i: i32): i32 {
  const n = b.byteLength;
  while (i < n && isWs(load<u8>(b.dataStart + <usize>(i)))) i++;
  return i;
}

/**
 * i at an opening quote → index after the closing quote, or -1 when the string is not valid
 * JSON (unterminated, a raw control character, an unknown escape or a \u without 4 hex digits).
 */
export function skipString(b: Uint8Array, i: i32): i32 {
  const n = b.byteLength;
  i++;
  while (i < n) {
    const c = load<u8>(b.dataStart + <usize>(i));
    if (c == CH_QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c == CH_BACKSLASH) {
      if (i + 1 >= n) return -1;
      const e = load<u8>(b.dataStart + <usize>(i + 1));
      if (e == 0x75 /* u */) {
        if (i + 6 > n) return -1;
        for (let k = i + 2; k < i + 6; k++) if (!isHex(load<u8>(b.dataStart + <usize>(k)))) return -1;
        i += 6;
        continue;
      }
      if (!isSimpleEscape(e)) return -1;
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

export function isHex(c: u8): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** " \ / b f n r t */
export function isSimpleEscape(e: u8): bool {
  return e == CH_QUOTE || e == CH_BACKSLASH || e == CH_SLASH || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74;
}

export function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

/** A number (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?) or true/false/null at i → index after it, or -1. */
export function skipScalar(b: Uint8Array, i: i32): i32 {
  const n = b.byteLength;
  if (matchAt(b, i, L_TRUE)) return i + 4;
  if (matchAt(b, i, L_FALSE)) return i + 5;
  if (matchAt(b, i, L_NULL)) return i + 4;
  if (i < n && load<u8>(b.dataStart + <usize>(i)) == CH_MINUS) i++;
  if (i >= n || !isDigit(load<u8>(b.dataStart + <usize>(i)))) return -1;
  if (load<u8>(b.dataStart + <usize>(i)) == 0x30) i++;
  else while (i < n && isDigit(load<u8>(b.dataStart + <usize>(i)))) i++;
  if (i < n && load<u8>(b.dataStart + <usize>(i)) == 0x2e /* . */) {
    i++;
    if (i >= n || !isDigit(load<u8>(b.dataStart + <usize>(i)))) return -1;
    while (i < n && isDigit(load<u8>(b.dataStart + <usize>(i)))) i++;
  }
  if (i < n && (load<u8>(b.dataStart + <usize>(i)) == 0x65 || load<u8>(b.dataStart + <usize>(i)) == 0x45) /* e E */) {
    i++;
    if (i < n && (load<u8>(b.dataStart + <usize>(i)) == 0x2b || load<u8>(b.dataStart + <usize>(i)) == CH_MINUS)) i++;
    if (i >= n || !isDigit(load<u8>(b.dataStart + <usize>(i)))) return -1;
    while (i < n && isDigit(load<u8>(b.dataStart + <usize>(i)))) i++;
  }
  return i;
}

/** Is b[s, e) exactly `lit`? */
export function spanIs(b: Uint8Array, s: i32, e: i32, lit: Uint8Array): bool {
  if (e - s != lit.byteLength) return false;
  for (let k = 0; k < lit.byteLength; k++) if (load<u8>(b.dataStart + <usize>(s + k)) != load<u8>(lit.dataStart + <usize>(k))) return false;
  return true;
}

/** Does the string at [s, e) (quotes included) start with `lit`? */
export function stringStarts(b: Uint8Array, s: i32, e: i32, lit: Uint8Array): bool {
  if (e - s - 2 < lit.byteLength) return false;
  for (let k = 0; k < lit.byteLength; k++) if (load<u8>(b.dataStart + <usize>(s + 1 + k)) != load<u8>(lit.dataStart + <usize>(k))) return false;
  return true;
}
