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

/** retry-after-ms, else retry-after (seconds), else 0. */
export function retryAfterMs(map: MapType): i64 {
  const ms = getHeader(map, "retry-after-ms");
  if (ms !== null) {
    const v = parseNumber(ms.trim());
    if (v >= 0) return <i64>Math.ceil(v);
  }
  const s = getHeader(map, "retry-after");
  if (s !== null) {
    const v = parseNumber(s.trim());
    if (v >= 0) return <i64>Math.ceil(v * 1000);
  }
  return 0;
}

/** An integer header value, or -1. */
export function intHeader(map: MapType, name: string): i64 {
  const v = getHeader(map, name);
  if (v === null) return -1;
  const n = parseNumber(v.trim());
  return n >= 0 ? <i64>n : -1;
}
