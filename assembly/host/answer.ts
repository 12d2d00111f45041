// Reads what the planning layer needs of an answer from the host: its headers (in-band
// response or http_call answer) and the start of its body.

import { AnswerHeaders, ERROR_BODY_PREFIX, parseCount, parseRetryAfterMs, parseStatus } from "../plan/answer";
import { utf8 } from "../lib/bytes";
import { BufferType, getBuffer, getHeaderPairsRaw, MapType, PairsReader } from "./calls";

const STATUS = utf8(":status");
const RETRY_AFTER_MS = utf8("retry-after-ms");
const RETRY_AFTER = utf8("retry-after");
const REMAINING_TOKENS = utf8("x-ratelimit-remaining-tokens");
const REMAINING_REQUESTS = utf8("x-ratelimit-remaining-requests");
const CONTENT_TYPE = utf8("content-type");
/** Content types most answers carry, kept as constants (matched as bytes, not decoded). */
const KNOWN_TYPES: string[] = ["application/json", "text/event-stream", "application/json; charset=utf-8", "text/event-stream; charset=utf-8"];
const KNOWN_TYPE_BYTES: Uint8Array[] = KNOWN_TYPES.map<Uint8Array>((t: string) => utf8(t));

/**
 * What the planning layer reads of an answer's headers, from one get_header_map_pairs (the first
 * value of a repeated header, as get_header_map_value answers). `watch` (lower-case names, at most
 * 32): bit i of `present` is set when watch[i] is among the headers.
 */
/** The watch list last indexed: its names' lengths as bits, and per length (& 63) the indices of its names of that length. */
let indexedWatch: Uint8Array[] | null = null;
let indexedLengths: u64 = 0;
const indexedByLength: Array<i32[]> = byLengthTable();

function byLengthTable(): Array<i32[]> {
  const t = new Array<i32[]>(64);
  for (let i = 0; i < 64; i++) unchecked((t[i] = []));
  return t;
}

function indexWatch(watch: Uint8Array[]): void {
  for (let i = 0; i < 64; i++) unchecked(indexedByLength[i]).length = 0;
  indexedLengths = 0;
  for (let i = 0; i < watch.length; i++) {
    const n = unchecked(watch[i]).byteLength & 63;
    indexedLengths |= <u64>1 << <u64>n;
    unchecked(indexedByLength[n]).push(i);
  }
  indexedWatch = watch;
}

export function readAnswerHeaders(map: MapType, watch: Uint8Array[] | null = null): AnswerHeaders {
  const h = new AnswerHeaders();
  const buf = getHeaderPairsRaw(map);
  if (buf === null) return h;
  const r = new PairsReader(buf);
  // Plain digits (the usual value) are read in place; anything else as the parsers read text.
  let status: i32 = 0;
  let haveStatus = false;
  let retryMs: string | null = null;
  let retry: string | null = null;
  let tokens: i64 = -1;
  let haveTokens = false;
  let requests: i64 = -1;
  let haveRequests = false;
  let contentType: string | null = null;
  let present: u64 = 0;
  // Bit (n & 63) set when some watched name is n bytes long: most headers are passed over on their
  // length, and the others compared only with the watched names of their length (indexed once per list).
  if (watch !== null && watch !== indexedWatch) indexWatch(watch);
  const watchLengths: u64 = watch !== null ? indexedLengths : 0;
  while (r.next()) {
    const len = r.nameLen;
    if (len == 0) continue;
    const c0 = load<u8>(r.name);
    if (c0 == 0x3a) {
      if (!haveStatus && r.nameIs(STATUS)) {
        haveStatus = true;
        const d = digits(r.value, r.valueLen);
        status = r.valueLen == 3 && d >= 0 ? <i32>d : parseStatus(r.valueString());
      }
    } else if (len == 28 || len == 30) {
      if (!haveTokens && r.nameIs(REMAINING_TOKENS)) {
        haveTokens = true;
        const d = digits(r.value, r.valueLen);
        tokens = d >= 0 ? d : parseCount(r.valueString());
      } else if (!haveRequests && r.nameIs(REMAINING_REQUESTS)) {
        haveRequests = true;
        const d = digits(r.value, r.valueLen);
        requests = d >= 0 ? d : parseCount(r.valueString());
      }
    } else if (len == 12) {
      if (contentType === null && r.nameIs(CONTENT_TYPE)) contentType = r.valueOneOf(KNOWN_TYPES, KNOWN_TYPE_BYTES);
    } else if (len == 14) {
      if (retryMs === null && r.nameIs(RETRY_AFTER_MS)) retryMs = r.valueString();
    } else if (len == 11) {
      if (retry === null && r.nameIs(RETRY_AFTER)) retry = r.valueString();
    }
    if ((watchLengths & (<u64>1 << <u64>(len & 63))) != 0) {
      const same = unchecked(indexedByLength[len & 63]);
      for (let k = 0; k < same.length; k++) {
        const i = unchecked(same[k]);
        if (r.nameIs(unchecked(watch![i]))) present |= <u64>1 << <u64>i;
      }
    }
  }
  h.status = status;
  if (h.status == 429) h.retryAfterMs = parseRetryAfterMs(retryMs, retry);
  h.remainingTokens = tokens;
  h.remainingRequests = requests;
  h.contentType = contentType;
  h.present = present;
  if (watch !== null) h.pairs = buf;
  return h;
}

/** A value of 1 to 15 ASCII digits and nothing else, as a number (what parseStatus/parseCount make of it); -1 otherwise. */
function digits(p: usize, n: i32): i64 {
  if (n < 1 || n > 15) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(p + <usize>i) - 0x30;
    if (<u32>c > 9) return -1;
    v = v * 10 + <i64>c;
  }
  return v;
}

/** The first ERROR_BODY_PREFIX bytes of a body of `size` bytes (null when empty or unreadable). */
export function readBodyPrefix(type: BufferType, size: u32): Uint8Array | null {
  if (size == 0) return null;
  const b = getBuffer(type, 0, size < ERROR_BODY_PREFIX ? size : ERROR_BODY_PREFIX);
  return b !== null ? Uint8Array.wrap(b) : null;
}
