// "did you mean …?" for unknown fields: nearest known name by edit distance.

function lower(c: i32): i32 {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/**
 * Edit distance counting an adjacent transposition as one edit ("hots" → "host" = 1),
 * case-insensitive; long inputs are not compared.
 */
export function editDistance(a: string, b: string): i32 {
  const n = a.length;
  const m = b.length;
  if (n > 64 || m > 64) return 1000;
  const w = m + 1;
  const d = new Array<i32>((n + 1) * w);
  for (let i = 0; i <= n; i++) unchecked((d[i * w] = i));
  for (let j = 0; j <= m; j++) unchecked((d[j] = j));
  for (let i = 1; i <= n; i++) {
    const ca = lower(a.charCodeAt(i - 1));
    for (let j = 1; j <= m; j++) {
      const cb = lower(b.charCodeAt(j - 1));
      const cost = ca == cb ? 0 : 1;
      let best = unchecked(d[(i - 1) * w + j]) + 1;
      const ins = unchecked(d[i * w + j - 1]) + 1;
      if (ins < best) best = ins;
      const sub = unchecked(d[(i - 1) * w + j - 1]) + cost;
      if (sub < best) best = sub;
      if (i > 1 && j > 1 && ca == lower(b.charCodeAt(j - 2)) && lower(a.charCodeAt(i - 2)) == cb) {
        const tr = unchecked(d[(i - 2) * w + j - 2]) + 1;
        if (tr < best) best = tr;
      }
      unchecked((d[i * w + j] = best));
    }
  }
  return unchecked(d[n * w + m]);
}

function sharedPrefix(a: string, b: string): i32 {
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && lower(a.charCodeAt(i)) == lower(b.charCodeAt(i))) i++;
  return i;
}

/** The closest candidate within a small distance, or "". */
export function nearest(name: string, candidates: string[]): string {
  let best = "";
  let bestD: i32 = 1000;
  const limit: i32 = name.length <= 4 ? 1 : name.length <= 8 ? 2 : 3;
  for (let i = 0; i < candidates.length; i++) {
    const c = unchecked(candidates[i]);
    let d = editDistance(name, c);
    // "retries" → "retry", "healthcheck" → "healthCheck": a shared start counts for a lot.
    if (d > limit && d <= 3 && sharedPrefix(name, c) >= 4) d = limit;
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= limit ? best : "";
}
