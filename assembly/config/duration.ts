// Envoy-style duration strings: "500ms", "10s", "1.5s", "2m", "1h" → whole milliseconds.

import { isAsciiDigit, quote } from "./text";

export class Duration {
  ms: i64 = 0;
  /** Empty when valid. */
  error: string = "";
}

const MAX_INT_DIGITS: i32 = 9;
const MAX_FRACTION_DIGITS: i32 = 3;

function bad(d: Duration, s: string, why: string): Duration {
  d.error = why + " (found " + quote(s) + "; write e.g. \"500ms\", \"10s\", \"1.5s\" or \"2m\")";
  return d;
}

export function parseDuration(s: string): Duration {
  const d = new Duration();
  const n = s.length;
  if (n == 0) return bad(d, s, "a duration must not be empty");
  if (s.charCodeAt(0) == 45) return bad(d, s, "a duration must not be negative");
  let i = 0;
  let whole: i64 = 0;
  while (i < n && isAsciiDigit(s.charCodeAt(i))) {
    if (i >= MAX_INT_DIGITS) return bad(d, s, "duration too large");
    whole = whole * 10 + <i64>(s.charCodeAt(i) - 48);
    i++;
  }
  if (i == 0) return bad(d, s, "a duration starts with a number");
  let frac: i64 = 0;
  let fracDigits = 0;
  if (i < n && s.charCodeAt(i) == 46) {
    i++;
    while (i < n && isAsciiDigit(s.charCodeAt(i))) {
      if (fracDigits >= MAX_FRACTION_DIGITS) return bad(d, s, "a duration has at most 3 decimal places");
      frac = frac * 10 + <i64>(s.charCodeAt(i) - 48);
      fracDigits++;
      i++;
    }
    if (fracDigits == 0) return bad(d, s, "expected digits after the decimal point");
  }
  const unit = s.substring(i);
  let unitMs: i64 = 0;
  if (unit == "ms") unitMs = 1;
  else if (unit == "s") unitMs = 1000;
  else if (unit == "m") unitMs = 60000;
  else if (unit == "h") unitMs = 3600000;
  else if (unit.length == 0) return bad(d, s, "a duration needs a unit: ms, s, m or h");
  else return bad(d, s, "unknown duration unit (use ms, s, m or h)");
  let scale: i64 = 1;
  for (let k = 0; k < fracDigits; k++) scale *= 10;
  // (whole + frac/scale) * unitMs, exactly: whole < 1e9, scale ≤ 1e3, unitMs ≤ 3.6e6.
  const total = (whole * scale + frac) * unitMs;
  if (total % scale != 0) return bad(d, s, "a duration must be a whole number of milliseconds");
  d.ms = total / scale;
  return d;
}
