/**
 * Renders the host's wasm custom stats the way Envoy's admin does (source/server/admin/
 * prometheus_stats.cc): stats live under the custom namespace `wasmcustom.`; in Prometheus text the
 * namespace is stripped, no `envoy_` prefix is added, names are sanitized to [a-zA-Z0-9_], and a
 * name that then starts with a digit is dropped. Counters, then gauges, then histograms, each sorted.
 */
import type { MetricSnapshot } from "../host/types.ts";

export const CUSTOM_NAMESPACE = "wasmcustom";

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

export function renderPrometheus(metrics: MetricSnapshot[]): string {
  let out = "";
  for (const type of ["counter", "gauge"] as const) {
    const groups = new Map<string, bigint[]>();
    for (const m of metrics.filter((m) => m.type === type).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const name = sanitize(m.name);
      if (name === "" || /^[0-9]/.test(name)) continue;
      groups.set(name, [...(groups.get(name) ?? []), m.value]);
    }
    for (const [name, values] of groups) {
      out += `# TYPE ${name} ${type}\n`;
      for (const v of values) out += `${name}{} ${v}\n`;
    }
  }
  // Histograms: the host's snapshot carries one value, not buckets; they are left out (see README).
  return out;
}

/** Envoy's plain `/stats` form: `name: value`, sorted by full name. */
export function renderStatsText(metrics: MetricSnapshot[]): string {
  return metrics
    .filter((m) => m.type !== "histogram")
    .map((m) => `${CUSTOM_NAMESPACE}.${m.name}: ${m.value}`)
    .sort()
    .join("\n") + (metrics.length ? "\n" : "");
}
