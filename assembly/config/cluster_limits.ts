// `clusterLimits`: limits counted across every gateway replica by the rate limit service
// (envoyproxy/ratelimit, reached with proxy_grpc_call on an Envoy cluster) instead of per
// Envoy process. Parse → validate here; the plugin (plugin/cluster.ts) applies it.

import { ProtoReader } from "../lib/protobuf";
import { isHeaderToken, isName } from "./patterns";
import { quote } from "./text";
import { ObjReader } from "./walk";

export class ClusterLimitsConfig {
  /** The Envoy cluster of the rate limit service (HTTP/2). */
  cluster: string = "";
  /** The rate limit domain the descriptors belong to (the `domain` of the service's YAML). */
  domain: string = "ai-failover";
  /** Timeout of one ShouldRateLimit call. */
  timeoutMs: i64 = 100;
  /**
   * Tokens leased per call (0 = per request: each request asks for exactly its estimate). A
   * request larger than the lease leases its estimate.
   */
  leaseTokens: i64 = 0;
  /** Service unreachable: true = each replica admits up to limit / replicas; false = refuse (503). */
  failOpen: bool = true;
  /** Gateway replicas sharing the limits (fail-open divides each limit by it). */
  replicas: i64 = 1;
  /** After a failed call, how long the service is not asked again (requests use the failure mode meanwhile). */
  retryMs: i64 = 1000;
}

/**
 * Would Envoy read `name` as a serialized envoy.config.core.v3.GrpcService instead of a cluster
 * name? (context.cc grpcCall: ParseFromArray first.) Names that parse as protobuf — e.g. "h1" —
 * are refused here: approximated as "every byte is part of a well-formed field".
 */
export function parsesAsProtobuf(name: string): bool {
  const r = new ProtoReader(Uint8Array.wrap(String.UTF8.encode(name)));
  while (r.next()) {}
  return r.ok;
}

export function readClusterLimits(root: ObjReader): ClusterLimitsConfig | null {
  const o = root.obj("clusterLimits");
  if (o === null) return null;
  const c = new ClusterLimitsConfig();
  const rls = o.obj("rateLimitService", true, "the rate limit service (cluster, domain, timeout)");
  if (rls !== null) {
    const cluster = rls.nonEmpty("cluster", true, "the Envoy cluster (HTTP/2) of the rate limit service");
    if (cluster !== null) {
      if (!isHeaderToken(cluster) || cluster.length > 255) {
        rls.errs.add(rls.pathOf("cluster"), "must be at most 255 printable ASCII characters without spaces, found " + quote(cluster));
      } else if (parsesAsProtobuf(cluster)) {
        rls.errs.add(rls.pathOf("cluster"), "Envoy would read " + quote(cluster) +
          " as a serialized GrpcService, not as a cluster name (proxy_grpc_call tries that first); rename the cluster (e.g. \"ratelimit\")");
      } else c.cluster = cluster;
    }
    const domain = rls.nonEmpty("domain", false);
    if (domain !== null) {
      if (isName(domain)) c.domain = domain;
      else rls.errs.add(rls.pathOf("domain"), "must match [A-Za-z0-9._-]{1,64}, found " + quote(domain));
    }
    c.timeoutMs = rls.duration("timeout", c.timeoutMs, 1, 60000);
    rls.finish();
  }
  c.leaseTokens = o.int("leaseTokens", c.leaseTokens, 0, 100000000);
  const mode = o.str("failureMode", false);
  if (mode !== null) {
    if (mode == "open") c.failOpen = true;
    else if (mode == "closed") c.failOpen = false;
    else o.errs.add(o.pathOf("failureMode"), "must be \"open\" (each replica admits up to limit / replicas) or \"closed\" (refuse with 503), found " + quote(mode));
  }
  c.replicas = o.int("replicas", c.replicas, 1, 10000);
  c.retryMs = o.duration("retryAfter", c.retryMs, 1, 600000);
  o.finish();
  return c;
}
