import { withStaticClusters } from "../gateway/bootstrap-text.ts";

/** The rate limit service as an HTTP/2 (h2c) STATIC cluster added to a bootstrap's clusters (Envoy's gRPC client needs h2). */
export function withRlsCluster(yaml: string, port: number, name = "ratelimit"): string {
  return withStaticClusters(yaml, { [name]: { port, http2: true } });
}
