// Reading one member's value out of a small JSON text by its key, without parsing the rest: the
// value after `"key"` and its colon, a string of a known alphabet, or a non-negative integer.
// For answers whose shape is known (token endpoints, created objects' ids) and request fields the
// filter only needs to find (stored-object references). Never traps; a value that does not fit
// is null / -1.

import { indexOf, isWs } from "./bytes";

/** Where the value of the key found at `keyAt` (`keyLen` bytes, quotes included) starts, or -1. */
export function valueAt(b: Uint8Array, keyAt: i32, keyLen: i32): i32 {
  if (keyAt < 0) return -1;
  let p = keyAt + keyLen;
  while (p < b.length && isWs(unchecked(b[p]))) p++;
  if (p >= b.length || unchecked(b[p]) != 0x3a) return -1;
  p++;
  while (p < b.length && isWs(unchecked(b[p]))) p++;
  return p < b.length ? p : -1;
}

/** Where the value of the first `key` (quoted, as bytes) followed by a colon starts, or -1. */
export function findValue(b: Uint8Array, key: Uint8Array, from: i32 = 0): i32 {
  let i = indexOf(b, key, from);
  while (i >= 0) {
    const p = valueAt(b, i, key.length);
    if (p >= 0) return p;
    i = indexOf(b, key, i + 1);
  }
  return -1;
}

/** An id character: letters, digits, '-', '_'. */
@inline export function isIdChar(c: u8): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f;
}

/**
 * The string at `p` (a `"`), at most `max` bytes without escapes; `idOnly`: made of id characters
 * only (else any byte but a backslash). Null when it is not such a string.
 */
export function stringAt(b: Uint8Array, p: i32, max: i32, idOnly: bool): string | null {
  if (p < 0 || p >= b.length || unchecked(b[p]) != 0x22) return null;
  const start = p + 1;
  let e = start;
  while (e < b.length && e - start <= max) {
    const c = unchecked(b[e]);
    if (c == 0x22) break;
    if (c == 0x5c || (idOnly && !isIdChar(c))) return null;
    e++;
  }
  if (e >= b.length || e == start || e - start > max || unchecked(b[e]) != 0x22) return null;
  return String.UTF8.decodeUnsafe(b.dataStart + start, e - start);
}

/** A non-negative integer at `p`, written as a number or as a string of digits ("3599"), or -1. */
export function intAt(b: Uint8Array, p: i32): i64 {
  if (p < 0 || p >= b.length) return -1;
  if (unchecked(b[p]) == 0x22) p++;
  let v: i64 = 0;
  let digits = 0;
  while (p < b.length && unchecked(b[p]) >= 0x30 && unchecked(b[p]) <= 0x39 && digits < 15) {
    v = v * 10 + <i64>(unchecked(b[p]) - 0x30);
    p++;
    digits++;
  }
  return digits > 0 ? v : -1;
}
