/**
 * Envoy static bootstrap → gateway configuration, in phases (parse → check → complete).
 *
 * Accepted subset (Envoy v3 proto field names; anything else is refused with its path):
 *   admin.address.socket_address
 *   static_resources.listeners[1]: name, address.socket_address, filter_chains[1].filters[1] =
 *     envoy.filters.network.http_connection_manager (HttpConnectionManager: stat_prefix, codec_type
 *     AUTO|HTTP1, stream_idle_timeout, generate_request_id, route_config, http_filters = [wasm, router])
 *   static_resources.clusters[]: name, type STATIC|STRICT_DNS, connect_timeout, lb_policy
 *     ROUND_ROBIN|RANDOM, dns_lookup_family, load_assignment, transport_socket (UpstreamTlsContext:
 *     sni, common_tls_context.validation_context.{trusted_ca.filename, match_typed_subject_alt_names}),
 *     typed_extension_protocol_options with HttpProtocolOptions: explicit_http_config with
 *     http_protocol_options (HTTP/1.1, the default) or http2_protocol_options (h2c, for gRPC callouts
 *     such as the rate limit service; routes may not use such a cluster), and http_filters (the
 *     cluster's upstream HTTP filters: wasm filters, then envoy.filters.http.upstream_codec last).
 * Refused on purpose: other protocol options, alpn_protocols, every other listener/filter/cluster feature.
 *
 * Paths in the file (vm_config.code.local.filename, trusted_ca.filename) resolve against the
 * working directory, as Envoy resolves them against its own working directory.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { LineCounter, parse as parseYaml, parseDocument, type Scalar } from "yaml";
import { check, parseDuration, Problems, type Spec } from "./schema.ts";
import { RETRY_ON, RETRY_ON_NOT_MODELLED, retryOnTokens, type HeaderMatch, type RetryOn, type RetryPolicyConfig } from "./retry.ts";

export const TYPE = {
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  wasm: "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  string: "type.googleapis.com/google.protobuf.StringValue",
  tls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  httpProtocolOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  previousHosts: "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
  previousPriorities: "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
  upstreamCodec: "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
} as const;

/** The key Envoy requires for HttpProtocolOptions in typed_extension_protocol_options. */
export const HTTP_PROTOCOL_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

// ---- the accepted subset -------------------------------------------------------------------

const str: Spec = { kind: "string" };
const name: Spec = { kind: "string", nonEmpty: true };
const bool: Spec = { kind: "bool" };
const duration: Spec = { kind: "duration" };

const socketAddress: Spec = {
  kind: "message",
  name: "SocketAddress",
  fields: { address: name, port_value: { kind: "uint32", max: 65535 }, protocol: { kind: "string", oneOf: ["TCP"] } },
  required: ["address", "port_value"],
};
const address: Spec = { kind: "message", name: "Address", fields: { socket_address: socketAddress }, required: ["socket_address"] };

const stringValueAny: Spec = {
  kind: "any",
  types: { [TYPE.string]: { kind: "message", name: "google.protobuf.StringValue", fields: { value: str }, required: ["value"] } },
};

const vmConfig: Spec = {
  kind: "message",
  name: "VmConfig",
  fields: {
    vm_id: str,
    runtime: { kind: "string", oneOf: ["envoy.wasm.runtime.v8"] },
    code: {
      kind: "message",
      name: "AsyncDataSource",
      fields: { local: { kind: "message", name: "DataSource", fields: { filename: name }, required: ["filename"] } },
      required: ["local"],
      why: { remote: "remote code is not supported: build the module and point local.filename at it" },
    },
    configuration: stringValueAny,
    allow_precompiled: bool,
    environment_variables: {
      kind: "message",
      name: "EnvironmentVariables",
      fields: { host_env_keys: { kind: "list", of: name }, key_values: { kind: "map", of: str } },
    },
  },
  required: ["runtime", "code"],
};

const pluginConfig: Spec = {
  kind: "message",
  name: "PluginConfig",
  fields: {
    name: str,
    root_id: str,
    vm_config: vmConfig,
    configuration: stringValueAny,
    fail_open: bool,
    failure_policy: { kind: "string", oneOf: ["UNSPECIFIED", "FAIL_RELOAD", "FAIL_CLOSED", "FAIL_OPEN"] },
    // Envoy >= 1.35 (PluginConfig field 9, google.protobuf.BoolValue).
    allow_on_headers_stop_iteration: bool,
  },
  required: ["vm_config"],
};

/** An HttpFilter whose typed_config is the wasm filter or `other` (the router, or the upstream codec). */
function filterSpec(otherType: string, other: Spec): Spec {
  return {
    kind: "message",
    name: "HttpFilter",
    fields: {
      name,
      typed_config: {
        kind: "any",
        types: {
          [TYPE.wasm]: { kind: "message", name: "Wasm", fields: { config: pluginConfig }, required: ["config"] },
          [otherType]: other,
        },
      },
    },
    required: ["name", "typed_config"],
  };
}

const httpFilter: Spec = filterSpec(TYPE.router, { kind: "message", name: "Router", fields: {} });

/**
 * An upstream HTTP filter (HttpProtocolOptions.http_filters): the wasm filter (registered as an
 * upstream filter too: source/extensions/filters/http/wasm/config.cc registers
 * UpstreamWasmFilterConfig with UpstreamHttpFilterConfigFactory) or the upstream codec. The router
 * is no upstream filter: Envoy finds no upstream factory for its type.
 */
const upstreamHttpFilter: Spec = filterSpec(TYPE.upstreamCodec, { kind: "message", name: "UpstreamCodec", fields: {} });

// route.v3.RetryPolicy (api/envoy/config/route/v3/route_components.proto), the subset the router
// models (harness/gateway/retry.ts).
const headerMatcher: Spec = {
  kind: "message",
  name: "HeaderMatcher",
  fields: {
    name,
    exact_match: str,
    present_match: bool,
    string_match: { kind: "message", name: "StringMatcher", fields: { exact: str }, required: ["exact"] },
    invert_match: bool,
  },
  required: ["name"],
};
const retryPolicy: Spec = {
  kind: "message",
  name: "RetryPolicy",
  fields: {
    retry_on: str,
    num_retries: { kind: "uint32" },
    per_try_timeout: duration,
    retriable_status_codes: { kind: "list", of: { kind: "uint32" } },
    retriable_headers: { kind: "list", of: headerMatcher },
    retry_back_off: {
      kind: "message",
      name: "RetryBackOff",
      fields: { base_interval: duration, max_interval: duration },
      required: ["base_interval"],
    },
    retry_host_predicate: {
      kind: "list",
      of: {
        kind: "message",
        name: "RetryHostPredicate",
        fields: {
          name: { kind: "string", oneOf: ["envoy.retry_host_predicates.previous_hosts"] },
          typed_config: { kind: "any", types: { [TYPE.previousHosts]: { kind: "message", name: "PreviousHostsPredicate", fields: {} } } },
        },
        required: ["name"],
      },
    },
    retry_priority: {
      kind: "message",
      name: "RetryPriority",
      fields: {
        name: { kind: "string", oneOf: ["envoy.retry_priorities.previous_priorities"] },
        typed_config: {
          kind: "any",
          types: {
            [TYPE.previousPriorities]: {
              kind: "message",
              name: "PreviousPrioritiesConfig",
              fields: { update_frequency: { kind: "uint32", max: 0x7fffffff } },
              required: ["update_frequency"],
            },
          },
        },
      },
      required: ["name", "typed_config"],
    },
    host_selection_retry_max_attempts: { kind: "uint32" },
  },
};

const route: Spec = {
  kind: "message",
  name: "Route",
  fields: {
    name: str,
    match: {
      kind: "message",
      name: "RouteMatch",
      fields: { prefix: str, path: str },
    },
    // Route.request_headers_to_remove: applied by the router to the upstream request, after the
    // route was chosen (so a cluster_header can be read and then kept from the upstream).
    request_headers_to_remove: { kind: "list", of: name },
    // The router's retry/shadow buffer for this route (router.cc retry_shadow_buffer_limit_).
    per_request_buffer_limit_bytes: { kind: "uint32" },
    route: {
      kind: "message",
      name: "RouteAction",
      fields: {
        cluster: name,
        cluster_header: name,
        timeout: duration,
        idle_timeout: duration,
        cluster_not_found_response_code: { kind: "string", oneOf: ["SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR"] },
        retry_policy: retryPolicy,
      },
    },
  },
  required: ["match", "route"],
};

const routeConfig: Spec = {
  kind: "message",
  name: "RouteConfiguration",
  fields: {
    name: str,
    virtual_hosts: {
      kind: "list",
      min: 1,
      of: {
        kind: "message",
        name: "VirtualHost",
        fields: {
          name,
          domains: { kind: "list", of: name, min: 1 },
          routes: { kind: "list", of: route },
          retry_policy: retryPolicy,
          include_request_attempt_count: bool,
          per_request_buffer_limit_bytes: { kind: "uint32" },
        },
        required: ["name", "domains"],
      },
    },
  },
  required: ["virtual_hosts"],
};

const hcm: Spec = {
  kind: "message",
  name: "HttpConnectionManager",
  fields: {
    stat_prefix: name,
    codec_type: { kind: "string", oneOf: ["AUTO", "HTTP1"] },
    stream_idle_timeout: duration,
    generate_request_id: bool,
    route_config: routeConfig,
    http_filters: { kind: "list", of: httpFilter, min: 2, max: 2 },
  },
  required: ["stat_prefix", "route_config", "http_filters"],
};

const listener: Spec = {
  kind: "message",
  name: "Listener",
  fields: {
    name: str,
    address,
    filter_chains: {
      kind: "list",
      min: 1,
      max: 1,
      of: {
        kind: "message",
        name: "FilterChain",
        fields: {
          filters: {
            kind: "list",
            min: 1,
            max: 1,
            of: {
              kind: "message",
              name: "Filter",
              fields: { name, typed_config: { kind: "any", types: { [TYPE.hcm]: hcm } } },
              required: ["name", "typed_config"],
            },
          },
        },
        required: ["filters"],
      },
    },
  },
  required: ["address", "filter_chains"],
};

const tlsContext: Spec = {
  kind: "message",
  name: "UpstreamTlsContext",
  fields: {
    sni: str,
    common_tls_context: {
      kind: "message",
      name: "CommonTlsContext",
      fields: {
        validation_context: {
          kind: "message",
          name: "CertificateValidationContext",
          fields: {
            trusted_ca: { kind: "message", name: "DataSource", fields: { filename: name }, required: ["filename"] },
            match_typed_subject_alt_names: {
              kind: "list",
              of: {
                kind: "message",
                name: "SubjectAltNameMatcher",
                fields: {
                  san_type: { kind: "string", oneOf: ["DNS"] },
                  matcher: { kind: "message", name: "StringMatcher", fields: { exact: name }, required: ["exact"] },
                },
                required: ["san_type", "matcher"],
              },
            },
          },
        },
      },
      why: { alpn_protocols: "the gateway speaks HTTP/1.1 to upstreams only" },
    },
  },
};

const cluster: Spec = {
  kind: "message",
  name: "Cluster",
  fields: {
    name,
    type: { kind: "string", oneOf: ["STATIC", "STRICT_DNS"] },
    connect_timeout: duration,
    lb_policy: { kind: "string", oneOf: ["ROUND_ROBIN", "RANDOM"] },
    dns_lookup_family: { kind: "string", oneOf: ["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"] },
    load_assignment: {
      kind: "message",
      name: "ClusterLoadAssignment",
      fields: {
        cluster_name: name,
        endpoints: {
          kind: "list",
          of: {
            kind: "message",
            name: "LocalityLbEndpoints",
            fields: {
              // Priority level of this locality's endpoints (0 = highest).
              priority: { kind: "uint32", max: 127 },
              lb_endpoints: {
                kind: "list",
                of: {
                  kind: "message",
                  name: "LbEndpoint",
                  fields: {
                    endpoint: { kind: "message", name: "Endpoint", fields: { address }, required: ["address"] },
                    metadata: { kind: "message", name: "Metadata", fields: { filter_metadata: { kind: "map", of: { kind: "struct" } } } },
                  },
                  required: ["endpoint"],
                },
              },
            },
          },
        },
      },
      required: ["cluster_name"],
    },
    transport_socket: {
      kind: "message",
      name: "TransportSocket",
      fields: { name, typed_config: { kind: "any", types: { [TYPE.tls]: tlsContext } } },
      required: ["name", "typed_config"],
    },
    // Only max_retries (the router's concurrent retries, default 3) is modelled.
    circuit_breakers: {
      kind: "message",
      name: "CircuitBreakers",
      fields: {
        thresholds: {
          kind: "list",
          of: {
            kind: "message",
            name: "Thresholds",
            fields: { priority: { kind: "string", oneOf: ["DEFAULT"] }, max_retries: { kind: "uint32" } },
          },
        },
      },
    },
    // HTTP/2 for gRPC callouts (the rate limit service): the router still speaks HTTP/1.1.
    typed_extension_protocol_options: {
      kind: "map",
      of: {
        kind: "any",
        types: {
          [TYPE.httpProtocolOptions]: {
            kind: "message",
            name: "HttpProtocolOptions",
            fields: {
              explicit_http_config: {
                kind: "message",
                name: "ExplicitHttpConfig",
                fields: {
                  http_protocol_options: { kind: "message", name: "Http1ProtocolOptions", fields: {} },
                  http2_protocol_options: { kind: "message", name: "Http2ProtocolOptions", fields: {} },
                },
                why: { http3_protocol_options: "the gateway speaks HTTP/1.1, or HTTP/2 for gRPC callouts" },
              },
              http_filters: { kind: "list", of: upstreamHttpFilter },
            },
            // The upstream_protocol_options oneof is required (validate.required in http_protocol_options.proto).
            required: ["explicit_http_config"],
          },
        },
      },
    },
  },
  required: ["name", "load_assignment"],
  why: {
    http2_protocol_options:
      "deprecated in Envoy: use typed_extension_protocol_options HttpProtocolOptions explicit_http_config.http2_protocol_options",
  },
};

const statsConfig: Spec = {
  kind: "message",
  name: "StatsConfig",
  fields: {
    stats_tags: {
      kind: "list",
      of: {
        kind: "message",
        name: "TagSpecifier",
        fields: { tag_name: { kind: "string", nonEmpty: true }, regex: { kind: "string", nonEmpty: true } },
        required: ["tag_name", "regex"],
      },
    },
    use_all_default_tags: { kind: "bool" },
  },
};

const bootstrap: Spec = {
  kind: "message",
  name: "Bootstrap",
  fields: {
    admin: { kind: "message", name: "Admin", fields: { address }, required: ["address"] },
    stats_config: statsConfig,
    static_resources: {
      kind: "message",
      name: "StaticResources",
      fields: { listeners: { kind: "list", of: listener, min: 1, max: 1 }, clusters: { kind: "list", of: cluster } },
      required: ["listeners"],
    },
  },
  required: ["static_resources"],
};

// ---- the completed configuration ---------------------------------------------------------------

export interface Endpoint {
  address: string;
  port: number;
  /** LocalityLbEndpoints.priority (0 = highest; absent = 0). */
  priority?: number;
  /** LbEndpoint.metadata.filter_metadata (namespace → struct), as written. */
  metadata?: Record<string, Record<string, unknown>>;
}

export interface ClusterConfig {
  name: string;
  type: "STATIC" | "STRICT_DNS";
  connectTimeoutMs: number;
  lbPolicy: "ROUND_ROBIN" | "RANDOM";
  /** Node's dns family: 0 any, 4, 6. */
  family: 0 | 4 | 6;
  endpoints: Endpoint[];
  /**
   * typed_extension_protocol_options HttpProtocolOptions explicit_http_config.http2_protocol_options:
   * the cluster speaks HTTP/2 (h2c). Only gRPC callouts and http_call use it; routes may not.
   */
  http2: boolean;
  /**
   * HttpProtocolOptions.http_filters without the closing upstream_codec: the wasm filters run per
   * attempt between the router and the upstream (empty: only the codec, Envoy's default chain).
   */
  upstreamFilters?: WasmConfig[];
  /** circuit_breakers.thresholds (DEFAULT priority) max_retries: concurrent retries (absent = Envoy's default 3). */
  maxRetries?: number;
  tls?: {
    sni?: string;
    /** PEM file; without a validation context Envoy does not verify the peer, nor does the gateway. */
    caFile?: string;
    verify: boolean;
    /** DNS subject alt names that must match (match_typed_subject_alt_names, exact). */
    dnsSans: string[];
  };
}

export interface RouteConfig {
  name: string;
  prefix?: string;
  path?: string;
  cluster?: string;
  clusterHeader?: string;
  /** 0 = disabled. Envoy's default is 15 s. */
  timeoutMs: number;
  /** Per-route idle timeout; undefined = the connection manager's stream_idle_timeout. */
  idleTimeoutMs?: number;
  clusterNotFoundStatus: number;
  /** Route.request_headers_to_remove (lower-case). */
  requestHeadersToRemove: string[];
  /** RouteAction.retry_policy, else the virtual host's (config_impl.cc: the route's wins whole). */
  retryPolicy?: RetryPolicyConfig;
  /** VirtualHost.include_request_attempt_count: x-envoy-attempt-count on every upstream attempt. */
  includeAttemptCount: boolean;
  /** per_request_buffer_limit_bytes of the route, else the virtual host's (router's retry buffer). */
  requestBufferLimitBytes?: number;
}

export interface VirtualHostConfig {
  name: string;
  domains: string[];
  routes: RouteConfig[];
}

export interface WasmConfig {
  name: string;
  rootId: string;
  vmId: string;
  /** Absolute path of the module. */
  codeFile: string;
  configuration: string;
  /** The line of the bootstrap file where the configuration's first line is (when it is a block scalar or a one-line value). */
  configurationLine?: number;
  vmConfiguration: string;
  keyValues: Record<string, string>;
  hostEnvKeys: string[];
  failurePolicy?: "FAIL_RELOAD" | "FAIL_CLOSED" | "FAIL_OPEN";
  allowOnHeadersStopIteration: boolean;
}

/** stats_config.stats_tags: the first capture group is removed from the name, the second is the value. */
export interface StatsTag {
  name: string;
  regex: RegExp;
}

export interface GatewayConfig {
  listener: { name: string; address: string; port: number };
  statsTags: StatsTag[];
  admin?: { address: string; port: number };
  statPrefix: string;
  generateRequestId: boolean;
  /** connection manager stream_idle_timeout; Envoy's default is 5 min; 0 = disabled. */
  streamIdleTimeoutMs: number;
  virtualHosts: VirtualHostConfig[];
  wasm: WasmConfig;
  clusters: Map<string, ClusterConfig>;
}

export class BootstrapError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid bootstrap (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  ${problems.join("\n  ")}`);
    this.name = "BootstrapError";
  }
}

export interface LoadOptions {
  /** Shown in errors. */
  source?: string;
  /** Where relative file names resolve. Default: process.cwd() (as Envoy does). */
  baseDir?: string;
}

/** Parses and validates bootstrap text (YAML or JSON); throws BootstrapError listing every problem. */
export function loadBootstrap(text: string, opts: LoadOptions = {}): GatewayConfig {
  const source = opts.source ?? "bootstrap";
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new BootstrapError(source, [`not valid YAML/JSON: ${(e as Error).message}`]);
  }
  const problems = new Problems();
  check(doc, bootstrap, "", problems);
  if (problems.list.length > 0) throw new BootstrapError(source, problems.list);
  const config = complete(doc as any, opts.baseDir ?? process.cwd(), problems);
  if (problems.list.length > 0) throw new BootstrapError(source, problems.list);
  config!.wasm.configurationLine = configurationLine(text);
  return config!;
}

/** The file line where the wasm filter's configuration text starts (a block scalar: the line after its indicator). */
function configurationLine(text: string): number | undefined {
  try {
    const lc = new LineCounter();
    const d = parseDocument(text, { lineCounter: lc });
    const node = d.getIn(["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "http_filters", 0,
      "typed_config", "config", "configuration", "value"], true) as Scalar | undefined;
    if (!node?.range) return undefined;
    const line = lc.linePos(node.range[0]).line;
    return node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED" ? line + 1 : line;
  } catch {
    return undefined;
  }
}

// Checks that need more than the structure, then the runtime objects. `b` passed check().
function complete(b: any, baseDir: string, problems: Problems): GatewayConfig | undefined {
  const lPath = "static_resources.listeners[0]";
  const l = b.static_resources.listeners[0];
  const hPath = `${lPath}.filter_chains[0].filters[0].typed_config`;
  const h = l.filter_chains[0].filters[0].typed_config;

  const [f0, f1] = h.http_filters;
  if (f0.typed_config["@type"] !== TYPE.wasm)
    problems.add(`${hPath}.http_filters[0].typed_config.@type`, `the first HTTP filter must be the wasm filter (${TYPE.wasm})`);
  if (f1.typed_config["@type"] !== TYPE.router)
    problems.add(`${hPath}.http_filters[1].typed_config.@type`, `the last HTTP filter must be the router (${TYPE.router})`);

  const clusters = new Map<string, ClusterConfig>();
  (b.static_resources.clusters ?? []).forEach((c: any, i: number) => {
    const at = `static_resources.clusters[${i}]`;
    if (clusters.has(c.name)) problems.add(`${at}.name`, `duplicate cluster name "${c.name}"`);
    const type = c.type ?? "STATIC";
    const endpoints: Endpoint[] = [];
    (c.load_assignment.endpoints ?? []).forEach((le: any, j: number) =>
      (le.lb_endpoints ?? []).forEach((e: any, k: number) => {
        const sa = e.endpoint.address.socket_address;
        if (type === "STATIC" && isIP(sa.address) === 0)
          problems.add(
            `${at}.load_assignment.endpoints[${j}].lb_endpoints[${k}].endpoint.address.socket_address.address`,
            `"${sa.address}" is not an IP address (a STATIC cluster needs IPs; use type STRICT_DNS for host names)`,
          );
        endpoints.push({
          address: sa.address,
          port: sa.port_value,
          ...(le.priority !== undefined ? { priority: le.priority } : {}),
          ...(e.metadata?.filter_metadata ? { metadata: e.metadata.filter_metadata } : {}),
        });
      }),
    );
    let tls: ClusterConfig["tls"];
    if (c.transport_socket) {
      const t = c.transport_socket.typed_config;
      const vc = t.common_tls_context?.validation_context;
      tls = {
        sni: t.sni || undefined,
        caFile: vc?.trusted_ca ? resolve(baseDir, vc.trusted_ca.filename) : undefined,
        verify: vc?.trusted_ca !== undefined,
        dnsSans: (vc?.match_typed_subject_alt_names ?? []).map((m: any) => m.matcher.exact),
      };
    }
    let http2 = false;
    const upstreamFilters: WasmConfig[] = [];
    for (const key of Object.keys(c.typed_extension_protocol_options ?? {})) {
      const hpoAt = `${at}.typed_extension_protocol_options.${key}`;
      if (key !== HTTP_PROTOCOL_OPTIONS_KEY) {
        problems.add(hpoAt, `the key must be "${HTTP_PROTOCOL_OPTIONS_KEY}" (the extension's name)`);
        continue;
      }
      const o = c.typed_extension_protocol_options[key];
      const e = o.explicit_http_config;
      // ExplicitHttpConfig.protocol_config is a required oneof.
      if ((e.http_protocol_options === undefined) === (e.http2_protocol_options === undefined))
        problems.add(`${hpoAt}.explicit_http_config`, "exactly one of http_protocol_options or http2_protocol_options is required");
      http2 = e.http2_protocol_options !== undefined;
      if (o.http_filters !== undefined) upstreamFilters.push(...upstreamFilterChain(o.http_filters, `${hpoAt}.http_filters`, baseDir, problems));
      if (http2 && upstreamFilters.length > 0)
        problems.add(`${hpoAt}.http_filters`, "the gateway runs upstream HTTP filters on routed HTTP/1.1 requests only (an HTTP/2 cluster serves gRPC callouts)");
    }
    if (http2 && c.transport_socket)
      problems.add(`${at}.typed_extension_protocol_options`, "HTTP/2 over TLS is not supported by the gateway (h2c only)");
    const family = { AUTO: 0, ALL: 0, V4_PREFERRED: 0, V4_ONLY: 4, V6_ONLY: 6 } as const;
    clusters.set(c.name, {
      name: c.name,
      type,
      connectTimeoutMs: c.connect_timeout !== undefined ? parseDuration(c.connect_timeout)! : 5000,
      lbPolicy: c.lb_policy ?? "ROUND_ROBIN",
      family: family[(c.dns_lookup_family ?? "AUTO") as keyof typeof family],
      endpoints,
      http2,
      upstreamFilters,
      maxRetries: (c.circuit_breakers?.thresholds ?? []).find((t: any) => (t.priority ?? "DEFAULT") === "DEFAULT")?.max_retries ?? 3,
      tls,
    });
  });

  const virtualHosts: VirtualHostConfig[] = h.route_config.virtual_hosts.map((vh: any, i: number) => {
    const vhAt = `${hPath}.route_config.virtual_hosts[${i}]`;
    const vhRetry = vh.retry_policy ? retryPolicyConfig(vh.retry_policy, `${vhAt}.retry_policy`, problems) : undefined;
    return {
    name: vh.name,
    domains: vh.domains,
    routes: (vh.routes ?? []).map((r: any, j: number): RouteConfig => {
      const at = `${hPath}.route_config.virtual_hosts[${i}].routes[${j}]`;
      const m = r.match;
      if ((m.prefix === undefined) === (m.path === undefined)) problems.add(`${at}.match`, "exactly one of prefix or path is required");
      const a = r.route;
      if ((a.cluster === undefined) === (a.cluster_header === undefined))
        problems.add(`${at}.route`, "exactly one of cluster or cluster_header is required");
      if (a.cluster !== undefined && !clusters.has(a.cluster))
        problems.add(`${at}.route.cluster`, `unknown cluster "${a.cluster}"`);
      if (a.cluster !== undefined && clusters.get(a.cluster)?.http2)
        problems.add(`${at}.route.cluster`, `cluster "${a.cluster}" speaks HTTP/2, and the gateway's router speaks HTTP/1.1 upstream only (HTTP/2 clusters serve gRPC callouts)`);
      const codes = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 } as const;
      const remove: string[] = (r.request_headers_to_remove ?? []).map((h: string) => h.toLowerCase());
      for (const h of remove) {
        // Envoy's HeaderParser: "':-prefixed' or host headers may not be removed".
        if (h.startsWith(":") || h === "host") problems.add(`${at}.request_headers_to_remove`, `':-prefixed' or host headers may not be removed (found "${h}")`);
      }
      return {
        name: r.name ?? "",
        prefix: m.prefix,
        path: m.path,
        cluster: a.cluster,
        clusterHeader: a.cluster_header?.toLowerCase(),
        timeoutMs: a.timeout !== undefined ? parseDuration(a.timeout)! : 15000,
        idleTimeoutMs: a.idle_timeout !== undefined ? parseDuration(a.idle_timeout) : undefined,
        clusterNotFoundStatus: codes[(a.cluster_not_found_response_code ?? "SERVICE_UNAVAILABLE") as keyof typeof codes],
        requestHeadersToRemove: remove,
        // config_impl.cc RouteEntryImplBase: the route's retry_policy, else the virtual host's (no merging).
        retryPolicy: a.retry_policy ? retryPolicyConfig(a.retry_policy, `${at}.route.retry_policy`, problems) : vhRetry,
        includeAttemptCount: vh.include_request_attempt_count ?? false,
        requestBufferLimitBytes: r.per_request_buffer_limit_bytes ?? vh.per_request_buffer_limit_bytes,
      };
    }),
    };
  });

  const wasmIndex = h.http_filters.findIndex((f: any) => f.typed_config["@type"] === TYPE.wasm);
  const wasmAt = `${hPath}.http_filters[${wasmIndex}].typed_config.config`;
  const wasm = wasmConfig(wasmIndex >= 0 ? h.http_filters[wasmIndex].typed_config.config : {}, wasmAt, baseDir, problems);
  const statsTags: StatsTag[] = [];
  ((b.stats_config?.stats_tags ?? []) as Array<{ tag_name: string; regex: string }>).forEach((t, i) => {
    const at = `stats_config.stats_tags[${i}]`;
    let re: RegExp | undefined;
    try {
      re = new RegExp(t.regex);
    } catch (e) {
      problems.add(`${at}.regex`, `invalid regex: ${(e as Error).message}`);
      return;
    }
    // Envoy: the regex must have at least one capture group (the part removed from the name).
    if (new RegExp(`${t.regex}|`).exec("")!.length < 2) problems.add(`${at}.regex`, "needs a capture group: the first one is removed from the stat name, the second (or the first) is the tag value");
    else if (statsTags.some((x) => x.name === t.tag_name)) problems.add(`${at}.tag_name`, `duplicate tag name ${t.tag_name}`);
    else statsTags.push({ name: t.tag_name, regex: re });
  });

  if (problems.list.length > 0) return undefined;
  const sa = l.address.socket_address;
  return {
    listener: { name: l.name ?? "", address: sa.address, port: sa.port_value },
    statsTags,
    admin: b.admin
      ? { address: b.admin.address.socket_address.address, port: b.admin.address.socket_address.port_value }
      : undefined,
    statPrefix: h.stat_prefix,
    generateRequestId: h.generate_request_id ?? true,
    streamIdleTimeoutMs: h.stream_idle_timeout !== undefined ? parseDuration(h.stream_idle_timeout)! : 300_000,
    virtualHosts,
    wasm,
    clusters,
  };
}

/** A wasm filter's PluginConfig (listener or upstream filter) → WasmConfig. */
function wasmConfig(p: any, at: string, baseDir: string, problems: Problems): WasmConfig {
  const vm = p.vm_config ?? { code: { local: {} }, environment_variables: {} };
  const keyValues: Record<string, string> = { ...(vm.environment_variables?.key_values ?? {}) };
  const hostEnvKeys: string[] = vm.environment_variables?.host_env_keys ?? [];
  for (const k of hostEnvKeys) {
    // Envoy's own wording for this mistake.
    if (k in keyValues)
      problems.add(
        `${at}.vm_config.environment_variables`,
        `Key ${k} is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables for ${p.name ?? ""}. All the keys must be unique.`,
      );
  }
  const policy = p.failure_policy && p.failure_policy !== "UNSPECIFIED" ? p.failure_policy : p.fail_open ? "FAIL_OPEN" : undefined;
  return {
    name: p.name ?? "",
    rootId: p.root_id ?? "",
    vmId: vm.vm_id ?? "",
    codeFile: resolve(baseDir, vm.code?.local?.filename ?? ""),
    configuration: p.configuration?.value ?? "",
    vmConfiguration: vm.configuration?.value ?? "",
    keyValues,
    hostEnvKeys,
    failurePolicy: policy,
    allowOnHeadersStopIteration: p.allow_on_headers_stop_iteration ?? false,
  };
}

/**
 * HttpProtocolOptions.http_filters → the wasm filters before the codec. Envoy's checks, in its
 * words: the last filter must be the upstream codec (source/common/upstream/upstream_impl.cc
 * ClusterInfoImpl: "The codec filter is the only valid terminal upstream HTTP filter, use '…'"),
 * and a terminal filter anywhere else is refused (Config::Utility::validateTerminalFilters via
 * FilterChainHelper::processFilters: "terminal filter named … must be the last filter in a
 * upstream http filter chain"). An empty list is Envoy's default chain (the codec alone).
 */
function upstreamFilterChain(filters: any[], at: string, baseDir: string, problems: Problems): WasmConfig[] {
  const out: WasmConfig[] = [];
  if (filters.length === 0) return out;
  const codec = TYPE.upstreamCodec.slice("type.googleapis.com/".length);
  const last = filters[filters.length - 1];
  if (last.typed_config["@type"] !== TYPE.upstreamCodec)
    problems.add(`${at}[${filters.length - 1}].typed_config.@type`, `The codec filter is the only valid terminal upstream HTTP filter, use '${codec}'`);
  filters.forEach((f, i) => {
    if (f.typed_config["@type"] === TYPE.upstreamCodec) {
      if (i !== filters.length - 1)
        problems.add(`${at}[${i}]`, `Error: terminal filter named ${f.name} of type ${codec} must be the last filter in a upstream http filter chain.`);
      return;
    }
    out.push(wasmConfig(f.typed_config.config, `${at}[${i}].typed_config.config`, baseDir, problems));
  });
  return out;
}

/**
 * route.v3.RetryPolicy → the router's policy (retry_policy_impl.cc RetryPolicyImpl). Stricter than
 * Envoy on retry_on: Envoy drops a value it does not know without a word (parseRetryOn(...).first),
 * which leaves the route without that retry condition; the gateway refuses it, and refuses the
 * values it does not model (gRPC conditions, HTTP/3).
 */
function retryPolicyConfig(p: any, at: string, problems: Problems): RetryPolicyConfig {
  const retryOn = new Set<RetryOn>();
  for (const t of retryOnTokens(p.retry_on ?? "")) {
    if ((RETRY_ON as readonly string[]).includes(t)) retryOn.add(t as RetryOn);
    else if ((RETRY_ON_NOT_MODELLED as readonly string[]).includes(t))
      problems.add(`${at}.retry_on`, `"${t}" is not modelled by the gateway (supported: ${RETRY_ON.join(", ")})`);
    else
      problems.add(`${at}.retry_on`, `unknown retry_on value "${t}" (Envoy would ignore it silently and never retry on it; supported: ${RETRY_ON.join(", ")})`);
  }
  const retriableHeaders: HeaderMatch[] = (p.retriable_headers ?? []).map((m: any, i: number) => {
    const exact = m.string_match?.exact ?? m.exact_match;
    const kinds = [m.string_match, m.exact_match, m.present_match].filter((x) => x !== undefined).length;
    if (kinds > 1) problems.add(`${at}.retriable_headers[${i}]`, "give one of exact_match, string_match, present_match");
    return { name: String(m.name).toLowerCase(), exact, present: m.present_match, invert: m.invert_match ?? false };
  });
  let baseIntervalMs: number | undefined;
  let maxIntervalMs: number | undefined;
  if (p.retry_back_off) {
    // RetryPolicyImpl: sub-millisecond intervals become 1 ms; max below base is an error.
    baseIntervalMs = Math.max(1, parseDuration(p.retry_back_off.base_interval)!);
    if (p.retry_back_off.max_interval !== undefined) {
      maxIntervalMs = Math.max(1, parseDuration(p.retry_back_off.max_interval)!);
      if (maxIntervalMs < baseIntervalMs)
        problems.add(`${at}.retry_back_off.max_interval`, "retry_policy.max_interval must greater than or equal to the base_interval");
    }
  }
  const hostPredicates = (p.retry_host_predicate ?? []) as any[];
  let updateFrequency: number | undefined;
  if (p.retry_priority) {
    updateFrequency = p.retry_priority.typed_config.update_frequency;
    // PreviousPrioritiesConfig: update_frequency int32 gt 0.
    if (!(updateFrequency! > 0)) problems.add(`${at}.retry_priority.typed_config.update_frequency`, "must be greater than 0");
  }
  return {
    retryOn,
    numRetries: p.num_retries ?? 1,
    perTryTimeoutMs: p.per_try_timeout !== undefined ? parseDuration(p.per_try_timeout)! : 0,
    retriableStatusCodes: p.retriable_status_codes ?? [],
    retriableHeaders,
    baseIntervalMs,
    maxIntervalMs,
    previousHosts: hostPredicates.some((h) => h.name === "envoy.retry_host_predicates.previous_hosts"),
    previousPrioritiesUpdateFrequency: updateFrequency,
    hostSelectionMaxAttempts: p.host_selection_retry_max_attempts || 1,
  };
}
