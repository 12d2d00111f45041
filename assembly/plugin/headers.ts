// Reading the provider's rate-limit headers.

import { getHeader, MapType } from "../host/calls";

function parseNumber(s: string): f64 {
  if (s.length == 0) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || c == 0x2e)) return -1;
  }
  return F64.parseFloat(s);
}

/** Longest cooldown a provider's retry-after can ask for (a hostile or absurd value is capped). */
export const MAX_RETRY_AFTER_MS: i64 = 3_600_000;

/** retry-after-ms, else retry-after (seconds), else 0; capped at MAX_RETRY_AFTER_MS. */
export function retryAfterMs(map: MapType): i64 {
  const ms = getHeader(map, "retry-after-ms");
  if (ms !== null) {
    const v = parseNumber(ms.trim());
    if (v >= 0) return v >= <f64>MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : <i64>Math.ceil(v);
  }
  const s = getHeader(map, "retry-after");
  if (s !== null) {
    const v = parseNumber(s.trim());
    if (v >= 0) return v * 1000 >= <f64>MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : <i64>Math.ceil(v * 1000);
  }
  return 0;
}

/** An integer header value, or -1. */
export function intHeader(map: MapType, name: string): i64 {
  const v = getHeader(map, name);
  if (v === null) return -1;
  const n = parseNumber(v.trim());
  if (n < 0) return -1;
  return n >= 1e15 ? 1_000_000_000_000_000 : <i64>n;
}
