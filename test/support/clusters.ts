/**
 * The gateway's own cluster manager and dispatcher (harness/gateway), built from a few static
 * clusters, for host-level tests that make real callouts (gRPC over h2c, Higress redis over TCP)
 * without starting a gateway:
 *
 *   const c = testClusters({ rls: { port, http2: true }, redis: { port }, empty: { endpoints: [] } });
 *   fixtureRig({ dispatcher: c.dispatcher }); …; c.close();
 */
import type { ClusterConfig } from "../../harness/gateway/bootstrap.ts";
import { ClusterManager } from "../../harness/gateway/clusters.ts";
import { clusterDispatcher } from "../../harness/gateway/http-call.ts";
import type { ClusterDispatcher } from "../../harness/host/index.ts";

export interface TestCluster {
  /** One endpoint on 127.0.0.1:port … */
  port?: number;
  /** … or these (empty: a cluster with no host). */
  endpoints?: Array<{ address: string; port: number }>;
  http2?: boolean;
  connectTimeoutMs?: number;
}

export function testClusters(spec: Record<string, TestCluster>): { manager: ClusterManager; dispatcher: ClusterDispatcher; close(): void } {
  const configs = new Map<string, ClusterConfig>();
  for (const [name, c] of Object.entries(spec)) {
    configs.set(name, {
      name, type: "STATIC", connectTimeoutMs: c.connectTimeoutMs ?? 1000, lbPolicy: "ROUND_ROBIN", family: 0,
      endpoints: c.endpoints ?? (c.port !== undefined ? [{ address: "127.0.0.1", port: c.port }] : []),
      http2: c.http2 ?? false,
    });
  }
  const manager = new ClusterManager(configs);
  return { manager, dispatcher: clusterDispatcher(manager), close: () => manager.close() };
}
