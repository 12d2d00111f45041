// Shapes of the identifier-like strings in the configuration.

import { isAsciiDigit, isAsciiLetter } from "./text";

/** [A-Za-z0-9._-]{1,64}: provider and consumer names, Azure deployment names. */
export function isName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!(isAsciiLetter(c) || isAsciiDigit(c) || c == 46 || c == 95 || c == 45)) return false;
  }
  return true;
}

export const NAME_RULE = "must be 1-64 characters of letters, digits, '.', '_' or '-'";

/** An environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 256 characters. */
export function isEnvName(s: string): bool {
  if (s.length == 0 || s.length > 256) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!(isAsciiLetter(c) || c == 95 || (i > 0 && isAsciiDigit(c)))) return false;
  }
  return true;
}

/** Printable ASCII without spaces (a header value that cannot split or inject headers). */
export function isHeaderToken(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function digitsAt(s: string, from: i32, n: i32): bool {
  for (let i = from; i < from + n; i++) if (!isAsciiDigit(s.charCodeAt(i))) return false;
  return true;
}

/** YYYY-MM-DD or YYYY-MM-DD-preview (month 01-12, day 01-31). */
export function isApiVersion(s: string): bool {
  if (s.length != 10 && !(s.length == 18 && s.endsWith("-preview"))) return false;
  if (!digitsAt(s, 0, 4) || s.charCodeAt(4) != 45 || !digitsAt(s, 5, 2) || s.charCodeAt(7) != 45 || !digitsAt(s, 8, 2)) {
    return false;
  }
  const month = (s.charCodeAt(5) - 48) * 10 + (s.charCodeAt(6) - 48);
  const day = (s.charCodeAt(8) - 48) * 10 + (s.charCodeAt(9) - 48);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/** "" when `p` is a path prefix: "/seg/seg", no trailing "/", no query, no dot segments. */
export function checkPathPrefix(p: string): string {
  if (p.length == 0) return "";
  if (p.charCodeAt(0) != 47) return "must start with \"/\"";
  if (p.length > 1 && p.charCodeAt(p.length - 1) == 47) return "must not end with \"/\"";
  if (p == "/") return "must not be \"/\" alone (leave it empty for no prefix)";
  return checkPathChars(p, false);
}

/** "" when `p` is a probe path: starts with "/", may carry a query. */
export function checkProbePath(p: string): string {
  if (p.length == 0 || p.charCodeAt(0) != 47) return "must start with \"/\"";
  return checkPathChars(p, true);
}

function checkPathChars(p: string, allowQuery: bool): string {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return "must contain only printable ASCII without spaces (percent-encode others)";
    if (c == 35) return "must not contain '#'";
    if (c == 63 && !allowQuery) return "must not contain a query ('?')";
  }
  const q = p.indexOf("?");
  const path = q >= 0 ? p.substring(0, q) : p;
  if (path.includes("//")) return "must not contain empty segments (\"//\")";
  const segs = path.split("/");
  for (let i = 0; i < segs.length; i++) {
    const s = unchecked(segs[i]);
    if (s == "." || s == "..") return "must not contain \".\" or \"..\" segments";
  }
  return "";
}
