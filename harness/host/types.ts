/**
 * The host's public surface: what the gateway (and tests) use to run a proxy-wasm filter
 * the way Envoy runs it. `harness/host/` knows nothing of `gateway/`, `providers/` or
 * `replay/`; those import from here only.
 *
 * Contract between layers (agreed before the layers were written; change both sides together).
 */

import type { HostFlavour } from "./abi.ts";
export type { HostFlavour };

/** Header list: lower-case names, order preserved, duplicates allowed. Pseudo-headers first. */
export type HeaderList = Array<[string, string]>;

/** proxy-wasm log levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical. */
export type LogLevel = 0 | 1 | 2 | 3 | 4 | 5;

export interface LogRecord {
  level: LogLevel;
  /** "base" | "canary" | "worker-0" … */
  vm: string;
  message: string;
}

/** Result of an upstream call made for proxy_http_call. The host maps it to Envoy's outcome table. */
export type DispatchResult =
  | { kind: "response"; headers: HeaderList; body: Uint8Array; trailers: HeaderList }
  | { kind: "connect-failure" }
  /** The upstream reset the stream; `afterHeaders`: after the response headers had arrived. */
  | { kind: "reset"; afterHeaders?: boolean; reason?: "remote reset" | "connection termination" };

/** One host of a cluster as its load balancer picks it, for connections the host makes itself. */
export interface PickedHost {
  address: string;
  port: number;
  /** The cluster's connect_timeout. */
  connectTimeoutMs: number;
}

/** How http_call reaches clusters. Provided by the gateway (or a test). */
export interface ClusterDispatcher {
  /** Unknown cluster → http_call returns BadArgument, no callback. */
  hasCluster(name: string): boolean;
  /** No healthy host → http_call returns InternalFailure, no callback. */
  hasHealthyHost(name: string): boolean;
  /** Sends the request. The host enforces the timeout itself (aborting through `signal`). */
  send(
    cluster: string,
    request: { headers: HeaderList; body: Uint8Array; trailers: HeaderList },
    signal: AbortSignal,
    /** Called when the response headers arrive (the router's per-try timeout stops applying). */
    onHeaders?: () => void,
  ): Promise<DispatchResult>;
  /**
   * proxy_grpc_call's exchange: one POST as Envoy's gRPC async client sends it (headers as given,
   * body = the framed message), HTTP/2 on a cluster with http2_protocol_options, HTTP/1.1
   * otherwise (as Envoy would). The host enforces the timeout (aborting through `signal`) and maps
   * the result to a gRPC status. Optional: without it, proxy_grpc_call on a known cluster answers
   * Unimplemented.
   */
  sendGrpc?(
    cluster: string,
    request: { headers: HeaderList; body: Uint8Array },
    signal: AbortSignal,
  ): Promise<DispatchResult>;
  /**
   * A host of the cluster (the load balancer's pick), for the TCP connections the host opens
   * itself (Higress's redis calls). undefined: no host. Optional: without it, redis calls on a
   * known cluster fail like a cluster with no host.
   */
  pickHost?(cluster: string): PickedHost | undefined;
}

export type FailurePolicy = "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";

export interface PluginOptions {
  /** The compiled module (bytes or a compiled WebAssembly.Module). */
  wasm: Uint8Array | WebAssembly.Module;
  /** vm_config.vm_id: namespace of shared data and queues. Default "". */
  vmId?: string;
  /** Plugin root_id, readable as property `plugin_root_id`. */
  rootId: string;
  /** Plugin name (property `plugin_name`). Default = rootId. */
  pluginName?: string;
  /** Plugin configuration bytes (PluginConfiguration buffer), usually JSON text. */
  configuration: string | Uint8Array;
  /** vm_config.configuration (VmConfiguration buffer). Default empty. */
  vmConfiguration?: string | Uint8Array;
  /** vm_config.environment_variables (key_values): the only variables WASI environ_* serve. */
  environment?: Record<string, string>;
  /** Number of worker VMs (Envoy --concurrency). Default 2. */
  workers?: number;
  /** Plugin config allow_on_headers_stop_iteration (Envoy ≥ 1.35; Higress has no such field). Default false. */
  allowOnHeadersStopIteration?: boolean;
  /** The host played: upstream Envoy (default) or Higress (its ABI rules; see abi.ts HostFlavour). */
  flavour?: HostFlavour;
  /** failure_policy (fail_open: true ≡ FAIL_OPEN). Default FAIL_RELOAD (Envoy ≥ 1.33 default). */
  failurePolicy?: FailurePolicy;
  /** Buffer limit for StopIterationAndBuffer per direction (bytes). Default 1 MiB. Over → 413 request / 500 response. */
  bufferLimitBytes?: number;
  dispatcher?: ClusterDispatcher;
  /** Receives every proxy_log / WASI fd_write line at or above `logLevel`. */
  logger?: (record: LogRecord) => void;
  /** Host log level; default 2 (info). */
  logLevel?: LogLevel;
  /** Record every host call (name, args, result). Default false. */
  trace?: boolean;
  /**
   * Time every call into the VM and every host import (PluginHost.profiler(), harness/host/profile.ts):
   * time inside the module apart from time in this host's imports. Default false (no timing code runs).
   */
  profile?: boolean;
  /** Wall clock in ns (proxy_get_current_time_nanoseconds). Default real time. */
  clockNs?: () => bigint;
  /** WASI random_get source. Default crypto.getRandomValues. */
  random?: (buf: Uint8Array) => void;
  /**
   * Extra properties readable by path ("a\0b" or ["a","b"] joined with NUL); values are raw bytes.
   * Served only under Envoy's top-level names (request, response, connection, upstream, source,
   * destination, metadata, filter_state, xds, upstream_filter_state; on root contexts only xds):
   * anything else is NotFound in Envoy ≥ 1.33, so it is here too.
   */
  properties?: Record<string, string | Uint8Array>;
}

/** Called by the host (never re-entrantly: after the VM call that caused them has returned). */
export interface StreamCallbacks {
  /** Request headers leave the filter (continue): route on these. */
  onRequestHeaders(headers: HeaderList, endStream: boolean): void;
  onRequestData(chunk: Uint8Array, endStream: boolean): void;
  onRequestTrailers(trailers: HeaderList): void;
  /**
   * The filter answered with a local reply before the request went upstream, or during the
   * response: the gateway must stop (or never start) the upstream request. The reply itself
   * then arrives through onResponseHeaders/onResponseData like any response.
   */
  onLocalReply(status: number): void;
  /** Response headers leave the filter towards the client (`:status` included). */
  onResponseHeaders(headers: HeaderList, endStream: boolean): void;
  onResponseData(chunk: Uint8Array, endStream: boolean): void;
  onResponseTrailers(trailers: HeaderList): void;
  /** The stream must be reset (close_stream, local reply after headers were sent, trap after headers). */
  onReset(reason: string): void;
  /**
   * Envoy's route cache for this stream (ConnectionManagerImpl::ActiveStream: `route()` refreshes
   * a cleared cache from the current request headers, `clearRouteCache()` clears it). Optional:
   * callers without routes (host-level tests) have no cache.
   */
  route?(requestHeaders: HeaderList): CachedRoute | null;
  /** The route in the stream info (what `xds.route_name` / Higress `cluster_name` read): never refreshes. */
  cachedRoute?(): CachedRoute | null;
  clearRouteCache?(): void;
  /**
   * The stream is an upstream (per-attempt) filter chain: a local reply from the filter goes
   * straight out through these callbacks, never through the filter's own response callbacks
   * (source/common/router/upstream_request.cc UpstreamFilterManager::sendLocalReply: "Local
   * replies will not be seen by upstream HTTP filters"; it hands them to the downstream filter
   * manager).
   */
  upstream?: boolean;
}

/** A matched route: its name and the cluster it resolved (a cluster_header route: from the header, at match time). */
export interface CachedRoute {
  name: string;
  cluster: string;
}

/**
 * Who aborted a stream: the client side (downstream), the provider side (upstream), or the proxy
 * itself after the response had started (local: e.g. a route or idle timeout that can only reset).
 */
export type ResetOrigin = "downstream" | "upstream" | "local";

/** One HTTP stream through the filter on one worker VM: Envoy's filter manager for one filter. */
export interface HttpStream {
  readonly worker: number;
  readonly contextId: number;
  decodeHeaders(headers: HeaderList, endStream: boolean): void;
  decodeData(chunk: Uint8Array, endStream: boolean): void;
  decodeTrailers(trailers: HeaderList): void;
  /** Upstream response (or a gateway-generated one such as 503 no healthy upstream). */
  encodeHeaders(headers: HeaderList, endStream: boolean): void;
  encodeData(chunk: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderList): void;
  /** The stream is over (completed normally): on_log, on_done, on_delete, once. */
  complete(): void;
  /**
   * The stream was aborted (Envoy: the downstream or the upstream reset it). Like complete(),
   * on_log, on_done and on_delete run once (nothing runs if the stream was already completed or
   * reset); none of the filter's other callbacks run afterwards, and later decode*, encode*,
   * complete() and reset() calls are ignored. `reason` is Envoy's response code details
   * (e.g. "downstream_remote_disconnect",
   * "upstream_reset_after_response_started{connection_termination}", "upstream_response_timeout";
   * empty → a default for the origin); `origin` defaults to "downstream". What the filter sees in on_log:
   *   `response.code`          the status recorded so far (upstream's or a reply's); NotFound if none
   *   `response.code_details`  `reason`
   *   `response.flags`         Envoy's legacy bitmask: DC 0x4000 (downstream), UC 0x40 (upstream),
   *                            none for "local" (the details say why)
   * The host does not call onReset back for a reset the gateway reported. Optional: a gateway
   * that only calls complete() stays correct but the filter cannot tell the stream was aborted.
   */
  reset?(reason: string, origin?: ResetOrigin): void;
  /**
   * The router's own reply after the response began (upstream reset mid-response, route or
   * stream idle timeout), as Envoy's DownstreamFilterManager::sendLocalReply
   * (source/common/http/filter_manager.cc) does it once response headers exist: while a filter
   * still holds them (StopIteration in on_response_headers), a direct reply that bypasses the
   * filters and replaces the held headers; after they went downstream, a reset. `details` is the
   * response code details (e.g. "upstream_response_timeout"). Optional: without it a gateway
   * resets the stream.
   */
  routerReply?(status: number, body: Uint8Array, details: string): void;
  /** The stream info's response code details, set by the router before its own local reply passes the filters. */
  setResponseCodeDetails?(details: string): void;
  /**
   * Stream-info properties (e.g. ["response","code"], ["xds","route_name"]). Only Envoy's
   * top-level names are served (see PluginOptions.properties): a legacy ["route_name"] is ignored.
   */
  setProperty(path: string[], value: string | Uint8Array): void;
}

export interface MetricSnapshot {
  name: string; // as defined by the filter, without the wasmcustom. prefix
  type: "counter" | "gauge" | "histogram";
  /** Counters and gauges: the value. Histograms: the sum of the observations (same as `sum`). */
  value: bigint;
  /**
   * Histograms only: cumulative counts (observations ≤ `le`) for Envoy's default bucket bounds
   * 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
   * 1800000, 3600000 (the +Inf bucket is `count`).
   */
  buckets?: Array<{ le: number; count: bigint }>;
  /** Histograms only: sum of the observations. */
  sum?: bigint;
  /** Histograms only: number of observations. */
  count?: bigint;
}

export interface TraceRecord {
  vm: string;
  call: string;
  args: Array<number | bigint | string>;
  result?: number;
}

/**
 * What `harness/host/index.ts` exports (implemented there):
 *
 *   export class ProcessState          // process-wide: shared data (+ global CAS counter), queues, stats by name
 *   export class PluginHost {
 *     static create(opts: PluginOptions, process?: ProcessState): Promise<PluginHost>;
 *       // loads + links (strict), base VM, canary (configure must succeed), N workers;
 *       // rejects with PluginLoadError (message in Envoy's words, every configure log line attached)
 *     readonly process: ProcessState;
 *     readonly workerCount: number;
 *     newStream(connectionId: number, callbacks: StreamCallbacks): HttpStream;
 *       // one worker per downstream connection (first sight: round robin), like Envoy's threads
 *     connectionClosed(connectionId: number): void;
 *       // the downstream connection closed: forget its worker (streams already open keep theirs;
 *       // an id seen again later is a new connection and gets the next worker)
 *     readonly connectionCount: number;   // connections currently pinned (for tests)
 *     metrics(): MetricSnapshot[];        // histograms carry buckets/sum/count
 *     // proxy_record_metric: counters add, gauges set, histograms record one observation
 *     traceRecords(): TraceRecord[];
 *     profiler(): CallProfiler | null;  // with PluginOptions.profile: time in the module vs in host imports
 *     close(): Promise<void>;          // stops ticks, on_done/on_delete on root contexts
 *   }
 *   export class PluginLoadError extends Error { logs: LogRecord[] }
 */
