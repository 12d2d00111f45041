/** Request records: what every request carried, and what the mock did with it. */
import type { IncomingMessage } from "node:http";
import type { Credential, RequestRecord } from "./types.ts";

/** Raw header pairs with lower-case names (Node's req.headers drops duplicate authorization). */
export function rawHeaderPairs(req: IncomingMessage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    out.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  }
  return out;
}

export function joinHeaders(pairs: Array<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) out[k] = k in out ? `${out[k]}, ${v}` : v;
  return out;
}

/** Distinct (scheme, value) pairs across records, in first-seen order. */
export function distinctCredentials(records: readonly RequestRecord[]): Credential[] {
  const seen = new Set<string>();
  const out: Credential[] = [];
  for (const r of records) {
    for (const c of r.credentials.length ? r.credentials : [r.credential]) {
      const key = `${c.scheme}\u0000${c.value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(c);
    }
  }
  return out;
}
