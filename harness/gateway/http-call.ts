/**
 * proxy_http_call's (and proxy_grpc_call's) way to the clusters: the same clusters and pools as the
 * router; HTTP/2 (h2c) on clusters with http2_protocol_options. pickHost serves the connections the
 * host opens itself (Higress redis calls).
 */
import type { ClusterDispatcher, DispatchResult, HeaderList } from "../host/types.ts";
import type { ClusterManager } from "./clusters.ts";
import { HOP_BY_HOP } from "./headers.ts";

export function clusterDispatcher(clusters: ClusterManager): ClusterDispatcher {
  return {
    hasCluster: (name) => clusters.has(name),
    hasHealthyHost: (name) => clusters.hasHealthyHost(name),
    pickHost(name) {
      const ep = clusters.pickEndpoint(name);
      const config = clusters.config(name);
      return ep && config ? { address: ep.address, port: ep.port, connectTimeoutMs: config.connectTimeoutMs } : undefined;
    },
    sendGrpc(cluster, request, signal) {
      return this.send(cluster, { ...request, trailers: [] }, signal);
    },
    send(cluster, request, signal, onHeaders) {
      if (clusters.config(cluster)?.http2) {
        const headers: HeaderList = request.headers.filter(([k]) => !HOP_BY_HOP.has(k) || k === "te");
        return clusters.h2Request(cluster, headers, request.body, signal, onHeaders);
      }
      return new Promise<DispatchResult>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const headers: HeaderList = [...request.headers];
        if (request.body.length > 0 && !headers.some(([k]) => k === "content-length"))
          headers.push(["content-length", String(request.body.length)]);
        let settled = false;
        const settle = (r: DispatchResult) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        };
        const req = clusters.request(cluster, headers, undefined, {
          onFailure: (f) => settle(f.kind === "reset" ? { kind: "reset" } : { kind: "connect-failure" }),
          onResponse: (res) => {
            onHeaders?.();
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const out: HeaderList = [[":status", String(res.statusCode ?? 0)]];
              for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
                const k = res.rawHeaders[i].toLowerCase();
                if (!HOP_BY_HOP.has(k)) out.push([k, res.rawHeaders[i + 1]]);
              }
              const trailers: HeaderList = [];
              for (let i = 0; i + 1 < res.rawTrailers.length; i += 2)
                trailers.push([res.rawTrailers[i].toLowerCase(), res.rawTrailers[i + 1]]);
              settle({ kind: "response", headers: out, body: new Uint8Array(Buffer.concat(chunks)), trailers });
            });
            res.on("close", () => {
              if (!res.complete) settle({ kind: "reset", afterHeaders: true });
            });
          },
        });
        const onAbort = () => {
          if (settled) return;
          settled = true;
          req?.destroy();
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        if (req) req.end(request.body.length > 0 ? request.body : undefined);
      });
    },
  };
}
