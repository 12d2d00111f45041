/** Small numeric helpers for the bench (no timing thresholds live here: only summaries). */

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function sortNumbers(values: number[]): Float64Array {
  return Float64Array.from(values).sort();
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export function summarize(values: number[]): Summary {
  const s = sortNumbers(values);
  let sum = 0;
  for (const v of values) sum += v;
  return { n: values.length, p50: percentile(s, 50), p99: percentile(s, 99), mean: values.length ? sum / values.length : NaN };
}

export const ratio = (a: number, b: number): number => (b === 0 || !Number.isFinite(b) ? NaN : a / b);

export function median(values: number[]): number {
  return percentile(sortNumbers(values), 50);
}
