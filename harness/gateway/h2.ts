/**
 * HTTP/2 (h2c, prior knowledge) to a cluster's endpoints, for clusters configured with
 * `http2_protocol_options` — what Envoy's gRPC async client needs for a gRPC service such as the
 * rate limit service. One session per endpoint, reused; a session that fails or closes is
 * replaced on the next request.
 */
import http2 from "node:http2";
import type { DispatchResult, HeaderList } from "../host/types.ts";
import type { Endpoint } from "./bootstrap.ts";

export class H2Pool {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  private session(ep: Endpoint, connectTimeoutMs: number): { session: http2.ClientHttp2Session; connected: () => boolean } {
    const key = `${ep.address}:${ep.port}`;
    const existing = this.sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return { session: existing, connected: () => !existing.connecting };
    const host = ep.address.includes(":") ? `[${ep.address}]` : ep.address;
    const session = http2.connect(`http://${host}:${ep.port}`);
    session.on("error", () => {});
    const timer = setTimeout(() => {
      if (session.connecting) session.destroy(Object.assign(new Error("connect timeout"), { code: "GATEWAY_CONNECT_TIMEOUT" }));
    }, connectTimeoutMs);
    session.once("connect", () => clearTimeout(timer));
    session.once("close", () => {
      clearTimeout(timer);
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    });
    this.sessions.set(key, session);
    return { session, connected: () => !session.connecting };
  }

  /**
   * One request/response exchange. Never rejects except through `signal` (then with its reason):
   * a failure before the connection is up is connect-failure; a stream reset before response
   * headers is reset, after them reset with afterHeaders.
   */
  request(ep: Endpoint, connectTimeoutMs: number, headers: HeaderList, body: Uint8Array, signal: AbortSignal, onHeaders?: () => void): Promise<DispatchResult> {
    return new Promise<DispatchResult>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const { session, connected } = this.session(ep, connectTimeoutMs);
      const out: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of headers) {
        const cur = out[k];
        out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
      }
      let settled = false;
      let gotHeaders = false;
      const settle = (r: DispatchResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        resolve(r);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(out, { endStream: body.length === 0 });
      } catch {
        return settle(connected() ? { kind: "reset" } : { kind: "connect-failure" });
      }
      const respHeaders: HeaderList = [];
      const trailers: HeaderList = [];
      const chunks: Buffer[] = [];
      const push = (into: HeaderList, h: http2.IncomingHttpHeaders) => {
        for (const [k, v] of Object.entries(h)) {
          if (v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [String(v)]) into.push([k, one]);
        }
      };
      stream.on("response", (h) => {
        gotHeaders = true;
        onHeaders?.();
        push(respHeaders, h);
        const status = respHeaders.findIndex(([k]) => k === ":status");
        if (status > 0) respHeaders.unshift(...respHeaders.splice(status, 1));
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("trailers", (h) => push(trailers, h));
      let ended = false;
      stream.on("end", () => (ended = true));
      stream.on("error", () => {});
      // Decided on close: only then is rstCode known (a reset may follow the data).
      stream.on("close", () => {
        if (settled) return;
        if (gotHeaders && ended && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR)
          return settle({ kind: "response", headers: respHeaders, body: new Uint8Array(Buffer.concat(chunks)), trailers });
        if (!connected()) return settle({ kind: "connect-failure" });
        // RST_STREAM on a live session is Envoy's "remote reset"; a dead session "connection termination".
        const reason = session.closed || session.destroyed ? "connection termination" : "remote reset";
        settle({ kind: "reset", afterHeaders: gotHeaders, reason });
      });
      const onAbort = () => {
        if (settled) return;
        settled = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      if (body.length > 0) stream.end(Buffer.from(body));
    });
  }

  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }
}
