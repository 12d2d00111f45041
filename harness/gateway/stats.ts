/**
 * Renders the host's wasm custom stats the way Envoy's admin does (source/server/admin/
 * prometheus_stats.cc): stats live under the custom namespace `wasmcustom.`; in Prometheus text the
 * namespace is stripped, no `envoy_` prefix is added, names are sanitized to [a-zA-Z0-9_], and a
 * name that then starts with a digit is dropped. Counters, then gauges, then histograms, each sorted.
 * Histograms render as `_bucket{le="…"}` (cumulative, Envoy's bucket bounds), `_sum{}`, `_count{}`.
 */
import type { MetricSnapshot } from "../host/types.ts";
import type { StatsTag } from "./bootstrap.ts";

export const CUSTOM_NAMESPACE = "wasmcustom";

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

/**
 * Envoy's tag extraction (stats_config.stats_tags): each regex is searched in the full stat name;
 * its first capture group is removed from the name and its second (or only) group is the tag value.
 */
export function extractTags(fullName: string, tags: readonly StatsTag[]): { name: string; tags: Array<[string, string]> } {
  let name = fullName;
  const out: Array<[string, string]> = [];
  for (const t of tags) {
    const m = t.regex.exec(name);
    if (!m || m[1] === undefined) continue;
    out.push([t.name, m[2] ?? m[1]]);
    name = name.slice(0, m.index + m[0].indexOf(m[1])) + name.slice(m.index + m[0].indexOf(m[1]) + m[1].length);
  }
  return { name, tags: out };
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export function renderPrometheus(metrics: MetricSnapshot[], statsTags: readonly StatsTag[] = []): string {
  let out = "";
  for (const type of ["counter", "gauge", "histogram"] as const) {
    const groups = new Map<string, Array<{ m: MetricSnapshot; labels: string }>>();
    for (const m of metrics.filter((m) => m.type === type)) {
      const { name: extracted, tags } = extractTags(`${CUSTOM_NAMESPACE}.${m.name}`, statsTags);
      const name = sanitize(extracted.slice(CUSTOM_NAMESPACE.length + 1));
      if (name === "" || /^[0-9]/.test(name)) continue;
      const labels = tags.map(([k, v]) => `${sanitize(k)}="${escapeLabel(v)}"`).join(",");
      groups.set(name, [...(groups.get(name) ?? []), { m, labels }]);
    }
    for (const name of [...groups.keys()].sort()) {
      const group = groups.get(name)!.sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
      out += `# TYPE ${name} ${type}\n`;
      for (const { m, labels } of group) out += type === "histogram" ? renderHistogram(name, m, labels) : `${name}{${labels}} ${m.value}\n`;
    }
  }
  return out;
}

/**
 * Envoy's histogram lines (PrometheusStatsRender::generate for ParentHistogram): one cumulative
 * `_bucket` per supported bound (bound printed like `%.32g`: shortest fixed form for these
 * values), `+Inf` = sample count, then `_sum` and `_count`. Wasm stats carry no tags.
 */
function renderHistogram(name: string, m: MetricSnapshot, labels = ""): string {
  const count = m.count ?? 0n;
  const pre = labels ? `${labels},` : "";
  let out = "";
  for (const b of m.buckets ?? []) out += `${name}_bucket{${pre}le="${formatBound(b.le)}"} ${b.count}\n`;
  out += `${name}_bucket{${pre}le="+Inf"} ${count}\n`;
  out += `${name}_sum{${labels}} ${m.sum ?? m.value}\n`;
  out += `${name}_count{${labels}} ${count}\n`;
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
