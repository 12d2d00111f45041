/** Admin listener with the few Envoy admin endpoints the project uses. */
import http from "node:http";
import type { MetricSnapshot } from "../host/types.ts";
import type { ClusterManager } from "./clusters.ts";
import { renderPrometheus, renderStatsText } from "./stats.ts";
import type { StatsTag } from "./bootstrap.ts";

export interface AdminState {
  ready(): boolean;
  metrics(): MetricSnapshot[];
  clusters: ClusterManager;
  /** stats_config.stats_tags of the bootstrap. */
  statsTags?: StatsTag[];
}

const HELP = `admin commands are:
  /clusters: upstream cluster status
  /ready: print server state, return 200 if LIVE, otherwise return 503
  /stats: print server stats
  /stats/prometheus: print server stats in prometheus format
`;

export function createAdminServer(state: AdminState): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const send = (status: number, body: string, type = "text/plain; charset=UTF-8") => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-cache, max-age=0", "x-content-type-options": "nosniff" });
      res.end(body);
    };
    try {
      switch (path) {
        case "/ready":
          return state.ready() ? send(200, "LIVE\n") : send(503, "PRE_INITIALIZING\n");
        case "/stats/prometheus":
          return send(200, renderPrometheus(state.metrics(), state.statsTags ?? []) + renderClusterPrometheus(state.clusters));
        case "/stats":
          return send(200, renderStatsText(state.metrics()) + renderClusterText(state.clusters));
        case "/clusters": {
          let out = "";
          for (const name of state.clusters.names()) {
            for (const ep of state.clusters.config(name)!.endpoints)
              out += `${name}::${ep.address}:${ep.port}::health_flags::healthy\n`;
          }
          return send(200, out);
        }
        case "/":
        case "/help":
          return send(200, HELP);
        default:
          return send(404, `invalid path. ${HELP}`);
      }
    } catch (e) {
      send(500, `${(e as Error).message}\n`);
    }
  });
}

/**
 * The router's cluster counters (upstream_rq_retry, upstream_rq_retry_success,
 * upstream_rq_retry_overflow, …), as Envoy names them: `cluster.<name>.<stat>` in /stats, and
 * `envoy_cluster_<stat>{envoy_cluster_name="<name>"}` in Prometheus text (the default tag
 * extraction). Only counters the gateway touched appear (Envoy lists every one, zeros included).
 */
function renderClusterText(clusters: ClusterManager): string {
  return clusters.clusterStats().map((s) => `cluster.${s.cluster}.${s.name}: ${s.value}\n`).sort().join("");
}

function renderClusterPrometheus(clusters: ClusterManager): string {
  const byName = new Map<string, string[]>();
  for (const s of clusters.clusterStats()) {
    const line = `envoy_cluster_${s.name}{envoy_cluster_name="${s.cluster}"} ${s.value}\n`;
    byName.set(s.name, [...(byName.get(s.name) ?? []), line]);
  }
  let out = "";
  for (const name of [...byName.keys()].sort()) out += `# TYPE envoy_cluster_${name} counter\n` + byName.get(name)!.sort().join("");
  return out;
}
