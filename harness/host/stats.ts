/**
 * Process-wide stats by name (Envoy scope `wasmcustom.<name>`): metric ids are per VM, the
 * values they point at are shared by every VM (and by a reconfigured PluginHost).
 *
 * Histograms keep every observation in Envoy's default bucket layout (the buckets a wasm
 * histogram gets unless the bootstrap's `stats_config.histogram_bucket_settings` says otherwise).
 * Envoy merges worker histograms into the parent on each stats flush (5 s by default); the
 * harness shows observations at once.
 */
import type { MetricSnapshot } from "./types.ts";

export type StatType = "counter" | "gauge" | "histogram";

/** Envoy's default histogram bucket upper bounds (source/common/stats/histogram_impl.cc). */
export const ENVOY_DEFAULT_HISTOGRAM_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

export interface Stat {
  name: string;
  type: StatType;
  /** Counters and gauges: the value. Histograms: the sum of all observations. */
  value: bigint;
  /** Histograms: number of recorded samples. */
  samples: number;
  /** Histograms: observations per bucket (not cumulative), index as ENVOY_DEFAULT_HISTOGRAM_BUCKETS. */
  bucketCounts?: bigint[];
}

/** Records one histogram observation (Envoy Histogram::recordValue). */
export function observe(stat: Stat, value: bigint): void {
  stat.value = BigInt.asUintN(64, stat.value + value);
  stat.samples++;
  const counts = (stat.bucketCounts ??= ENVOY_DEFAULT_HISTOGRAM_BUCKETS.map(() => 0n));
  const i = ENVOY_DEFAULT_HISTOGRAM_BUCKETS.findIndex((le) => value <= le);
  if (i >= 0) counts[i]!++;
}

export class Stats {
  private readonly stats = new Map<string, Stat>();

  stat(type: StatType, name: string): Stat {
    const key = `${type}\u0000${name}`;
    let s = this.stats.get(key);
    if (!s) {
      s = { name, type, value: 0n, samples: 0 };
      if (type === "histogram") s.bucketCounts = ENVOY_DEFAULT_HISTOGRAM_BUCKETS.map(() => 0n);
      this.stats.set(key, s);
    }
    return s;
  }

  snapshot(): MetricSnapshot[] {
    return [...this.stats.values()].map((s) => {
      if (s.type !== "histogram") return { name: s.name, type: s.type, value: s.value };
      let running = 0n;
      const buckets = ENVOY_DEFAULT_HISTOGRAM_BUCKETS.map((le, i) => {
        running += s.bucketCounts?.[i] ?? 0n;
        return { le, count: running };
      });
      return { name: s.name, type: s.type, value: s.value, buckets, sum: s.value, count: BigInt(s.samples) };
    });
  }
}
