/**
 * One HTTP stream through the wasm filter on one worker VM: the parts of Envoy's filter manager
 * (and of Envoy's wasm Context for HTTP) a filter can observe. Every effect the filter asks for
 * (continue, close, local reply) is applied after the VM call returns; the gateway is only ever
 * called from here, never from inside a VM call.
 */
import { ENVOY_ACTIVATION_TOKENS, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, HeaderMapType, StreamType, WasmResult } from "./abi.ts";
import { concatBytes, EMPTY, toBytes } from "./bytes.ts";
import { BodyBuffer, ConstBuffer, HostContext, type HostBuffer, type LocalReplyRequest, type RootContext } from "./context.ts";
import { Direction, REQUEST, RESPONSE } from "./direction.ts";
import { HeaderMap } from "./header-map.ts";
import type { ResolvedOptions } from "./options.ts";
import type { HeaderList, HttpStream, ResetOrigin, StreamCallbacks } from "./types.ts";
import type { WasmVm } from "./vm.ts";

const FAIL_STREAM_DETAILS = "wasm_fail_stream";
const CLOSE_STREAM_DETAILS = "wasm_close_stream";
/** Envoy's legacy response flags (StreamInfo::ResponseFlag bits, as `response.flags` returns them). */
const RESPONSE_FLAG = { UpstreamConnectionTermination: 0x40, DownstreamConnectionTermination: 0x4000 } as const;
const DEFAULT_RESET_DETAILS: Record<ResetOrigin, string> = {
  downstream: "downstream_remote_disconnect",
  upstream: "upstream_reset_after_response_started{connection_termination}",
  local: "local_reset",
};

export class HttpStreamImpl extends HostContext implements HttpStream {
  readonly contextId: number;
  readonly id: number;
  /** Envoy stream info response code details (local replies, close_stream, failures, resets). */
  responseCodeDetails?: string;
  /** Envoy stream info response flags (legacy bitmask). */
  responseFlags = 0;

  private readonly req = new Direction(REQUEST);
  private readonly res = new Direction(RESPONSE);
  private created = false;
  private done = false;
  private completed = false;
  /** The response has started (upstream headers arrived or a local reply began). */
  private responseStarted = false;
  /** Upstream response input is ignored (a local reply replaced it). */
  private upstreamIgnored = false;
  /** failure_local_reply_sent_: the filter is skipped from now on. */
  private streamFailed = false;
  /** fail_open after a failure: the filter is bypassed. */
  private bypass = false;
  private inLog = false;
  /** Higress only: the filter set `clear_route_cache` to "off" (header changes keep the route). */
  private routeCacheOff = false;
  /**
   * The HCM's response headers (what Envoy's access log, hence on_log, sees): the upstream or
   * local-reply headers that entered the encoder chain, or a direct reply's headers. Live map.
   */
  private hcmResponseHeaders: HeaderMap | null = null;
  private finalResponseTrailers: HeaderMap | null = null;
  private readonly properties = new Map<string, Uint8Array>();
  private readonly filterState = new Map<string, Uint8Array>();
  private readonly work: Array<() => void> = [];
  private running = false;

  constructor(
    readonly worker: number,
    private readonly vm: WasmVm,
    private readonly cb: StreamCallbacks,
    private readonly opts: ResolvedOptions,
    /** Whether this stream may use the filter at all (false: FAIL_OPEN on a failed worker). */
    usable = true,
  ) {
    super();
    this.id = vm.allocContextId();
    this.contextId = this.id;
    vm.contexts.set(this.id, this);
    if (!usable) this.bypass = true;
  }

  root(): RootContext {
    return this.vm.root ?? this.vm.vmContext;
  }

  // ---- public surface (gateway) ----------------------------------------------------------------

  decodeHeaders(headers: HeaderList, endStream: boolean): void {
    this.run(() => this.onHeaders(this.req, headers, endStream));
  }
  decodeData(chunk: Uint8Array, endStream: boolean): void {
    this.run(() => this.onData(this.req, chunk, endStream));
  }
  decodeTrailers(trailers: HeaderList): void {
    this.run(() => this.onTrailers(this.req, trailers));
  }
  encodeHeaders(headers: HeaderList, endStream: boolean): void {
    this.run(() => {
      if (this.done || this.upstreamIgnored) return;
      this.responseStarted = true;
      this.onHeaders(this.res, headers, endStream);
    });
  }
  encodeData(chunk: Uint8Array, endStream: boolean): void {
    this.run(() => {
      if (!this.upstreamIgnored) this.onData(this.res, chunk, endStream);
    });
  }
  encodeTrailers(trailers: HeaderList): void {
    this.run(() => {
      if (!this.upstreamIgnored) this.onTrailers(this.res, trailers);
    });
  }
  complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.run(() => this.finish());
  }
  reset(reason: string, origin: ResetOrigin = "downstream"): void {
    if (this.completed) return;
    this.completed = true;
    this.run(() => {
      // Envoy's doConnectionClose / router reset: flag and details on the stream info, then the
      // filter is destroyed after the access log; nothing else reaches it.
      if (origin === "upstream") this.responseFlags |= RESPONSE_FLAG.UpstreamConnectionTermination;
      else if (origin === "downstream") this.responseFlags |= RESPONSE_FLAG.DownstreamConnectionTermination;
      this.responseCodeDetails = reason || DEFAULT_RESET_DETAILS[origin];
      this.finish();
    });
  }
  setProperty(path: string[], value: string | Uint8Array): void {
    this.properties.set(path.join("\u0000"), toBytes(value));
  }
  setResponseCodeDetails(details: string): void {
    this.responseCodeDetails = details;
  }
  routerReply(status: number, body: Uint8Array, details: string): void {
    this.run(() => this.localReply({ code: status, body, headers: [], grpcStatus: -1, details }, false));
  }

  /** Called (asynchronously) when the VM failed while this stream may be waiting on it. */
  onVmFailed(): void {
    this.run(() => {
      if (this.done || this.streamFailed || this.bypass) return;
      for (const dir of [this.req, this.res]) {
        if (dir.paused()) {
          this.applyFailure(dir);
          return;
        }
      }
    });
  }

  /** Serialises all work on this stream (gateway calls made from our own callbacks are queued). */
  private run(fn: () => void): void {
    this.work.push(fn);
    if (this.running) return;
    this.running = true;
    try {
      while (this.work.length > 0) this.work.shift()!();
    } finally {
      this.running = false;
    }
  }

  // ---- host-context answers ---------------------------------------------------------------------

  private dir(type: number): Direction {
    return type === HeaderMapType.RequestHeaders || type === HeaderMapType.RequestTrailers ? this.req : this.res;
  }

  override constMap(type: number): HeaderMap | null {
    if (type >= HeaderMapType.GrpcReceiveInitialMetadata) return super.constMap(type);
    if (this.inLog) {
      // Envoy Context::log: access_log_* maps are the HCM's (FilterManager::log), which exist even
      // when the filter never let them through (e.g. a local reply sent from on_request_headers).
      if (type === HeaderMapType.RequestHeaders) return this.req.headers;
      if (type === HeaderMapType.ResponseHeaders) return this.hcmResponseHeaders;
      if (type === HeaderMapType.ResponseTrailers) return this.finalResponseTrailers;
      return null;
    }
    // Envoy Context::getConstMap never creates trailers (only getMap does, addDecodedTrailers).
    return this.windowMap(type, false);
  }

  override mutableMap(type: number): HeaderMap | null {
    return this.windowMap(type, true);
  }

  private windowMap(type: number, mayCreate: boolean): HeaderMap | null {
    if (type > HeaderMapType.ResponseTrailers) return null;
    const d = this.dir(type);
    if (type === HeaderMapType.RequestHeaders || type === HeaderMapType.ResponseHeaders) {
      return d.headersOpen ? d.headers : null;
    }
    if (d.trailersOpen) return d.trailers;
    if (mayCreate && d.mayAddTrailers) {
      d.trailers = new HeaderMap();
      d.trailersOpen = true;
      return d.trailers;
    }
    return null;
  }

  override inAccessLogPhase(): boolean {
    return this.inLog;
  }

  override headersModified(type: number): void {
    // Envoy's Context::addHeaderMapValue / replace / remove / setHeaderMapPairs
    // (source/extensions/common/wasm/context.cc) clear the route cache on every request-header
    // mutation. Higress's Envoy (same file, `#if defined(HIGRESS)`) skips it once the filter set
    // the property `clear_route_cache` to "off" on this stream.
    if (type !== HeaderMapType.RequestHeaders) return;
    if (this.opts.flavour === "higress" && this.routeCacheOff) return;
    this.cb.clearRouteCache?.();
  }

  /** proxy_clear_route_cache: Context::clearRouteCache, unconditional on both hosts. */
  override clearRouteCache(): void {
    this.cb.clearRouteCache?.();
  }

  protected override bodyBuffer(type: number): HostBuffer {
    const d = type === 0 ? this.req : this.res;
    return d.body ?? new ConstBuffer();
  }

  override continueStream(type: number): number {
    if (type === StreamType.Upstream) return WasmResult.Unimplemented;
    if (type === StreamType.Downstream) return WasmResult.Ok;
    const d = type === StreamType.Request ? this.req : this.res;
    // Envoy Context::continueStream (source/extensions/common/wasm/context.cc) clears the
    // *request* pointers (request_headers_, request_body_buffer_, request_trailers_) at once for
    // Request and for Response alike; the response pointers are left as they are.
    this.req.closeWindows();
    this.vm.defer(() => this.run(() => this.resume(d)));
    return WasmResult.Ok;
  }

  override closeStream(type: number): number {
    if (type === StreamType.Request || type === StreamType.Response) {
      this.responseCodeDetails ??= CLOSE_STREAM_DETAILS;
      this.vm.defer(() => this.run(() => this.resetStream(CLOSE_STREAM_DETAILS)));
    }
    return WasmResult.Ok;
  }

  override sendLocalResponse(reply: LocalReplyRequest): void {
    this.vm.defer(() => this.run(() => this.localReply(reply, false)));
  }

  /**
   * Higress's Context::injectEncodedDataToFilterChain: posted to the stream's dispatcher (it runs
   * after the VM call, on a later turn of the event loop), then ActiveStreamEncoderFilter::
   * injectEncodedDataToFilterChain (source/common/http/filter_manager.cc, higress-group/envoy):
   * response headers the filter still holds go first (doHeaders), then the data enters the
   * encoder chain *after* this filter (it never sees it); end_stream ends the response. The
   * response's later input from upstream is past its end.
   */
  override injectEncodedData(data: Uint8Array, endStream: boolean): void {
    setImmediate(() =>
      this.run(() => {
        const d = this.res;
        if (this.done || d.aborted || d.ended || !d.headers) return;
        if (!d.headersPassed) {
          d.headersStopped = false;
          this.passHeaders(d, false);
        }
        this.passData(d, data, endStream);
      }),
    );
  }

  override streamProperty(path: string): Uint8Array | undefined {
    const seg = path.split("\u0000");
    const top = seg[0]!;
    if (!ENVOY_ACTIVATION_TOKENS.has(top)) {
      // Context::findValue: connection_id (uint64), else filter state "wasm.<top-level name>"
      // (a further segment into its bytes value is NotFound).
      if (top === "connection_id") return seg.length === 1 ? this.properties.get("connection\u0000id") : undefined;
      if (this.opts.flavour === "higress" && seg.length === 1) {
        // Higress's Envoy (1.27) still has the legacy tokens. ROUTE_NAME, before the router named
        // the route, asks the filter callbacks for the route: that refreshes a cleared route cache
        // from the current request headers (ActiveStream::route → refreshCachedRoute).
        // CLUSTER_NAME reads the stream info's route without refreshing.
        if (top === "route_name") {
          const r = this.cb.route?.(this.req.headers?.toList() ?? []);
          return r ? toBytes(r.name) : undefined;
        }
        if (top === "cluster_name") {
          const r = this.cb.cachedRoute?.();
          return r && r.cluster ? toBytes(r.cluster) : undefined;
        }
      }
      return seg.length === 1 ? this.filterState.get(top) : undefined;
    }
    const v = this.properties.get(path);
    if (v) return v;
    // StreamActivation: request.* / response.* header-derived values come from
    // `request_headers_ ?: access_log_request_headers_` (likewise for responses): only while the
    // filter holds that header map (its window) or in on_log. Anywhere else they are NotFound.
    const reqHeaders = this.req.headersOpen || this.inLog ? this.req.headers : null;
    const resHeaders = this.res.headersOpen ? this.res.headers : this.inLog ? this.hcmResponseHeaders : null;
    const str = (x: string | undefined): Uint8Array | undefined => (x === undefined ? undefined : new Uint8Array(Buffer.from(x, "latin1")));
    if (top === "request" && reqHeaders) {
      if (seg.length === 2) {
        const p = reqHeaders.get(":path");
        switch (seg[1]) {
          case "path":
            return str(p);
          case "url_path":
            return p === undefined ? undefined : str(p.split("?")[0]!);
          case "query": {
            if (p === undefined) return undefined;
            const q = p.indexOf("?");
            return q < 0 ? new Uint8Array(0) : str(p.slice(q + 1).split("#")[0]!);
          }
          case "method":
            return str(reqHeaders.get(":method"));
          case "host":
            return str(reqHeaders.get(":authority"));
          case "scheme":
            return str(reqHeaders.get(":scheme"));
          case "id":
            return str(reqHeaders.get("x-request-id"));
          case "useragent":
            return str(reqHeaders.get("user-agent"));
          case "referer":
            return str(reqHeaders.get("referer"));
        }
      }
      if (seg.length === 3 && seg[1] === "headers") return str(reqHeaders.getAll(seg[2]!));
    }
    if (top === "response") {
      if (seg.length === 3 && seg[1] === "headers") return resHeaders ? str(resHeaders.getAll(seg[2]!)) : undefined;
      if (path === "response\u0000code") {
        // Stream info response code (the gateway normally sets it; else the HCM response :status).
        const st = this.hcmResponseHeaders?.get(":status");
        if (st !== undefined) {
          const b = new Uint8Array(8);
          new DataView(b.buffer).setBigInt64(0, BigInt(parseInt(st, 10) || 0), true);
          return b;
        }
      }
      if (path === "response\u0000code_details" && this.responseCodeDetails) return toBytes(this.responseCodeDetails);
      if (path === "response\u0000flags") {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, BigInt(this.responseFlags), true);
        return b;
      }
    }
    return undefined;
  }

  override setFilterState(path: string, value: Uint8Array): number {
    // Higress's Context::setProperty also reads `clear_route_cache` ("off" = keep the route).
    if (this.opts.flavour === "higress" && path === "clear_route_cache") this.routeCacheOff = Buffer.from(value).toString("latin1") === "off";
    this.filterState.set(path, value.slice());
    return WasmResult.Ok;
  }

  // ---- filter callbacks -----------------------------------------------------------------------------

  private onCreate(): void {
    if (this.created) return;
    this.created = true;
    if (!this.vm.failed && this.vm.has("proxy_on_context_create")) {
      this.vm.call(this, "proxy_on_context_create", [this.id, this.root().id]);
      this.vm.afterCall();
    }
  }

  /** Envoy CHECK_FAIL_HTTP before/after a callback. Returns true when the filter must not run. */
  private failed(dir: Direction): boolean {
    if (this.bypass) return true;
    if (!this.vm.failed) return false;
    this.applyFailure(dir);
    return true;
  }

  private applyFailure(dir: Direction): void {
    if (this.opts.failurePolicy === "FAIL_OPEN") {
      this.bypass = true;
      this.bypassResume(this.req);
      if (dir === this.res || this.responseStarted) this.bypassResume(this.res);
      return;
    }
    if (this.streamFailed) return;
    this.streamFailed = true;
    this.localReply({ code: 503, body: EMPTY, headers: [], grpcStatus: 14, details: FAIL_STREAM_DETAILS }, true);
  }

  /** Fail-open: pass everything the filter was holding, unfiltered. */
  private bypassResume(d: Direction): void {
    if (d.aborted || d.ended) return;
    d.closeWindows();
    if (d.headers && !d.headersPassed) this.passHeaders(d, d.headersEos && d.held.length === 0 && !d.heldEos && d.fm.size() === 0);
    d.headersStopped = d.stoppedAll = d.dataStopped = d.bufferingBody = false;
    const data = concatBytes(d.fm.data, d.held);
    d.fm.data = EMPTY;
    d.held = EMPTY;
    const trailers = d.heldTrailers ?? (d.trailersStopped ? d.trailers : null);
    d.heldTrailers = null;
    d.trailersStopped = false;
    if (d.headersPassed && (data.length > 0 || (d.eosIn && !trailers && !d.ended))) this.passData(d, data, d.eosIn && !trailers);
    if (trailers) this.passTrailers(d, trailers);
  }

  /**
   * Is a StopIteration from on_request_headers / on_response_headers turned into
   * StopAllIterationAndWatermark (the body is then held until the filter continues)?
   * Upstream (ContextBase::convertVmCallResultToFilterHeadersStatus, src/context.cc): unless the
   * plugin sets allow_on_headers_stop_iteration (Envoy ≥ 1.35). Higress's fork: unless the module
   * is ABI 0_2_100 (it binds on_request_headers_abi_03_ for it and converts only for the 0_1/0_2 bindings).
   */
  private convertsStopIteration(): boolean {
    if (this.opts.flavour === "higress") return this.vm.linked.abi !== "0_2_100";
    return !this.opts.allowOnHeadersStopIteration;
  }

  private callFilter(fn: string, args: number[]): { trapped: boolean; value: number; called: boolean } {
    const out = this.vm.call(this, fn, args);
    if (!out.called) return { trapped: this.vm.failed, value: 0, called: false };
    if (out.trapped) return { trapped: true, value: 0, called: true };
    return { trapped: false, value: out.value, called: true };
  }

  private onHeaders(d: Direction, headers: HeaderList, eos: boolean): void {
    if (this.done || d.aborted || d.headers) return;
    d.headers = new HeaderMap(headers);
    if (d === this.res) this.hcmResponseHeaders = d.headers;
    d.headersEos = eos;
    d.eosIn = eos;
    if (d === this.req) this.onCreate();
    if (!this.created || this.streamFailed || this.failed(d)) {
      if (!this.streamFailed && !d.headersPassed && !d.aborted) this.passHeaders(d, eos);
      return;
    }
    d.headersOpen = true;
    const args = this.vm.linked.abi === "0_1_0" ? [this.id, d.headers.size] : [this.id, d.headers.size, eos ? 1 : 0];
    const out = this.callFilter(d.spec.headersFn, args);
    let status: number = FilterHeadersStatus.Continue;
    if (out.called && !out.trapped) {
      const r = out.value;
      if (this.vm.stopNextIteration || r > FilterHeadersStatus.StopAllIterationAndWatermark) status = FilterHeadersStatus.StopAllIterationAndWatermark;
      else if (r === FilterHeadersStatus.StopIteration && this.convertsStopIteration()) status = FilterHeadersStatus.StopAllIterationAndWatermark;
      else if (r === FilterHeadersStatus.ContinueAndEndStream) status = FilterHeadersStatus.Continue;
      else status = r;
    }
    if (status !== FilterHeadersStatus.Continue) {
      d.headersStopped = true;
      if (status !== FilterHeadersStatus.StopIteration) {
        d.stoppedAll = true;
        d.stopAllBuffer = status === FilterHeadersStatus.StopAllIterationAndBuffer;
      }
    }
    this.vm.afterCall();
    if (out.trapped) {
      if (!this.failed(d) && !d.headersPassed) this.passHeaders(d, eos);
      return;
    }
    if (d.aborted || this.done) return;
    if (status === FilterHeadersStatus.Continue && !d.headersPassed) this.passHeaders(d, eos);
  }

  private onData(d: Direction, chunk: Uint8Array, eos: boolean): void {
    if (this.done || d.aborted || d.ended) return;
    if (eos) d.eosIn = true;
    if (!d.headers || !this.created || this.bypass || this.streamFailed) {
      if (!this.streamFailed && d.headersPassed) this.passData(d, chunk, eos);
      return;
    }
    if (d.stoppedAll) {
      d.held = concatBytes(d.held, chunk);
      d.heldEos ||= eos;
      if (d.stopAllBuffer && d.held.length > this.opts.bufferLimitBytes) this.overflow(d);
      return;
    }
    this.processData(d, chunk, eos);
  }

  private processData(d: Direction, chunk: Uint8Array, eos: boolean): void {
    if (this.failed(d)) {
      if (this.bypass && d.headersPassed) this.passData(d, chunk, eos);
      return;
    }
    let visible: BodyBuffer;
    if (d.bufferingBody) {
      if (d.fm.size() + chunk.length > this.opts.bufferLimitBytes) {
        this.overflow(d);
        return;
      }
      d.fm.data = concatBytes(d.fm.data, chunk);
      visible = d.fm;
    } else {
      visible = new BodyBuffer(chunk);
    }
    d.body = visible;
    d.mayAddTrailers = eos && !d.trailers;
    const out = this.callFilter(d.spec.bodyFn, [this.id, visible.size(), eos ? 1 : 0]);
    d.mayAddTrailers = false;
    let status: number = FilterDataStatus.Continue;
    if (out.called && !out.trapped) {
      const r = out.value;
      status = this.vm.stopNextIteration || r > FilterDataStatus.StopIterationNoBuffer ? FilterDataStatus.StopIterationNoBuffer : r;
    }
    d.bufferingBody = false;
    let pass: Uint8Array | null = null;
    if (status === FilterDataStatus.Continue) {
      d.body = null;
      pass = visible === d.fm ? d.fm.data : concatBytes(d.fm.data, visible.data);
      d.fm.data = EMPTY;
      d.dataStopped = false;
    } else if (status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark) {
      if (visible !== d.fm) d.fm.data = concatBytes(d.fm.data, visible.data);
      d.body = d.fm;
      d.bufferingBody = status === FilterDataStatus.StopIterationAndBuffer;
      d.dataStopped = true;
    } else {
      d.dataStopped = true;
    }
    // Trailers the filter added in the last body callback.
    const added = d.trailersOpen && d.trailers && !d.headersStopped ? d.trailers : null;
    if (d.trailersOpen && d.trailers) d.trailersOpen = false;
    this.vm.afterCall();
    if (out.trapped) {
      if (!this.failed(d) && d.headersPassed) this.passData(d, concatBytes(d.fm.data, visible.data), eos);
      return;
    }
    if (d.aborted || this.done) return;
    if (d.bufferingBody && d.fm.size() > this.opts.bufferLimitBytes) {
      this.overflow(d);
      return;
    }
    if (pass !== null) {
      if (!d.headersPassed) {
        d.headersStopped = false;
        this.passHeaders(d, false);
      }
      const trailers = added ?? (eos ? d.trailers : null);
      this.passData(d, pass, eos && !trailers);
      if (eos && trailers) this.passTrailers(d, trailers);
    } else if (added) {
      d.trailers = added;
      d.trailersStopped = true;
    }
  }

  private onTrailers(d: Direction, trailers: HeaderList): void {
    if (this.done || d.aborted || d.ended) return;
    d.eosIn = true;
    const map = new HeaderMap(trailers);
    if (!d.headers || !this.created || this.bypass || this.streamFailed) {
      if (!this.streamFailed && d.headersPassed) this.passTrailers(d, map);
      return;
    }
    if (d.stoppedAll) {
      d.heldTrailers = map;
      return;
    }
    this.processTrailers(d, map);
  }

  private processTrailers(d: Direction, map: HeaderMap): void {
    if (this.failed(d)) {
      if (this.bypass && d.headersPassed) this.passTrailers(d, map);
      return;
    }
    d.trailers = map;
    d.trailersOpen = true;
    const out = this.callFilter(d.spec.trailersFn, [this.id, map.size]);
    let status: number = FilterTrailersStatus.Continue;
    if (out.called && !out.trapped) {
      const r = out.value;
      status = this.vm.stopNextIteration || r > FilterTrailersStatus.StopIteration ? FilterTrailersStatus.StopIteration : r;
    }
    if (status === FilterTrailersStatus.Continue) d.trailersOpen = false;
    else d.trailersStopped = true;
    this.vm.afterCall();
    if (out.trapped) {
      if (!this.failed(d)) this.flushAll(d);
      return;
    }
    if (d.aborted || this.done) return;
    if (status === FilterTrailersStatus.Continue && !d.dataStopped && !d.headersStopped) this.flushAll(d);
    else if (status === FilterTrailersStatus.Continue && (d.dataStopped || d.headersStopped)) {
      // Continuing from trailers resumes the whole direction.
      this.flushAll(d);
    }
  }

  /** Pass everything pending in this direction downstream (headers, buffered data, trailers). */
  private flushAll(d: Direction): void {
    if (d.ended || d.aborted) return;
    d.closeWindows();
    d.headersStopped = d.stoppedAll = d.dataStopped = d.bufferingBody = false;
    if (!d.headersPassed) this.passHeaders(d, false);
    const data = d.fm.data;
    d.fm.data = EMPTY;
    const trailers = d.trailers;
    d.trailersStopped = false;
    if (data.length > 0) this.passData(d, data, false);
    if (trailers) this.passTrailers(d, trailers);
    else if (d.eosIn && !d.ended) this.passData(d, EMPTY, true);
  }

  /** continue_stream took effect (Envoy continueDecoding/continueEncoding). */
  private resume(d: Direction): void {
    if (this.done || d.aborted || d.ended || this.streamFailed) return;
    if (this.bypass) {
      this.bypassResume(d);
      return;
    }
    if (d.headersStopped) {
      // Envoy never clears response_headers_ on continue (see continueStream): the response
      // header map stays readable/writable (edits after it went downstream have no effect).
      const keepOpen = d === this.res && d.headersOpen;
      d.headersStopped = false;
      d.headersOpen = false;
      if (!d.headersPassed) {
        const nothingMore = d.headersEos;
        this.passHeaders(d, nothingMore);
      }
      d.headersOpen = keepOpen;
      if (d.stoppedAll) {
        d.stoppedAll = false;
        const held = d.held;
        const heldEos = d.heldEos;
        const heldTrailers = d.heldTrailers;
        d.held = EMPTY;
        d.heldEos = false;
        d.heldTrailers = null;
        if (held.length > 0 || heldEos) this.processData(d, held, heldEos && !heldTrailers);
        if (heldTrailers && !d.aborted && !this.done) this.processTrailers(d, heldTrailers);
        return;
      }
    }
    if (d.trailersStopped) {
      this.flushAll(d);
      return;
    }
    if (d.dataStopped) {
      d.dataStopped = false;
      d.bufferingBody = false;
      d.body = null;
      const data = d.fm.data;
      d.fm.data = EMPTY;
      if (data.length > 0 || (d.eosIn && !d.ended)) this.passData(d, data, d.eosIn);
    }
  }

  // ---- emission to the gateway -------------------------------------------------------------------

  private passHeaders(d: Direction, eos: boolean): void {
    if (d.headersPassed || !d.headers) return;
    d.headersPassed = true;
    d.headersOpen = false;
    d.headersStopped = false;
    const list = d.headers.toList();
    if (eos) d.ended = true;
    if (d === this.req) this.cb.onRequestHeaders(list, eos);
    else this.cb.onResponseHeaders(list, eos);
  }

  private passData(d: Direction, data: Uint8Array, eos: boolean): void {
    if (d.ended) return;
    if (eos) d.ended = true;
    if (d === this.req) this.cb.onRequestData(data, eos);
    else this.cb.onResponseData(data, eos);
  }

  private passTrailers(d: Direction, trailers: HeaderMap): void {
    if (d.ended) return;
    d.ended = true;
    d.trailersOpen = false;
    const list = trailers.toList();
    if (d === this.req) this.cb.onRequestTrailers(list);
    else {
      this.finalResponseTrailers = new HeaderMap(list);
      this.cb.onResponseTrailers(list);
    }
  }

  // ---- local replies, resets, overflow ------------------------------------------------------------

  private overflow(d: Direction): void {
    if (d === this.req) {
      this.localReply({ code: 413, body: toBytes("Payload Too Large"), headers: [], grpcStatus: -1, details: "request_payload_too_large" }, false);
    } else {
      this.localReply({ code: 500, body: toBytes("Internal Server Error"), headers: [], grpcStatus: -1, details: "response_payload_too_large" }, false);
    }
  }

  /** A reset the host decided (close_stream, local reply after headers): the gateway is told. */
  private resetStream(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.req.aborted = this.res.aborted = true;
    // Header/trailer pointers stay set in Envoy (writes in on_log still reach them); bodies go.
    this.req.body = this.res.body = null;
    this.cb.onReset(reason);
  }

  /**
   * Envoy sendLocalReply: before any response, through the encoder path (the filter's own
   * response callbacks see it); once the response started but headers were not sent, a direct
   * reply; after headers went downstream, a reset.
   */
  private localReply(reply: LocalReplyRequest, skipFilter: boolean): void {
    if (this.done) return;
    if (this.streamFailed && !skipFilter) return;
    this.responseCodeDetails = reply.details;
    const headers = new HeaderMap([[":status", String(reply.code)]]);
    for (const [k, v] of reply.headers) headers.add(k, v);
    if (reply.body.length > 0) {
      headers.replace("content-length", String(reply.body.length));
      if (headers.get("content-type") === undefined) headers.add("content-type", "text/plain");
    } else {
      headers.remove("content-length");
      headers.remove("content-type");
    }
    // The request is over for the filter: nothing more goes upstream. Envoy keeps
    // request_headers_ (the callback that asked for the reply returned a stop, so it was never
    // cleared): the request headers stay readable/writable, e.g. in on_response_headers of the reply.
    this.req.aborted = true;
    this.req.body = null;
    this.req.held = EMPTY;
    if (!this.responseStarted) {
      this.responseStarted = true;
      this.upstreamIgnored = true;
      this.cb.onLocalReply(reply.code);
      if (skipFilter || this.streamFailed || this.bypass || !this.created || this.cb.upstream) {
        this.directReply(headers, reply.body);
      } else {
        this.onHeaders(this.res, headers.toList(), reply.body.length === 0);
        if (reply.body.length > 0) this.onData(this.res, reply.body, true);
      }
    } else if (!this.res.headersPassed) {
      this.upstreamIgnored = true;
      this.cb.onLocalReply(reply.code);
      this.directReply(headers, reply.body);
    } else {
      this.resetStream(`local reply ${reply.code} after response headers were sent (${reply.details})`);
    }
  }

  private directReply(headers: HeaderMap, body: Uint8Array): void {
    const d = this.res;
    d.aborted = true;
    d.closeWindows();
    d.headersPassed = true;
    d.ended = true;
    const list = headers.toList();
    this.hcmResponseHeaders = headers;
    this.cb.onResponseHeaders(list, body.length === 0);
    if (body.length > 0) this.cb.onResponseData(body, true);
  }

  // ---- end of stream ---------------------------------------------------------------------------------

  private finish(): void {
    this.done = true;
    // Envoy's header pointers outlive the stream's processing (on_log writes reach a map the
    // filter still held); the body buffers are gone.
    this.req.body = this.res.body = null;
    this.req.aborted = this.res.aborted = true;
    const vm = this.vm;
    if (!vm.failed && !this.bypass) {
      if (!this.created) this.onCreate();
      if (vm.has("proxy_on_log")) {
        this.inLog = true;
        vm.call(this, "proxy_on_log", [this.id]);
        this.inLog = false;
        vm.afterCall();
      }
      if (vm.has("proxy_on_done")) {
        vm.call(this, "proxy_on_done", [this.id]);
        vm.afterCall();
      }
      if (this.created && vm.has("proxy_on_delete")) {
        vm.call(this, "proxy_on_delete", [this.id]);
        vm.afterCall();
      }
    }
    vm.contexts.delete(this.id);
  }
}
