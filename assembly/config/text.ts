// Small text helpers shared by the config phases: JSON paths, quoting values for messages,
// number formatting. Pure; never aborts.

import { jsonString } from "../lib/json_text";

/** Longest excerpt of a (non-secret) value echoed in a message. */
const ECHO_MAX: i32 = 64;

export function isAsciiDigit(c: i32): bool {
  return c >= 48 && c <= 57;
}

export function isAsciiLetter(c: i32): bool {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Is `key` safe to print after a dot in a path (letters, digits, _ - $)? */
function isPlainKey(key: string): bool {
  if (key.length == 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!(isAsciiLetter(c) || isAsciiDigit(c) || c == 95 /* _ */ || c == 45 /* - */ || c == 36 /* $ */)) {
      return false;
    }
  }
  return true;
}

/** Path of member `key` under `parent`: `a.b`, or `a["odd key"]`. */
export function childPath(parent: string, key: string): string {
  if (isPlainKey(key)) return parent.length == 0 ? key : parent + "." + key;
  return parent + "[" + quote(key) + "]";
}

/** Path of element `i` under `parent`: `a[3]`. */
export function indexPath(parent: string, i: i32): string {
  return parent + "[" + i.toString() + "]";
}

/**
 * A value as a double-quoted, escaped, truncated literal for messages. Only for values that
 * are not secrets.
 */
export function quote(value: string): string {
  if (value.length <= ECHO_MAX) return jsonString(value);
  const q = jsonString(value.substring(0, ECHO_MAX));
  return q.substring(0, q.length - 1) + "…\"";
}

/** A number for messages; huge values are not echoed (json-as is inexact there). */
export function formatNumber(f: f64): string {
  if (!isFinite(f)) return "a number out of range";
  if (Math.abs(f) >= 1e15) return "a very large number";
  if (f == Math.floor(f)) return (<i64>f).toString();
  return f.toString();
}

export function hasControlOrSpace(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}
