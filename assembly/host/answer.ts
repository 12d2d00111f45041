// Reads what the planning layer needs of an answer from the host: its headers (in-band
// response or http_call answer) and the start of its body.

import { AnswerHeaders, ERROR_BODY_PREFIX, parseCount, parseRetryAfterMs, parseStatus } from "../plan/answer";
import { BufferType, getBuffer, getHeader, MapType } from "./calls";

export function readAnswerHeaders(map: MapType): AnswerHeaders {
  const h = new AnswerHeaders();
  h.status = parseStatus(getHeader(map, ":status"));
  if (h.status == 429) h.retryAfterMs = parseRetryAfterMs(getHeader(map, "retry-after-ms"), getHeader(map, "retry-after"));
  h.remainingTokens = parseCount(getHeader(map, "x-ratelimit-remaining-tokens"));
  h.remainingRequests = parseCount(getHeader(map, "x-ratelimit-remaining-requests"));
  return h;
}

/** The first ERROR_BODY_PREFIX bytes of a body of `size` bytes (null when empty or unreadable). */
export function readBodyPrefix(type: BufferType, size: u32): Uint8Array | null {
  if (size == 0) return null;
  const b = getBuffer(type, 0, size < ERROR_BODY_PREFIX ? size : ERROR_BODY_PREFIX);
  return b !== null ? Uint8Array.wrap(b) : null;
}
