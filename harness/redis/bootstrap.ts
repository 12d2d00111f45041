import { withStaticClusters } from "../gateway/bootstrap-text.ts";

/** The cluster Higress generates for a DNS service `redis.dns` on port 6379 (what clusterLimits.redis.service "redis.dns" names). */
export const REDIS_CLUSTER = "outbound|6379||redis.dns";

/** A Redis on 127.0.0.1:`port` as a STATIC cluster of a bootstrap, named as Higress names the service's cluster. */
export function withRedisCluster(yaml: string, port: number, name = REDIS_CLUSTER): string {
  return withStaticClusters(yaml, { [name]: { port } });
}

/** The Higress build in place of the Envoy build (vm_config.code.local.filename). */
export function withHigressBuild(yaml: string): string {
  if (!yaml.includes("local: { filename: build/ai-failover.wasm }")) throw new Error("bootstrap does not load build/ai-failover.wasm");
  return yaml.replace("local: { filename: build/ai-failover.wasm }", "local: { filename: build/ai-failover-higress.wasm }");
}

/** What the Higress host's wasm plugin configuration lacks (a WasmPlugin cannot set it). */
export function withoutStopIterationFlag(yaml: string): string {
  return yaml.replace(/\n\s*allow_on_headers_stop_iteration: true/, "");
}
