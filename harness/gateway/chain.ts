/**
 * Several wasm plugins on one stream, in filter-chain order (Envoy's FilterManager: request
 * callbacks from the client's side towards the router, response callbacks back): each plugin is
 * its own host (its own VMs, its own per-stream Context), and what one plugin lets through is what
 * the next one sees. Used by tests for what another plugin next to ai-failover does to it — on
 * Higress above all: `clear_route_cache` is a property of each plugin's own Context
 * (higress-group/envoy source/extensions/common/wasm/context.h `disable_clear_route_cache_`), so a
 * plugin that edits request headers after ai-failover clears the route cache unless it turned
 * clearing off itself. The route cache is the stream's (the Exchange's), shared by all plugins.
 *
 * What this does not model: the router's direct reply (`routerReply`) goes to the plugin nearest
 * the router and then through the others' encoder callbacks instead of bypassing all of them.
 */
import type { HeaderList, HttpStream, MetricSnapshot, ResetOrigin, StreamCallbacks } from "../host/types.ts";
import type { PluginHostLike } from "./host-like.ts";

export class PluginChain implements PluginHostLike {
  /**
   * `hosts` in filter-chain order (the first sees the client's request first); `primary`: the
   * host whose metrics the admin endpoint serves and whose worker/context ids the stream reports.
   */
  constructor(private readonly hosts: PluginHostLike[], private readonly primary: number) {}

  get workerCount(): number {
    return this.hosts[this.primary]!.workerCount;
  }

  newStream(connectionId: number, cb: StreamCallbacks): HttpStream {
    const streams: HttpStream[] = [];
    const n = this.hosts.length;
    for (let i = 0; i < n; i++) streams.push(this.hosts[i]!.newStream(connectionId, link(i, n, streams, cb)));
    return new ChainStream(streams, this.primary);
  }

  connectionClosed(connectionId: number): void {
    for (const h of this.hosts) h.connectionClosed?.(connectionId);
  }

  metrics(): MetricSnapshot[] {
    return this.hosts[this.primary]!.metrics();
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.close()));
  }
}

/** The callbacks of plugin `i`: requests go on to plugin i+1 (the last: the router), responses back to i-1 (the first: the client). */
function link(i: number, n: number, streams: HttpStream[], cb: StreamCallbacks): StreamCallbacks {
  const next = () => (i + 1 < n ? streams[i + 1]! : undefined);
  // An upstream filter chain's local reply skips the other upstream filters too: it goes to the
  // downstream filter manager (upstream_request.cc UpstreamFilterManager::sendLocalReply).
  let localReply = false;
  const prev = () => (i > 0 && !(cb.upstream && localReply) ? streams[i - 1]! : undefined);
  return {
    upstream: cb.upstream,
    onRequestHeaders: (h, end) => { const s = next(); if (s) s.decodeHeaders(h, end); else cb.onRequestHeaders(h, end); },
    onRequestData: (c, end) => { const s = next(); if (s) s.decodeData(c, end); else cb.onRequestData(c, end); },
    onRequestTrailers: (t) => { const s = next(); if (s) s.decodeTrailers(t); else cb.onRequestTrailers(t); },
    onLocalReply: (status) => { localReply = true; cb.onLocalReply(status); },
    onResponseHeaders: (h, end) => { const s = prev(); if (s) s.encodeHeaders(h, end); else cb.onResponseHeaders(h, end); },
    onResponseData: (c, end) => { const s = prev(); if (s) s.encodeData(c, end); else cb.onResponseData(c, end); },
    onResponseTrailers: (t) => { const s = prev(); if (s) s.encodeTrailers(t); else cb.onResponseTrailers(t); },
    onReset: (reason) => cb.onReset(reason),
    route: cb.route && ((h: HeaderList) => cb.route!(h)),
    cachedRoute: cb.cachedRoute && (() => cb.cachedRoute!()),
    clearRouteCache: cb.clearRouteCache && (() => cb.clearRouteCache!()),
  };
}

class ChainStream implements HttpStream {
  constructor(private readonly streams: HttpStream[], private readonly primary: number) {}
  get worker(): number { return this.streams[this.primary]!.worker; }
  get contextId(): number { return this.streams[this.primary]!.contextId; }
  private get first(): HttpStream { return this.streams[0]!; }
  private get last(): HttpStream { return this.streams[this.streams.length - 1]!; }
  decodeHeaders(h: HeaderList, end: boolean): void { this.first.decodeHeaders(h, end); }
  decodeData(c: Uint8Array, end: boolean): void { this.first.decodeData(c, end); }
  decodeTrailers(t: HeaderList): void { this.first.decodeTrailers(t); }
  encodeHeaders(h: HeaderList, end: boolean): void { this.last.encodeHeaders(h, end); }
  encodeData(c: Uint8Array, end: boolean): void { this.last.encodeData(c, end); }
  encodeTrailers(t: HeaderList): void { this.last.encodeTrailers(t); }
  complete(): void { for (const s of this.streams) s.complete(); }
  reset(reason: string, origin?: ResetOrigin): void {
    for (const s of this.streams) if (s.reset) s.reset(reason, origin); else s.complete();
  }
  routerReply(status: number, body: Uint8Array, details: string): void {
    const s = this.last;
    if (s.routerReply) s.routerReply(status, body, details);
  }
  setResponseCodeDetails(details: string): void { for (const s of this.streams) s.setResponseCodeDetails?.(details); }
  setProperty(path: string[], value: string | Uint8Array): void { for (const s of this.streams) s.setProperty(path, value); }
}
