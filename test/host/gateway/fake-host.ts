/**
 * A stand-in PluginHost for gateway tests: a JavaScript "filter" with the host's callback
 * contract (synchronous callbacks after each call, one worker per connection, complete once).
 * Test-only knobs, read from request headers:
 *   x-test-cluster: <name>      → the filter sets x-ai-failover-cluster to <name> (and removes this header)
 *   x-test-local-reply: <code>  → the filter answers itself with <code> and body "local reply"
 *   x-test-set: <name>=<value>  → the filter adds that request header (and removes this one)
 */
import type {
  ClusterDispatcher,
  HeaderList,
  HttpStream,
  MetricSnapshot,
  PluginOptions,
  ResetOrigin,
  StreamCallbacks,
} from "../../../harness/host/types.ts";
import type { PluginHostLike } from "../../../harness/gateway/index.ts";

export interface StreamRecord {
  connectionId: number;
  worker: number;
  requestHeaders?: HeaderList;
  responseHeaders?: HeaderList;
  /** end_stream of encodeHeaders, and the response body bytes the filter was given. */
  responseHeadersEnd?: boolean;
  responseBodyBytes: number;
  properties: Map<string, string | Uint8Array>;
  /** complete() calls (normal end). */
  completions: number;
  /** reset() calls (aborts), with what the gateway said. */
  resets: Array<{ reason: string; origin?: ResetOrigin }>;
}

export class FakeHost implements PluginHostLike {
  readonly workerCount: number;
  readonly streams: StreamRecord[] = [];
  readonly dispatcher?: ClusterDispatcher;
  private readonly workerOf = new Map<number, number>();
  /** connectionClosed() calls, in order. */
  readonly closedConnections: number[] = [];
  private nextWorker = 0;
  private nextContext = 2;
  closed = false;

  constructor(readonly options: PluginOptions) {
    this.workerCount = options.workers ?? 2;
    this.dispatcher = options.dispatcher;
  }

  static factory(sink: { host?: FakeHost }) {
    return async (opts: PluginOptions) => (sink.host = new FakeHost(opts));
  }

  newStream(connectionId: number, cb: StreamCallbacks): HttpStream {
    if (!this.workerOf.has(connectionId)) this.workerOf.set(connectionId, this.nextWorker++ % this.workerCount);
    const rec: StreamRecord = { connectionId, worker: this.workerOf.get(connectionId)!, properties: new Map(), completions: 0, resets: [], responseBodyBytes: 0 };
    this.streams.push(rec);
    let replied = false;
    const enc = new TextEncoder();
    return {
      worker: rec.worker,
      contextId: this.nextContext++,
      decodeHeaders(headers, endStream) {
        rec.requestHeaders = headers;
        const local = headers.find(([k]) => k === "x-test-local-reply");
        if (local) {
          replied = true;
          cb.onLocalReply(Number(local[1]));
          cb.onResponseHeaders([[":status", local[1]], ["content-length", "11"], ["content-type", "text/plain"]], false);
          cb.onResponseData(enc.encode("local reply"), true);
          return;
        }
        const target = headers.find(([k]) => k === "x-test-cluster");
        const out = headers.filter(([k]) => k !== "x-test-cluster" && k !== "x-test-set");
        if (target) out.push(["x-ai-failover-cluster", target[1]]);
        for (const [k, v] of headers) if (k === "x-test-set") out.push([v.split("=")[0], v.slice(v.indexOf("=") + 1)]);
        // A wasm filter that changes request headers clears Envoy's route cache (context.cc).
        if (out.length !== headers.length || target) cb.clearRouteCache?.();
        cb.onRequestHeaders(out, endStream);
      },
      decodeData(chunk, endStream) {
        if (!replied) cb.onRequestData(chunk, endStream);
      },
      decodeTrailers(trailers) {
        if (!replied) cb.onRequestTrailers(trailers);
      },
      encodeHeaders(headers, endStream) {
        rec.responseHeaders = headers;
        rec.responseHeadersEnd = endStream;
        cb.onResponseHeaders([...headers, ["x-fake-worker", String(rec.worker)]], endStream);
      },
      encodeData(chunk, endStream) {
        rec.responseBodyBytes += chunk.length;
        cb.onResponseData(chunk, endStream);
      },
      encodeTrailers(trailers) {
        cb.onResponseTrailers(trailers);
      },
      complete() {
        rec.completions++;
      },
      reset(reason, origin) {
        rec.resets.push({ reason, origin });
      },
      setProperty(path, value) {
        rec.properties.set(path.join("."), value);
      },
    };
  }

  connectionClosed(connectionId: number): void {
    this.closedConnections.push(connectionId);
    this.workerOf.delete(connectionId);
  }

  metrics(): MetricSnapshot[] {
    return [
      {
        name: "ai_failover.upstream_ms",
        type: "histogram",
        value: 1030n,
        sum: 1030n,
        count: 3n,
        // Two observations ≤ 5 (2 and 3), one of 1025: cumulative counts per default bucket.
        buckets: [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000].map(
          (le) => ({ le, count: le < 5 ? 0n : le < 2500 ? 2n : 3n }),
        ),
      },
      { name: "ai_failover.requests", type: "counter", value: BigInt(this.streams.length) },
      { name: "ai_failover.provider.aoai-east.inflight", type: "gauge", value: 0n },
      { name: "9lives", type: "counter", value: 1n },
    ];
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
