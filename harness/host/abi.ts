/** proxy-wasm ABI constants (spec v0.2.x, as Envoy / proxy-wasm-cpp-host use them). */

export type AbiVersion = "0_1_0" | "0_2_0" | "0_2_1" | "0_2_100";

/**
 * Which host the harness plays. "envoy": upstream Envoy with proxy-wasm-cpp-host. "higress":
 * Higress's Envoy with its fork of proxy-wasm-cpp-host (higress-group/proxy-wasm-cpp-host), which
 * also knows ABI 0_2_100 and has no allow_on_headers_stop_iteration.
 */
export type HostFlavour = "envoy" | "higress";

export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

export const HeaderMapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
  MAX: 7,
} as const;

export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  NetworkDownstreamData: 2,
  NetworkUpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
  /** Higress only (proxy_wasm_common.h of higress-group/proxy-wasm-cpp-sdk, where MAX is 9). */
  RedisCallResponse: 9,
  MAX: 8,
} as const;

/** The highest buffer type the host accepts (get_buffer_bytes: type > MAX → BadArgument). */
export function bufferTypeMax(flavour: HostFlavour): number {
  return flavour === "higress" ? BufferType.RedisCallResponse : BufferType.MAX;
}

export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3, MAX: 3 } as const;

export const FilterHeadersStatus = {
  Continue: 0,
  StopIteration: 1,
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;

export const FilterDataStatus = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;

export const FilterTrailersStatus = { Continue: 0, StopIteration: 1 } as const;

export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2, MAX: 2 } as const;

/**
 * Top-level property names Envoy (≥ 1.33) resolves from stream info (StreamActivation::FindValue,
 * source/extensions/filters/common/expr/evaluator.cc). Any other top-level name is only
 * `plugin_name`/`plugin_root_id`/`plugin_vm_id`/`connection_id` or filter state the module set
 * with proxy_set_property (Context::findValue, source/extensions/common/wasm/context.cc). The
 * legacy top-level names (`route_name`, `cluster_name`, `node`, …) were removed in Envoy 1.33
 * ("wasm: Remove previously deprecated xDS attributes from get_property"): use `xds.*`.
 */
export const ENVOY_ACTIVATION_TOKENS: ReadonlySet<string> = new Set([
  "request", "response", "connection", "upstream", "source", "destination", "metadata", "filter_state", "xds",
  "upstream_filter_state",
]);

export const LOG_LEVEL_MAX = 5;

/** Limits from proxy-wasm-cpp-host include/proxy-wasm/limits.h. */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;
export const WASI_RANDOM_GET_MAX_BYTES = 64 * 1024;

/** WASI errno values the host returns. */
export const WasiErrno = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  NOENT: 44,
  NOSYS: 52,
  NOTSUP: 58,
} as const;
