// JSON string text: writing a string as a JSON literal (the one quoting helper), and decoding
// the body of a JSON string. Decoding is used for object keys: json-as 1.6 returns keys as raw
// source text, escapes undecoded, so `{"na\u006de": …}` would otherwise not be the key "name".
// Never aborts: a malformed escape (which the syntax check rejects first) is kept verbatim.

import { ByteBuilder } from "./bytes";

const HEX = "0123456789abcdef";

/** Appends `s` as a JSON string literal, quotes included (control characters and DEL as \u00XX). */
export function writeJsonString(b: ByteBuilder, s: string): void {
  b.byte(0x22);
  // Runs of plain characters are copied whole, so surrogate pairs stay pairs.
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c != 0x22 && c != 0x5c && c >= 0x20 && c != 0x7f) continue;
    if (i > from) b.str(s.substring(from, i));
    from = i + 1;
    if (c == 0x22) b.str("\\\"");
    else if (c == 0x5c) b.str("\\\\");
    else b.str("\\u00").str(HEX.charAt(c >> 4)).str(HEX.charAt(c & 15));
  }
  if (from < s.length) b.str(from == 0 ? s : s.substring(from));
  b.byte(0x22);
}

/** `s` as a JSON string literal, quotes included. */
export function jsonString(s: string): string {
  const b = new ByteBuilder(s.length + 8);
  writeJsonString(b, s);
  return String.UTF8.decode(b.finish().buffer);
}

function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Value of the 4 hex digits at `s[at..at+4]`, or -1. */
export function hex4At(s: string, at: i32): i32 {
  if (at < 0 || at + 4 > s.length) return -1;
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const h = hexValue(s.charCodeAt(at + i));
    if (h < 0) return -1;
    v = (v << 4) | h;
  }
  return v;
}

/** Decodes `raw[start..end)`, the body of a JSON string. */
export function decodeJsonString(raw: string, start: i32, end: i32): string {
  if (start < 0) start = 0;
  if (end > raw.length) end = raw.length;
  // Look for an escape inside [start, end) only: a search to the end of the text for every key
  // made configuration time quadratic in its size.
  let escaped = false;
  for (let i = start; i < end && !escaped; i++) escaped = raw.charCodeAt(i) == 92;
  if (!escaped) return raw.substring(start, end);
  const parts = new Array<string>();
  let i = start;
  let from = start;
  while (i < end) {
    const c = raw.charCodeAt(i);
    if (c != 92 || i + 1 >= end) {
      i++;
      continue;
    }
    if (i > from) parts.push(raw.substring(from, i));
    const e = raw.charCodeAt(i + 1);
    let out = -1;
    let len = 2;
    if (e == 34) out = 34;
    else if (e == 92) out = 92;
    else if (e == 47) out = 47;
    else if (e == 98) out = 8;
    else if (e == 102) out = 12;
    else if (e == 110) out = 10;
    else if (e == 114) out = 13;
    else if (e == 116) out = 9;
    else if (e == 117 && i + 6 <= end) {
      out = hex4At(raw, i + 2);
      len = 6;
    }
    if (out < 0) {
      parts.push(raw.substring(i, i + 2));
    } else {
      parts.push(String.fromCharCode(out));
    }
    i += len;
    from = i;
  }
  if (from < end) parts.push(raw.substring(from, end));
  return parts.join("");
}
