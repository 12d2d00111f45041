// `clusterLimits`: limits counted across every gateway replica instead of per Envoy process, by
// one of two engines: the rate limit service (envoyproxy/ratelimit, reached with proxy_grpc_call
// on an Envoy cluster) or, in the Higress build, Redis directly (Higress's proxy_redis_call).
// Parse → validate here; the plugin (plugin/cluster/limiter.ts) applies it.

import { SHAPE_FAILS, SHAPE_GROUPS, unknownFieldsShape } from "../lib/protobuf";
import { ClusterLimitsConfig, RedisEngineConfig } from "./model";
import { readSecret } from "./credential";
import { EnvLookup } from "./env";
import { isHeaderToken, isName } from "./patterns";
import { quote } from "./text";
import { ObjReader } from "./walk";

/**
 * Would Envoy read `name` as a serialized envoy.config.core.v3.GrpcService instead of a cluster
 * name? proxy_grpc_call's service argument is tried with ParseFromArray first (envoyproxy/envoy
 * source/extensions/common/wasm/context.cc grpcCall) and only taken as a cluster name when that
 * fails; a name that parses is a GrpcService without a target, and the first call panics
 * (source/common/grpc/async_client_manager_impl.cc factoryForGrpcService, PANIC_DUE_TO_PROTO_UNSET:
 * Envoy aborts). Protobuf's own rule decides (lib/protobuf.ts unknownFieldsShape), unknown groups
 * included: "h1", "empty", and "cd", "st", "kl", "34", "h1st" all parse.
 */
export function parsesAsProtobuf(name: string): bool {
  return unknownFieldsShape(Uint8Array.wrap(String.UTF8.encode(name))) != SHAPE_FAILS;
}

/** Why `name` parses as a protobuf message ("" when it does not). */
export function protobufReason(name: string): string {
  const shape = unknownFieldsShape(Uint8Array.wrap(String.UTF8.encode(name)));
  if (shape == SHAPE_FAILS) return "";
  return shape == SHAPE_GROUPS ? "its bytes are well-formed protobuf: fields and balanced groups (wire types 3/4), which protobuf accepts as unknown fields"
    : "its bytes are well-formed protobuf fields, which protobuf accepts as unknown fields";
}

/** Higress's cluster name of a service (wasm-go pkg/wrapper/cluster_wrapper.go FQDNCluster): `outbound|<port>||<fqdn>`. */
export function serviceCluster(service: string, port: i64): string {
  return "outbound|" + port.toString() + "||" + service;
}

function isServiceName(s: string): bool {
  if (s.length == 0 || s.length > 253) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x2d || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

function readRedis(o: ObjReader, c: ClusterLimitsConfig, env: EnvLookup): void {
  const r = new RedisEngineConfig();
  const service = o.nonEmpty("service", true, "the Redis service, as Higress names it: \"redis.dns\", \"redis.ns.svc.cluster.local\", or its cluster \"outbound|6379||redis.dns\"");
  let cluster = "";
  if (service !== null) {
    r.service = service;
    if (service.includes("|")) {
      if (!isHeaderToken(service) || service.length > 255 || !service.startsWith("outbound|")) {
        o.errs.add(o.pathOf("service"), "a cluster name must look like \"outbound|<port>||<service>\" (printable ASCII, at most 255 characters), found " + quote(service));
      } else cluster = service;
      if (o.has("servicePort")) o.errs.add(o.pathOf("servicePort"), "not with a cluster name in service (its port is in the name)");
    } else if (!isServiceName(service)) {
      o.errs.add(o.pathOf("service"), "must be a service name (letters, digits, '.', '-', '_'), found " + quote(service));
    } else {
      // Higress's own Redis plugins default to 80 for static services (their logical port) and 6379 otherwise.
      const port = o.int("servicePort", service.endsWith(".static") ? 80 : 6379, 1, 65535);
      cluster = serviceCluster(service, port);
    }
  }
  const user = o.str("username", false);
  if (user !== null) {
    if (user.length > 0 && !isHeaderToken(user)) o.errs.add(o.pathOf("username"), "must be printable ASCII without spaces");
    else r.username = user;
  }
  if (o.has("password") || o.has("passwordEnv")) {
    const pw = readSecret(o, env, "password", "passwordEnv", "", "it is sent in Redis's AUTH");
    if (pw !== null) {
      r.password = pw.credential;
      r.passwordSource = pw.source;
    }
  } else if (r.username.length > 0) {
    o.errs.add(o.pathOf("username"), "a username needs a password (set password or passwordEnv)");
  }
  r.database = o.int("database", 0, 0, 1000000);
  const prefix = o.nonEmpty("keyPrefix", false);
  if (prefix !== null) {
    if (isName(prefix)) r.keyPrefix = prefix;
    else o.errs.add(o.pathOf("keyPrefix"), "must match [A-Za-z0-9._-]{1,64}, found " + quote(prefix));
  }
  c.timeoutMs = o.duration("timeout", 200, 1, 60000);
  o.finish();
  r.cluster = r.database != 0 && cluster.length > 0 ? cluster + "?db=" + r.database.toString() : cluster;
  c.redis = r;
  c.domain = r.keyPrefix;
}

export function readClusterLimits(root: ObjReader, env: EnvLookup): ClusterLimitsConfig | null {
  const o = root.obj("clusterLimits");
  if (o === null) return null;
  const c = new ClusterLimitsConfig();
  const hasRls = o.has("rateLimitService");
  const hasRedis = o.has("redis");
  if (hasRls && hasRedis) {
    o.errs.add(o.path, "set exactly one of rateLimitService (Envoy's rate limit service) or redis (Higress's Redis calls, the Higress build), not both");
  } else if (!hasRls && !hasRedis) {
    o.field("rateLimitService");
    o.field("redis");
    o.errs.add(o.path, "one of rateLimitService (Envoy's rate limit service, reached over gRPC) or redis (Redis through Higress's Redis calls, " +
      "build/ai-failover-higress.wasm only) is required");
  }
  const red = hasRedis && !hasRls ? o.obj("redis") : null;
  if (red !== null) readRedis(red, c, env);
  else if (hasRedis) o.field("redis");
  const rls = hasRls ? o.obj("rateLimitService", true, "the rate limit service (cluster, domain, timeout)") : null;
  if (rls !== null) {
    const cluster = rls.nonEmpty("cluster", true, "the Envoy cluster (HTTP/2) of the rate limit service");
    if (cluster !== null) {
      if (!isHeaderToken(cluster) || cluster.length > 255) {
        rls.errs.add(rls.pathOf("cluster"), "must be at most 255 printable ASCII characters without spaces, found " + quote(cluster));
      } else if (parsesAsProtobuf(cluster)) {
        rls.errs.add(rls.pathOf("cluster"), "Envoy would read " + quote(cluster) + " as a serialized GrpcService, not as a cluster name (" +
          protobufReason(cluster) + "; proxy_grpc_call tries that first), and abort at the first rate limit call (a GrpcService without a " +
          "target, async_client_manager_impl.cc); rename the cluster (e.g. \"ratelimit\")");
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
  c.shareCooldowns = o.boolean("shareCooldowns", c.shareCooldowns);
  o.finish();
  return c;
}
