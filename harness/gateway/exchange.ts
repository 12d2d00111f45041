/**
 * One downstream request through the filter (held by the host) and the router: Envoy's HTTP
 * connection manager + router for a single stream. Bodies stream in both directions; nothing is
 * buffered here (the host buffers when the filter asks for it).
 */
import type http from "node:http";
import type { GatewayConfig, RouteConfig } from "./bootstrap.ts";
import type { CachedRoute, HeaderList, HttpStream, LogRecord, ResetOrigin, StreamCallbacks } from "../host/types.ts";
import type { PluginHostLike } from "./host-like.ts";
import { routerTimeouts } from "../host/router-timeouts.ts";
import { ClusterManager, resetBody, type UpstreamFailure } from "./clusters.ts";
import type { Endpoint } from "./bootstrap.ts";
import { clusterFor, selectRouteFor } from "./route.ts";
import { RetryState, type ResetKind } from "./retry.ts";
import {
  downstreamHead,
  plainTextReply,
  requestHasBody,
  requestHeaders,
  responseHasNoBody,
  responseHeaders,
} from "./headers.ts";

export interface ExchangeContext {
  config: GatewayConfig;
  clusters: ClusterManager;
  host: PluginHostLike;
  log(level: LogRecord["level"], message: string): void;
  /** Envoy's Random::RandomGenerator::random() (retry back-off jitter). Default Math.random based. */
  random?: () => number;
  /** The decoder buffer limit (per_connection_buffer_limit_bytes; the host's, default 1 MiB). */
  bufferLimitBytes?: number;
  /** Each cluster's upstream HTTP filters (HttpProtocolOptions.http_filters before the codec). */
  upstreamFilters?: Map<string, PluginHostLike>;
}

/**
 * One attempt through the cluster's upstream filter chain (source/common/router/upstream_request.cc:
 * each UpstreamRequest builds its own UpstreamFilterManager and filter chain, so every attempt,
 * the first and each retry, has fresh filter contexts).
 */
interface FilteredAttempt {
  token: number;
  stream?: HttpStream;
  endpoint: Endpoint;
  /** The filter answered with a local reply (UpstreamFilterManager::sendLocalReply). */
  localReply: boolean;
}

/** Sets a google.protobuf.Struct's leaves as properties under `path` (CEL field access on filter_metadata). */
function setStructLeaves(set: (path: string[], v: string | Uint8Array) => void, path: string[], value: unknown): void {
  if (typeof value === "string") return set(path, value);
  if (typeof value === "boolean") return set(path, new Uint8Array([value ? 1 : 0]));
  if (typeof value === "number") {
    // google.protobuf.Value numbers are doubles (serializeValue kDouble: 8 bytes).
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    return set(path, b);
  }
  if (value && typeof value === "object" && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) setStructLeaves(set, [...path, k], v);
}

const DEFAULT_RANDOM = () => Math.floor(Math.random() * 2 ** 48);

const EMPTY = new Uint8Array(0);

/** How an aborted stream ended, for the host's reset(): Envoy's response code details + origin. */
interface Abort {
  details: string;
  origin: ResetOrigin;
}

function bytes(chunk: Buffer): Uint8Array {
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Envoy serializes integer properties as 8-byte little-endian int64. */
function int64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
  return b;
}

export class Exchange implements StreamCallbacks {
  private stream!: HttpStream;
  private readonly method: string;
  private routeConfig?: RouteConfig;
  /** The route cache: undefined = cleared (match again on next use), null = no route matched. */
  private cached: CachedRoute | null | undefined = undefined;
  /** The configuration of the cached route. */
  private cachedConfig?: RouteConfig;
  private upstreamReq?: http.ClientRequest;
  private upstreamRes?: http.IncomingMessage;
  private upstreamStart = 0;
  private upstreamDone = false;
  private upstreamAborted = false;
  /** Request headers were routed (onRequestHeaders handled once). */
  private routed = false;
  /** A local reply (filter's or router's) replaced the upstream: stop decoding, ignore the upstream. */
  private replaced = false;
  /** The router handed response headers (upstream or its own reply) to the filter chain. */
  private responseStarted = false;
  private completed = false;
  private routeTimer?: NodeJS.Timeout;
  /** Envoy's per-try timer (x-envoy-upstream-rq-per-try-timeout-ms or the route's retry policy). */
  private perTryTimer?: NodeJS.Timeout;
  private perTryMs = 0;
  private idleTimer?: NodeJS.Timeout;
  private idleMs = 0;
  /** The route timeout in force (the route's, or x-envoy-upstream-rq-timeout-ms from the filter). */
  private timeoutMs = 0;
  private lastActivity = 0;

  // ---- retries (router.cc: retry_state_, doRetry, the retry/shadow buffer) ----
  /** The request's retry state; dropped once the response goes on or retries are given up. */
  private retry?: RetryState;
  /** Attempts made (x-envoy-attempt-count). */
  private attemptCount = 0;
  /** Invalidates the callbacks of an attempt that was abandoned. */
  private attemptToken = 0;
  /** This attempt is a retry (the load balancer then consults the retry predicates). */
  private isRetry = false;
  /** The upstream request headers as the router built them (the same for every attempt). */
  private upstreamHeaders: HeaderList = [];
  private cluster = "";
  /** The request was header-only. */
  private headerOnly = false;
  /** The whole request body arrived (onRequestComplete). */
  private downstreamEnded = false;
  /** The request body kept for replay while retries are possible, within the buffer limit. */
  private body: Uint8Array[] = [];
  private bodyBytes = 0;
  private bodyLimit = 0;
  private backoffTimer?: NodeJS.Timeout;
  /** A retry waits for its back-off (no attempt in flight). */
  private retryPending = false;
  /** The current attempt connected (bytes went upstream: reset-before-request). */
  private attemptConnected = false;
  /** The attempt in flight when the cluster has upstream filters. */
  private attempt?: FilteredAttempt;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly connectionId: number,
  ) {
    this.method = req.method ?? "GET";
  }

  start(): void {
    const { config, host } = this.ctx;
    const headers = requestHeaders(this.req, config.generateRequestId);
    this.routeConfig = selectRouteFor(config.virtualHosts, headers);
    this.cached = this.match(headers);
    this.idleMs = this.routeConfig?.idleTimeoutMs ?? config.streamIdleTimeoutMs;
    this.touch();

    this.res.on("close", () => {
      if (!this.res.writableFinished) this.abortDownstream();
    });
    this.res.on("finish", () => this.finish());

    if (!this.guard(() => (this.stream = host.newStream(this.connectionId, this)))) return;
    this.setProperties();
    const endStream = !requestHasBody(this.req);
    if (!this.guard(() => this.stream.decodeHeaders(headers, endStream))) return;
    if (endStream) {
      this.req.resume();
      return;
    }
    const cl = this.req.headers["content-length"];
    let remaining = this.req.headers["transfer-encoding"] === undefined && cl !== undefined ? Number(cl) : -1;
    let ended = false;
    this.req.on("data", (chunk: Buffer) => {
      this.touch();
      if (this.completed || this.replaced || ended) return;
      if (remaining >= 0) remaining -= chunk.length;
      ended = remaining === 0;
      this.guard(() => this.stream.decodeData(bytes(chunk), ended));
    });
    this.req.on("end", () => {
      if (this.completed || this.replaced || ended) return;
      ended = true;
      this.guard(() => this.stream.decodeData(EMPTY, true));
    });
  }

  private setProperties(): void {
    const s = this.req.socket;
    const set = (path: string[], v: string | Uint8Array) => this.stream.setProperty(path, v);
    set(["connection", "id"], int64(this.connectionId));
    if (s.remoteAddress) {
      set(["source", "address"], `${s.remoteAddress}:${s.remotePort}`);
      set(["source", "port"], int64(s.remotePort ?? 0));
    }
    if (s.localAddress) {
      set(["destination", "address"], `${s.localAddress}:${s.localPort}`);
      set(["destination", "port"], int64(s.localPort ?? 0));
    }
    if (this.routeConfig) set(["route_name"], this.routeConfig.name);
    this.publishRoute();
  }

  // ---- Envoy's route cache (ConnectionManagerImpl::ActiveStream, conn_manager_impl.cc) ---------

  /** Route and cluster for these headers; a cluster_header route takes its cluster now (config_impl.cc pickClusterViaClusterHeader). */
  private match(headers: HeaderList): CachedRoute | null {
    const route = selectRouteFor(this.ctx.config.virtualHosts, headers);
    if (!route) return null;
    this.cachedConfig = route;
    return { name: route.name, cluster: clusterFor(route, headers) };
  }

  /** setRoute: the stream info's route (xds.route_name, xds.cluster_name) follows the cache. */
  private publishRoute(): void {
    const c = this.cached;
    if (!c) return;
    this.stream.setProperty(["xds", "route_name"], c.name);
    // upstreamClusterInfo: only a cluster that exists.
    if (this.ctx.clusters.has(c.cluster)) this.stream.setProperty(["xds", "cluster_name"], c.cluster);
  }

  route(headers: HeaderList): CachedRoute | null {
    if (this.cached === undefined) {
      this.cached = this.match(headers);
      this.publishRoute();
    }
    return this.cached;
  }

  cachedRoute(): CachedRoute | null {
    return this.cached ?? null;
  }

  clearRouteCache(): void {
    // blockRouteCache: no refresh once the response headers were processed.
    if (!this.responseStarted) this.cached = undefined;
  }

  // ---- from the host: request side ---------------------------------------------------------

  onRequestHeaders(headers: HeaderList, endStream: boolean): void {
    if (this.completed || this.replaced || this.routed) return;
    this.routed = true;
    // The router takes the cached route; a filter that changed request headers cleared it, so it is
    // matched again on the headers as the filter left them (unless Higress's filter turned clearing off).
    const cached = this.route(headers);
    if (!cached) return this.routerReply(404, "");
    const route = this.cachedConfig!;
    const cluster = cached.cluster;
    if (!this.ctx.clusters.has(cluster)) {
      this.ctx.log(1, `unknown cluster '${cluster}'`);
      return this.routerReply(route.clusterNotFoundStatus, "");
    }
    this.routeConfig = route;
    this.stream.setProperty(["xds", "cluster_name"], cluster);
    // Router (router.cc FilterUtility::finalTimeout): a filter (or an internal client) may set the
    // route timeout with x-envoy-upstream-rq-timeout-ms; the router consumes it and the
    // per-try one, then sets (replaces) x-envoy-expected-rq-timeout-ms when a timeout applies.
    const upstreamHeaders: HeaderList = [];
    // The per-try timeout of the route's retry policy (router.cc finalTimeout: route.retryPolicy().perTryTimeout()).
    const t = routerTimeouts(headers, route.timeoutMs, route.retryPolicy?.perTryTimeoutMs ?? 0);
    for (const [k, v] of headers) {
      if (k !== "x-envoy-upstream-rq-timeout-ms" && k !== "x-envoy-upstream-rq-per-try-timeout-ms" && k !== "x-envoy-expected-rq-timeout-ms" &&
        !route.requestHeadersToRemove.includes(k)) {
        upstreamHeaders.push([k, v]);
      }
    }
    this.timeoutMs = t.globalMs;
    this.perTryMs = t.perTryMs;
    if (t.expectedMs > 0) upstreamHeaders.push(["x-envoy-expected-rq-timeout-ms", String(t.expectedMs)]);
    this.upstreamHeaders = upstreamHeaders;
    this.cluster = cluster;
    this.headerOnly = endStream;
    // router.cc decodeHeaders → createRetryState: only when the policy has a retry condition.
    const policy = route.retryPolicy;
    if (policy && policy.retryOn.size > 0) {
      const clusters = this.ctx.clusters;
      this.retry = new RetryState(policy, { retryBudget: clusters.retryBudget(cluster), stat: (n) => clusters.stat(cluster, n) },
        this.ctx.random ?? DEFAULT_RANDOM);
      // retry_shadow_buffer_limit_: the decoder buffer limit, lowered by the route's own.
      this.bodyLimit = Math.min(this.ctx.bufferLimitBytes ?? 1024 * 1024, route.requestBufferLimitBytes ?? Infinity);
    }
    this.startAttempt();
    if (endStream) this.onDownstreamComplete();
  }

  /**
   * One upstream attempt (router.cc decodeHeaders for the first, doRetry for the others): a host
   * from the load balancer (with the retry predicates on a retry), the same headers (plus
   * x-envoy-attempt-count when the virtual host asks for it), and a fresh copy of the buffered body.
   */
  private startAttempt(): void {
    const token = ++this.attemptToken;
    this.attemptCount++;
    this.upstreamDone = false;
    this.upstreamAborted = false;
    this.upstreamRes = undefined;
    this.upstreamReq = undefined;
    this.attemptConnected = false;
    let headers = this.upstreamHeaders;
    if (this.routeConfig!.includeAttemptCount)
      headers = [...headers.filter(([k]) => k !== "x-envoy-attempt-count"), ["x-envoy-attempt-count", String(this.attemptCount)]];
    const live = () => token === this.attemptToken && !this.completed;
    const retry = this.retry;
    const filters = this.ctx.upstreamFilters?.get(this.cluster);
    const lb = this.isRetry && retry
      ? {
        priorityLevel: (levels: number[]) => retry.priorityForRetry(levels),
        shouldSelectAnotherHost: (ep: Parameters<RetryState["shouldSelectAnotherHost"]>[0]) => retry.shouldSelectAnotherHost(ep),
        hostSelectionRetryCount: retry.policy.hostSelectionMaxAttempts,
      }
      : undefined;
    this.upstreamStart = performance.now();
    if (filters) {
      // router.cc continueDoRetry: setEnvoyAttemptCount writes the router's one request header
      // map (downstream_headers_), which every attempt's upstream filters then get.
      this.upstreamHeaders = headers;
      return this.startFilteredAttempt(filters, token, live, lb);
    }
    const req = this.ctx.clusters.request(this.cluster, headers, this.headerOnly, {
      onResponse: (res) => (live() ? this.onUpstreamResponse(res) : res.destroy()),
      onFailure: (f) => live() && this.onUpstreamFailure(f),
      onConnected: (ep) => {
        if (!live()) return;
        this.attemptConnected = true;
        this.stream.setProperty(["upstream", "address"], `${ep.address}:${ep.port}`);
      },
      onHostSelected: (ep) => this.retry?.onHostAttempted(ep),
    }, lb);
    if (!req) return;
    this.upstreamReq = req;
    if (this.headerOnly) {
      if (this.downstreamEnded) this.endAttempt();
      return;
    }
    // A retry replays what arrived so far (doRetry: Buffer::OwnedImpl copy(*decodingBuffer())).
    for (const chunk of this.body) req.write(chunk);
    if (this.downstreamEnded) this.endAttempt();
    else if (this.body.length === 0) req.flushHeaders();
  }

  /**
   * An attempt through the cluster's upstream filters (upstream_request.cc): the host is chosen
   * first (the UpstreamRequest is built on the connection pool of the chosen host, and sets the
   * upstream host in the stream info before creating the filter chain), then a fresh filter
   * context gets the router's request header map — one map for every attempt
   * (acceptHeadersFromRouter: decodeHeaders(*parent_.downstreamHeaders())), so what a filter
   * writes there is still there for the next attempt — and a fresh copy of the buffered body
   * (router.cc continueDoRetry: Buffer::OwnedImpl copy(*callbacks_->decodingBuffer())). What the
   * filters let through goes to that host (the upstream codec filter, last in the chain).
   */
  private startFilteredAttempt(filters: PluginHostLike, token: number, live: () => boolean, lb: Parameters<ClusterManager["chooseHost"]>[1]): void {
    const endpoint = this.ctx.clusters.chooseHost(this.cluster, lb);
    if (!endpoint) {
      this.upstreamDone = true;
      return this.routerReply(503, "no healthy upstream");
    }
    this.retry?.onHostAttempted(endpoint);
    const att: FilteredAttempt = { token, endpoint, localReply: false };
    this.attempt = att;
    const cb: StreamCallbacks = {
      upstream: true,
      onRequestHeaders: (h, end) => {
        if (!live() || att.localReply || this.replaced) return;
        // The filter edited the router's own header map (shared by the attempts).
        this.upstreamHeaders = h;
        this.sendFilteredAttempt(att, h, end, live);
      },
      onRequestData: (c, end) => {
        const req = this.upstreamReq;
        if (!live() || att.localReply || !req || req.writableEnded) return;
        if (c.length > 0) req.write(c);
        if (end) this.endAttempt();
      },
      onRequestTrailers: () => {
        const req = this.upstreamReq;
        if (live() && req && !req.writableEnded) this.endAttempt();
      },
      onLocalReply: () => {
        if (!live()) return;
        // UpstreamFilterManager::sendLocalReply hands the reply to the downstream filter manager
        // (parent_.callbacks()->sendLocalReply): the router never sees it as an upstream answer,
        // so no retry policy applies to it, and it ends the request.
        att.localReply = true;
        this.abortUpstream();
        this.responseStarted = true;
        this.replaced = true;
        clearTimeout(this.routeTimer);
        clearTimeout(this.perTryTimer);
      },
      onResponseHeaders: (h, end) => {
        if (!live() || this.completed) return;
        if (att.localReply) {
          const status = Number(h.find(([k]) => k === ":status")?.[1] ?? 0);
          this.stream.setProperty(["response", "code"], int64(status));
          this.guard(() => this.stream.encodeHeaders(h, end));
          return;
        }
        this.onFilteredResponseHeaders(h, end);
      },
      onResponseData: (c, end) => {
        if (!live() || this.completed || !this.responseStarted) return;
        this.guard(() => this.stream.encodeData(c, end));
      },
      onResponseTrailers: () => {
        if (!live() || this.completed || !this.responseStarted) return;
        this.guard(() => this.stream.encodeData(EMPTY, true));
      },
      onReset: (reason) => {
        if (!live()) return;
        this.ctx.log(1, `stream reset by an upstream filter: ${reason}`);
        this.resetDownstream(reason);
      },
    };
    if (!this.guard(() => (att.stream = filters.newStream(this.connectionId, cb)))) return;
    const stream = att.stream!;
    this.setAttemptProperties(stream, endpoint);
    const body = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
    const headerEnd = this.headerOnly || (body.length === 0 && this.downstreamEnded);
    if (!this.guard(() => stream.decodeHeaders(this.upstreamHeaders, headerEnd)) || headerEnd || !live()) return;
    if (body.length > 0) this.guard(() => stream.decodeData(new Uint8Array(body), this.downstreamEnded));
  }

  /**
   * What an upstream filter reads for this attempt: the stream info is the downstream request's
   * (UpstreamFilterManager::streamInfo), whose upstream info the UpstreamRequest replaced with
   * its own, the chosen host already set (upstream_request.cc constructor). So
   * `xds.upstream_host_metadata` is the chosen host's metadata (CEL field access into
   * filter_metadata: strings as bytes, numbers as doubles, booleans as one byte),
   * `xds.cluster_name` the cluster, `upstream.request_attempt_count` the router's attempt count,
   * `upstream.address` / `upstream.port` the chosen host's address (UpstreamLookupValues reads
   * upstreamInfo().upstreamHost()->address(), not the connection: known before any connection;
   * source/extensions/filters/common/expr/context.cc).
   */
  private setAttemptProperties(stream: HttpStream, ep: Endpoint): void {
    const set = (path: string[], v: string | Uint8Array) => stream.setProperty(path, v);
    const s = this.req.socket;
    set(["connection", "id"], int64(this.connectionId));
    if (s.remoteAddress) {
      set(["source", "address"], `${s.remoteAddress}:${s.remotePort}`);
      set(["source", "port"], int64(s.remotePort ?? 0));
    }
    if (s.localAddress) {
      set(["destination", "address"], `${s.localAddress}:${s.localPort}`);
      set(["destination", "port"], int64(s.localPort ?? 0));
    }
    if (this.cached) set(["xds", "route_name"], this.cached.name);
    set(["xds", "cluster_name"], this.cluster);
    set(["upstream", "request_attempt_count"], int64(this.attemptCount));
    set(["upstream", "address"], `${ep.address}:${ep.port}`);
    set(["upstream", "port"], int64(ep.port));
    for (const [ns, struct] of Object.entries(ep.metadata ?? {}))
      setStructLeaves(set, ["xds", "upstream_host_metadata", "filter_metadata", ns], struct);
  }

  /** The upstream codec filter: the request as the upstream filters left it goes to the attempt's host. */
  private sendFilteredAttempt(att: FilteredAttempt, headers: HeaderList, end: boolean, live: () => boolean): void {
    const req = this.ctx.clusters.send(this.cluster, att.endpoint, headers, end, {
      onResponse: (res) => (live() ? this.onFilteredUpstreamResponse(res, att, live) : res.destroy()),
      onFailure: (f) => live() && this.onUpstreamFailure(f),
      onConnected: (ep) => {
        if (!live()) return;
        this.attemptConnected = true;
        this.stream.setProperty(["upstream", "address"], `${ep.address}:${ep.port}`);
      },
    });
    this.upstreamReq = req;
    if (end) this.endAttempt();
    else req.flushHeaders();
  }

  /** The upstream's answer enters the attempt's upstream filters first (their encoder side). */
  private onFilteredUpstreamResponse(res: http.IncomingMessage, att: FilteredAttempt, live: () => boolean): void {
    if (this.completed || this.replaced || this.upstreamAborted || !att.stream) {
      res.destroy();
      return;
    }
    const stream = att.stream;
    this.upstreamRes = res;
    this.touch();
    const list: HeaderList = [[":status", String(res.statusCode ?? 502)]];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) list.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
    if (responseHasNoBody(this.method, res)) {
      res.on("end", () => this.onUpstreamComplete());
      res.resume();
      this.guard(() => stream.encodeHeaders(list, true));
      return;
    }
    if (!this.guard(() => stream.encodeHeaders(list, false))) return;
    const cl = res.headers["content-length"];
    let remaining = res.headers["transfer-encoding"] === undefined && cl !== undefined ? Number(cl) : -1;
    let ended = false;
    res.on("data", (chunk: Buffer) => {
      this.touch();
      if (!live() || this.completed || this.replaced || ended) return;
      if (remaining >= 0) remaining -= chunk.length;
      ended = remaining === 0;
      this.guard(() => stream.encodeData(bytes(chunk), ended));
    });
    res.on("end", () => {
      if (!live()) return;
      this.onUpstreamComplete();
      if (this.completed || this.replaced || ended) return;
      ended = true;
      this.guard(() => stream.encodeData(EMPTY, true));
    });
    res.on("close", () => {
      if (res.complete || this.upstreamAborted || this.completed || !live()) return;
      this.ctx.log(1, "upstream reset after response headers");
      if (!this.responseStarted) {
        // The filters still held the headers: the router has seen nothing yet (onUpstreamReset).
        this.upstreamDone = true;
        if (this.maybeRetryReset("reset")) return;
        return this.routerReply(503, resetBody({ kind: "reset", resetReason: "connection termination" }, this.isRetry));
      }
      const details = "upstream_reset_after_response_started{connection_termination}";
      if (!this.res.headersSent && this.stream.routerReply) {
        return this.routerReply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination", details);
      }
      this.resetDownstream("upstream reset after response started", { details, origin: "upstream" });
    });
  }

  /**
   * The response headers as the attempt's upstream filters let them through. The router decides
   * on retries here: UpstreamRequest::decodeHeaders — which calls Router::onUpstreamHeaders — is
   * what the upstream filter manager calls once every upstream filter handled the headers
   * (upstream_request.cc "called by the FilterManager when all filters have processed headers"),
   * so a status or header an upstream filter set decides the retry.
   */
  private onFilteredResponseHeaders(h: HeaderList, end: boolean): void {
    if (this.completed || this.replaced) return;
    const status = Number(h.find(([k]) => k === ":status")?.[1] ?? 0);
    if (this.retry) {
      const list = h.filter(([k]) => !k.startsWith(":"));
      if (this.retry.shouldRetry(this.retry.wouldRetryFromHeaders(status, list)) === "yes") {
        this.ctx.log(1, `upstream answered ${status} (after the upstream filters): retrying`);
        return this.scheduleRetry();
      }
      this.dropRetry();
    }
    this.responseStarted = true;
    clearTimeout(this.perTryTimer);
    this.touch();
    const headers: HeaderList = [...h, ["x-envoy-upstream-service-time", String(Math.round(performance.now() - this.upstreamStart))]];
    this.stream.setProperty(["response", "code"], int64(status));
    this.stream.setResponseCodeDetails?.("via_upstream");
    this.guard(() => this.stream.encodeHeaders(headers, end));
  }

  /** The attempt's upstream filter contexts end with the attempt (UpstreamRequest::cleanUp → destroyFilters). */
  private endFilteredAttempt(): void {
    const att = this.attempt;
    this.attempt = undefined;
    const stream = att?.stream;
    // Deferred: this may run inside that stream's own callback.
    if (stream) setImmediate(() => this.guard(() => stream.complete()));
  }

  onRequestData(chunk: Uint8Array, endStream: boolean): void {
    if (!this.routed || this.completed || this.replaced || this.downstreamEnded) return;
    if (this.retry && chunk.length > 0) {
      // router.cc decodeData: a body over the retry/shadow buffer limit gives up retrying
      // (retry_or_shadow_abandoned); with no attempt in flight (a retry waiting for its back-off)
      // the router answers 507.
      if (this.bodyBytes + chunk.length > this.bodyLimit) {
        this.ctx.log(1, `request body over ${this.bodyLimit} bytes: retries given up`);
        this.ctx.clusters.stat(this.cluster, "retry_or_shadow_abandoned");
        const waiting = this.retryPending;
        this.dropRetry();
        if (waiting) return this.routerReply(507, "exceeded request buffer limit while retrying upstream");
      } else {
        this.body.push(chunk.slice());
        this.bodyBytes += chunk.length;
      }
    }
    const att = this.attempt;
    if (att && att.token === this.attemptToken && !this.retryPending) {
      // Through the attempt's upstream filters (UpstreamRequest::acceptDataFromRouter).
      if (att.stream && !att.localReply) this.guard(() => att.stream!.decodeData(chunk, endStream));
      if (endStream) this.onDownstreamComplete();
      return;
    }
    const req = this.upstreamReq;
    if (!att && req && !req.writableEnded && chunk.length > 0) req.write(chunk);
    if (endStream) this.onDownstreamComplete();
  }

  onRequestTrailers(_trailers: HeaderList): void {
    // The HTTP/1.1 codec drops request trailers (Envoy's default without enable_trailers).
    if (!this.routed || this.completed || this.replaced || this.downstreamEnded) return;
    const att = this.attempt;
    if (att && att.token === this.attemptToken && !this.retryPending && att.stream && !att.localReply) {
      this.guard(() => att.stream!.decodeData(EMPTY, true));
    }
    this.onDownstreamComplete();
  }

  /** router.cc onRequestComplete: the route timeout starts; the attempt in flight ends its request. */
  private onDownstreamComplete(): void {
    this.downstreamEnded = true;
    // Envoy's route timeout runs from the end of the request to the end of the response, across
    // every retry. (Envoy arms it only when an attempt is in flight; the gateway always does.)
    const ms = this.timeoutMs;
    if (ms > 0 && !this.routeTimer) this.routeTimer = setTimeout(() => this.onRouteTimeout(), ms);
    // With upstream filters the end of the request reaches the host through them.
    const req = this.upstreamReq;
    if (!this.attempt && req && !req.writableEnded) this.endAttempt();
  }

  private endAttempt(): void {
    this.upstreamReq!.end();
    // The per-try timer starts with the request complete (router.cc onRequestComplete →
    // UpstreamRequest::setupPerTryTimeout; doRetry for a retry) and is ignored once the response started.
    clearTimeout(this.perTryTimer);
    if (this.perTryMs > 0) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), this.perTryMs);
  }

  onLocalReply(_status: number): void {
    this.replaced = true;
    this.abortUpstream();
  }

  // ---- from the host: response side --------------------------------------------------------

  onResponseHeaders(headers: HeaderList, endStream: boolean): void {
    if (this.completed) return;
    const { status, flat } = downstreamHead(headers);
    // The HTTP/1 codec frames a header-only response with content-length: 0, except a response to
    // HEAD (http1/codec_impl.cc encodeHeadersBase).
    if (endStream && this.method !== "HEAD" && status >= 200 && status !== 204 && status !== 304 && !flat.includes("content-length"))
      flat.push("content-length", "0");
    try {
      this.res.writeHead(status, flat);
      if (endStream) this.res.end();
      else this.res.flushHeaders();
    } catch (e) {
      this.ctx.log(4, `cannot send response headers downstream: ${(e as Error).message}`);
      this.resetDownstream("invalid response headers");
    }
  }

  onResponseData(chunk: Uint8Array, endStream: boolean): void {
    if (this.completed || this.res.writableEnded) return;
    if (chunk.length > 0) this.res.write(chunk);
    if (endStream) this.res.end();
  }

  onResponseTrailers(_trailers: HeaderList): void {
    // HTTP/1.1 downstream without enable_trailers: trailers are dropped, the body ends.
    if (!this.completed && !this.res.writableEnded) this.res.end();
  }

  onReset(reason: string): void {
    this.ctx.log(1, `stream reset by the filter host: ${reason}`);
    this.resetDownstream(reason);
  }

  // ---- upstream events ---------------------------------------------------------------------

  private onUpstreamResponse(res: http.IncomingMessage): void {
    if (this.completed || this.replaced || this.upstreamAborted) {
      res.destroy();
      return;
    }
    this.upstreamRes = res;
    if (this.retry) {
      // router.cc onUpstreamHeaders: the retry decision comes before the headers go on to the
      // filter chain (downstream_response_started_), so a retried answer is never seen downstream.
      const list: HeaderList = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) list.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
      const status = res.statusCode ?? 0;
      if (this.retry.shouldRetry(this.retry.wouldRetryFromHeaders(status, list)) === "yes") {
        this.ctx.log(1, `upstream answered ${status}: retrying`);
        return this.scheduleRetry();
      }
      // Retries end with the answer that goes on (retry_state_.reset()).
      this.dropRetry();
    }
    this.responseStarted = true;
    clearTimeout(this.perTryTimer);
    this.touch();
    const headers = responseHeaders(res, Math.round(performance.now() - this.upstreamStart));
    this.stream.setProperty(["response", "code"], int64(res.statusCode ?? 0));
    // router.cc onUpstreamHeaders: the stream info's response code details say the answer came
    // from upstream (close_stream keeps them: Context::closeStream sets its own only when unset).
    this.stream.setResponseCodeDetails?.("via_upstream");
    if (responseHasNoBody(this.method, res)) {
      res.on("end", () => this.onUpstreamComplete());
      res.resume();
      this.guard(() => this.stream.encodeHeaders(headers, true));
      return;
    }
    if (!this.guard(() => this.stream.encodeHeaders(headers, false))) return;
    const cl = res.headers["content-length"];
    let remaining = res.headers["transfer-encoding"] === undefined && cl !== undefined ? Number(cl) : -1;
    let ended = false;
    res.on("data", (chunk: Buffer) => {
      this.touch();
      if (this.completed || this.replaced || ended) return;
      if (remaining >= 0) remaining -= chunk.length;
      ended = remaining === 0;
      this.guard(() => this.stream.encodeData(bytes(chunk), ended));
    });
    res.on("end", () => {
      this.onUpstreamComplete();
      if (this.completed || this.replaced || ended) return;
      ended = true;
      this.guard(() => this.stream.encodeData(EMPTY, true));
    });
    res.on("close", () => {
      if (res.complete || this.upstreamAborted || this.completed) return;
      this.ctx.log(1, "upstream reset after response headers");
      const details = "upstream_reset_after_response_started{connection_termination}";
      // Router::onUpstreamReset → onUpstreamAbort(503): a direct reply while a filter still holds
      // the response headers, a reset once they went downstream.
      if (!this.res.headersSent && this.stream.routerReply) {
        return this.routerReply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination", details);
      }
      this.resetDownstream("upstream reset after response started", { details, origin: "upstream" });
    });
  }

  private onUpstreamComplete(): void {
    this.upstreamDone = true;
    clearTimeout(this.routeTimer);
    clearTimeout(this.perTryTimer);
  }

  private onUpstreamFailure(f: UpstreamFailure): void {
    if (this.completed || this.replaced || this.upstreamAborted) return;
    this.upstreamDone = true;
    if (f.kind === "no-host") return this.routerReply(503, "no healthy upstream");
    this.ctx.log(1, resetBody(f, this.isRetry));
    if (this.maybeRetryReset(f.kind)) return;
    // Before response headers: 503 with Envoy's reset body; after them routerReply resets instead.
    this.routerReply(503, resetBody(f, this.isRetry));
  }

  /** router.cc maybeRetryReset: never once the response started; else as the retry state says. */
  private maybeRetryReset(kind: ResetKind): boolean {
    const retry = this.retry;
    if (!retry || this.responseStarted || this.res.headersSent) return false;
    if (retry.shouldRetry(retry.wouldRetryFromReset(kind, this.attemptConnected)) !== "yes") return false;
    this.ctx.log(1, `upstream ${kind}: retrying`);
    this.scheduleRetry();
    return true;
  }

  /** The attempt is abandoned; the next one starts after the back-off (retry_state_impl.cc enableBackoffTimer). */
  private scheduleRetry(): void {
    this.attemptToken++;
    this.endFilteredAttempt();
    clearTimeout(this.perTryTimer);
    this.upstreamRes?.destroy();
    this.upstreamReq?.destroy();
    this.upstreamRes = undefined;
    this.upstreamReq = undefined;
    this.upstreamDone = false;
    this.retryPending = true;
    const ms = this.retry!.nextBackOffMs();
    this.backoffTimer = setTimeout(() => this.doRetry(), ms);
  }

  private doRetry(): void {
    this.backoffTimer = undefined;
    this.retryPending = false;
    if (this.completed || this.replaced) return;
    this.isRetry = true;
    this.startAttempt();
  }

  /** No more retries for this request: give back the retry budget, forget the body. */
  private dropRetry(): void {
    this.retry?.release();
    this.retry = undefined;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.retryPending = false;
    this.body = [];
    this.bodyBytes = 0;
  }

  /**
   * router/upstream_request.cc onPerTryTimeout: ignored once the upstream's response headers came
   * (downstream_response_started_, set in onUpstreamHeaders); else the try is reset and, with no
   * retry policy, the router replies 504 "upstream request timeout" with response code details
   * "upstream_per_try_timeout" (router.cc onPerTryTimeoutCommon → onUpstreamTimeoutAbort).
   */
  private onPerTryTimeout(): void {
    this.perTryTimer = undefined;
    if (this.completed || this.responseStarted || this.upstreamDone) return;
    this.ctx.clusters.stat(this.cluster, "upstream_rq_per_try_timeout");
    // onPerTryTimeoutCommon: the try is reset (LocalReset), then maybeRetryReset.
    if (this.maybeRetryReset("per-try-timeout")) return;
    this.abortUpstream();
    this.stream.setResponseCodeDetails?.("upstream_per_try_timeout");
    this.routerReply(504, "upstream request timeout", "upstream_per_try_timeout");
  }

  private onRouteTimeout(): void {
    // Never retried (router.cc onResponseTimeout), also while a retry waits for its back-off.
    if (this.completed || (this.upstreamDone && !this.retryPending)) return;
    this.abortUpstream();
    this.routerReply(504, "upstream request timeout");
  }

  /** Activity on the stream: push the idle deadline back (one timer, re-armed lazily). */
  private touch(): void {
    if (this.idleMs <= 0 || this.completed) return;
    this.lastActivity = performance.now();
    if (!this.idleTimer) this.armIdle(this.idleMs);
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.completed) return;
      const idle = performance.now() - this.lastActivity;
      if (idle < this.idleMs) return this.armIdle(this.idleMs - idle);
      this.abortUpstream();
      // Envoy: 408 while the request is still arriving, else 504 (Utility::maybeRequestTimeoutCode).
      this.routerReply(this.req.complete ? 504 : 408, "stream timeout");
    }, Math.max(1, Math.ceil(ms)));
  }

  // ---- replies, resets, completion -----------------------------------------------------------

  /**
   * A reply generated by the router (404 no route, 503 no cluster/host/connect failure, 504
   * timeout). It runs through the filter chain, like Envoy's sendLocalReply from the router; if the
   * response already started, Envoy resets the stream instead.
   */
  private routerReply(status: number, body: string, resetDetails?: string): void {
    if (this.completed) return;
    if (this.responseStarted || this.res.headersSent) {
      const details = resetDetails ?? (body === "upstream request timeout" ? "upstream_response_timeout" : body === "stream timeout" ? "stream_idle_timeout"
        : `router_reply_${status}`);
      if (!this.res.headersSent && this.stream.routerReply) {
        // A filter holds the response headers: Envoy replies directly, bypassing the filters
        // (sendDirectLocalReply); the host decides, and resets if the headers did go downstream.
        this.abortUpstream();
        clearTimeout(this.routeTimer);
        clearTimeout(this.perTryTimer);
        this.stream.setProperty(["response", "code"], int64(status));
        const reply = plainTextReply(status, body);
        return this.stream.routerReply(status, reply.body, details);
      }
      // The headers went downstream: Envoy resets the stream.
      return this.resetDownstream(`router reply ${status} after response start`, { details, origin: "local" });
    }
    this.responseStarted = true;
    this.replaced = true;
    this.abortUpstream();
    clearTimeout(this.routeTimer);
    clearTimeout(this.perTryTimer);
    const reply = plainTextReply(status, body);
    this.stream.setProperty(["response", "code"], int64(status));
    // Deferred: this may be called from inside a host callback, and the host is not re-entrant.
    setImmediate(() => {
      if (this.completed) return;
      // A reply to HEAD keeps its content-length but ends at the headers (utility.cc sendLocalReply).
      const end = reply.body.length === 0 || this.method === "HEAD";
      if (!this.guard(() => this.stream.encodeHeaders(reply.headers, end))) return;
      if (!end) this.guard(() => this.stream.encodeData(reply.body, true));
    });
  }

  private abortUpstream(): void {
    this.dropRetry();
    if (this.upstreamDone && !this.upstreamRes) return;
    if (this.upstreamRes?.complete) return;
    this.upstreamAborted = true;
    clearTimeout(this.routeTimer);
    clearTimeout(this.perTryTimer);
    this.upstreamRes?.destroy();
    this.upstreamReq?.destroy();
  }

  /**
   * Resets the downstream stream. `abort` says the stream was aborted by a peer or a timeout (the
   * host is told through reset()); without it the reset came from the host itself (close_stream,
   * a reply after headers) or from bad response headers, and the stream simply completes.
   */
  private resetDownstream(reason: string, abort?: Abort): void {
    if (this.completed) return;
    this.ctx.log(1, `resetting downstream stream: ${reason}`);
    this.abortUpstream();
    this.res.destroy();
    this.finish(abort);
  }

  /** The client went away before the response was complete. */
  private abortDownstream(): void {
    if (this.completed) return;
    this.abortUpstream();
    this.finish({ details: "downstream_remote_disconnect", origin: "downstream" });
  }

  /** The exchange is over (normally or aborted): on_log etc. run exactly once. */
  private finish(abort?: Abort): void {
    if (this.completed) return;
    this.completed = true;
    clearTimeout(this.routeTimer);
    clearTimeout(this.perTryTimer);
    clearTimeout(this.idleTimer);
    this.dropRetry();
    if (!this.upstreamDone) this.abortUpstream();
    this.endFilteredAttempt();
    if (!this.res.writableFinished && !this.res.destroyed) this.res.destroy();
    const stream = this.stream;
    if (!stream) return;
    if (abort && stream.reset) this.guard(() => stream.reset!(abort.details, abort.origin));
    else this.guard(() => stream.complete());
  }

  /** Runs a host call; a throw is a host bug: log it and reset the stream. */
  private guard(fn: () => unknown): boolean {
    try {
      fn();
      return true;
    } catch (e) {
      this.ctx.log(4, `filter host failed: ${(e as Error).stack ?? e}`);
      if (!this.completed) {
        this.completed = true; // do not call back into a failing stream
        clearTimeout(this.routeTimer);
        clearTimeout(this.perTryTimer);
        clearTimeout(this.idleTimer);
        this.abortUpstream();
        this.res.destroy();
      }
      return false;
    }
  }
}
