// The stored objects a request body refers to, read by the request-body scanner (json_scan.ts) in
// its one pass — the body's only reader: top-level previous_response_id, conversation (a string
// or {"id": …}), input_file_id and file_id, reasoning items replayed in input[] (their `id`) and
// input files in input[].content[].file_id. Nothing else in the body (metadata, text) counts.
// Keys and values are read as the provider reads them: JSON escapes decoded ("\u0069d" is `id`;
// a consumer must not hide another's id from the gateway in an escape the provider decodes).

import { CH_BACKSLASH, decode, utf8 } from "./bytes";
import { idLike, MAX_ID, MAX_IDS } from "./ids";
import { decodeJsonString } from "./json_text";
import { skipString, skipWs, spanIs } from "./json_lex";

export const REF_OTHER: u8 = 0;
export const REF_ID: u8 = 1;
export const REF_CONTENT: u8 = 2;
export const REF_FILE: u8 = 3;

const R_ID = utf8("\"id\"");
const R_CONTENT = utf8("\"content\"");
const R_FILE_ID = utf8("\"file_id\"");

function hasEscape(b: Uint8Array, s: i32, e: i32): bool {
  for (let k = s + 1; k < e - 1; k++) if (load<u8>(b.dataStart + <usize>k) == CH_BACKSLASH) return true;
  return false;
}

/** The string token [s, e) (quotes included) as the provider reads it. */
function stringValue(b: Uint8Array, s: i32, e: i32): string {
  const raw = decode(b, s + 1, e - 1);
  return hasEscape(b, s, e) ? decodeJsonString(raw, 0, raw.length) : raw;
}

/** Which key of interest inside input[] the key token [s, e) is (escapes decoded). */
export function refKeyOf(b: Uint8Array, s: i32, e: i32): u8 {
  if (!hasEscape(b, s, e)) {
    return spanIs(b, s, e, R_ID) ? REF_ID : spanIs(b, s, e, R_CONTENT) ? REF_CONTENT : spanIs(b, s, e, R_FILE_ID) ? REF_FILE : REF_OTHER;
  }
  const k = stringValue(b, s, e);
  return k == "id" ? REF_ID : k == "content" ? REF_CONTENT : k == "file_id" ? REF_FILE : REF_OTHER;
}

/** Adds the string token [s, e) to `out` when it is an id starting with `prefix` (at most MAX_IDS, no repeats). */
export function addRef(out: string[], b: Uint8Array, s: i32, e: i32, prefix: string): void {
  if (out.length >= MAX_IDS || e - s - 2 > MAX_ID * 6) return;
  const id = stringValue(b, s, e);
  if (id.length > MAX_ID || !idLike(id) || !id.startsWith(prefix) || out.includes(id)) return;
  out.push(id);
}

/** `conversation` as an object: its `id` (a "conv…" id), at the object's own level. */
export function addConversationRef(out: string[], b: Uint8Array, vs: i32, ve: i32): void {
  let i = skipWs(b, vs + 1);
  while (i < ve && load<u8>(b.dataStart + <usize>i) == 0x22) {
    const ks = i;
    const ke = skipString(b, i);
    if (ke < 0) return;
    i = skipWs(b, ke);
    if (i >= ve || load<u8>(b.dataStart + <usize>i) != 0x3a) return;
    i = skipWs(b, i + 1);
    if (i >= ve) return;
    const vEnd = skipFlat(b, i, ve);
    if (vEnd < 0) return;
    if (load<u8>(b.dataStart + <usize>i) == 0x22 && refKeyOf(b, ks, ke) == REF_ID) addRef(out, b, i, vEnd, "conv");
    i = skipWs(b, vEnd);
    if (i < ve && load<u8>(b.dataStart + <usize>i) == 0x2c) i = skipWs(b, i + 1);
  }
}

/** The end of the value at i inside an already-checked object ending at `limit` (strings skipped whole; containers by depth). */
function skipFlat(b: Uint8Array, i: i32, limit: i32): i32 {
  let depth = 0;
  while (i < limit) {
    const c = load<u8>(b.dataStart + <usize>i);
    if (c == 0x22) {
      const e = skipString(b, i);
      if (e < 0) return -1;
      i = e;
      if (depth == 0) return i;
      continue;
    }
    if (c == 0x7b || c == 0x5b) depth++;
    else if (c == 0x7d || c == 0x5d) {
      if (depth == 0) return i;
      depth--;
      if (depth == 0) return i + 1;
    } else if (depth == 0 && (c == 0x2c)) return i;
    i++;
  }
  return i;
}
