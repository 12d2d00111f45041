/**
 * Renders the host's wasm custom stats the way Envoy's admin does (source/server/admin/
 * prometheus_stats.cc): stats live under the custom namespace `wasmcustom.`; in Prometheus text the
 * namespace is stripped, no `envoy_` prefix is added, names are sanitized to [a-zA-Z0-9_], and a
 * name that then starts with a digit is dropped. Counters, then gauges, then histograms, each sorted.
 * Histograms render as `_bucket{le="…"}` (cumulative, Envoy's bucket bounds), `_sum{}`, `_count{}`.
 */
import type { MetricSnapshot } from "../host/types.ts";

export const CUSTOM_NAMESPACE = "wasmcustom";

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

export function renderPrometheus(metrics: MetricSnapshot[]): string {
  let out = "";
  for (const type of ["counter", "gauge", "histogram"] as const) {
    const groups = new Map<string, MetricSnapshot[]>();
    for (const m of metrics.filter((m) => m.type === type).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const name = sanitize(m.name);
      if (name === "" || /^[0-9]/.test(name)) continue;
      groups.set(name, [...(groups.get(name) ?? []), m]);
    }
    for (const [name, group] of groups) {
      out += `# TYPE ${name} ${type}\n`;
      for (const m of group) out += type === "histogram" ? renderHistogram(name, m) : `${name}{} ${m.value}\n`;
    }
  }
  return out;
}

/**
 * Envoy's histogram lines (PrometheusStatsRender::generate for ParentHistogram): one cumulative
 * `_bucket` per supported bound (bound printed like `%.32g`: shortest fixed form for these
 * values), `+Inf` = sample count, then `_sum` and `_count`. Wasm stats carry no tags.
 */
function renderHistogram(name: string, m: MetricSnapshot): string {
  const count = m.count ?? 0n;
  let out = "";
  for (const b of m.buckets ?? []) out += `${name}_bucket{le="${formatBound(b.le)}"} ${b.count}\n`;
  out += `${name}_bucket{le="+Inf"} ${count}\n`;
  out += `${name}_sum{} ${m.sum ?? m.value}\n`;
  out += `${name}_count{} ${count}\n`;
  return out;
}

function formatBound(le: number): string {
  // %.32g never switches to exponent notation below 1e32 and drops trailing zeros.
  return Number.isInteger(le) ? BigInt(le).toString() : String(le);
}

/** Envoy's plain `/stats` form: `name: value`, sorted by full name. */
export function renderStatsText(metrics: MetricSnapshot[]): string {
  return metrics
    .filter((m) => m.type !== "histogram")
    .map((m) => `${CUSTOM_NAMESPACE}.${m.name}: ${m.value}`)
    .sort()
    .join("\n") + (metrics.length ? "\n" : "");
}
