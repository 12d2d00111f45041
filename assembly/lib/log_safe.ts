// Client-supplied text in a log line. Pure.

/** A client-supplied value made safe for one log line: printable, no spaces, at most 64 chars. */
export function logSafe(v: string): string {
  if (v.length == 0) return "-";
  let out = "";
  const n = v.length < 64 ? v.length : 64;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    out += c > 0x20 && c < 0x7f && c != 0x3d ? String.fromCharCode(c) : "_";
  }
  return v.length > 64 ? out + "…" : out;
}
