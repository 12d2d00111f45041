/**
 * Clusters: endpoints, load balancing, connection pools, and one HTTP/1.1 upstream request with
 * Envoy's failure classification (connect failure / timeout / termination before headers).
 */
import http from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Socket } from "node:net";
import type { ClusterConfig, Endpoint } from "./bootstrap.ts";
import type { HeaderList } from "../host/types.ts";
import { HOP_BY_HOP } from "./headers.ts";
import { H2Pool } from "./h2.ts";
import type { DispatchResult } from "../host/types.ts";

/** Why an upstream request ended without (or in the middle of) a response. */
export type UpstreamFailure =
  /** The cluster has no host to send to (STRICT_DNS that resolves to nothing). */
  | { kind: "no-host" }
  /** Never connected: Envoy's reset reason and transport failure reason. */
  | { kind: "connect-failure"; resetReason: string; transport: string }
  /** Connected, then the connection closed or reset. */
  | { kind: "reset"; resetReason: string };

export interface UpstreamHandlers {
  onResponse(res: http.IncomingMessage): void;
  onFailure(f: UpstreamFailure): void;
  onConnected?(endpoint: Endpoint): void;
}

/** Methods Envoy sends without content-length: 0 when the request has no body. */
const BODILESS_METHODS = new Set(["GET", "HEAD", "DELETE", "TRACE", "CONNECT"]);

interface ClusterRuntime {
  config: ClusterConfig;
  agent: http.Agent;
  next: number;
  ca?: Buffer;
}

export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly h2 = new H2Pool();

  constructor(configs: Map<string, ClusterConfig>) {
    for (const c of configs.values()) {
      const common = { keepAlive: true, scheduling: "lifo" as const };
      this.clusters.set(c.name, {
        config: c,
        next: 0,
        agent: c.tls ? new https.Agent(common) : new http.Agent(common),
        ca: c.tls?.caFile ? readFileSync(c.tls.caFile) : undefined,
      });
    }
  }

  has(name: string): boolean {
    return this.clusters.has(name);
  }

  hasHealthyHost(name: string): boolean {
    return (this.clusters.get(name)?.config.endpoints.length ?? 0) > 0;
  }

  config(name: string): ClusterConfig | undefined {
    return this.clusters.get(name)?.config;
  }

  names(): string[] {
    return [...this.clusters.keys()];
  }

  /** The endpoint the load balancer picks next (for connections made outside `request`). */
  pickEndpoint(name: string): Endpoint | undefined {
    const c = this.clusters.get(name);
    return c && this.pick(c);
  }

  /**
   * One exchange over HTTP/2 (h2c) with an endpoint of an http2 cluster (see h2.ts). `no-host`
   * clusters answer connect-failure; the caller checks for hosts first.
   */
  h2Request(cluster: string, headers: HeaderList, body: Uint8Array, signal: AbortSignal, onHeaders?: () => void): Promise<DispatchResult> {
    const c = this.clusters.get(cluster);
    const endpoint = c && this.pick(c);
    if (!c || !endpoint) return Promise.resolve({ kind: "connect-failure" });
    return this.h2.request(endpoint, c.config.connectTimeoutMs, headers, body, signal, onHeaders);
  }

  private pick(c: ClusterRuntime): Endpoint | undefined {
    const eps = c.config.endpoints;
    if (eps.length === 0) return undefined;
    if (c.config.lbPolicy === "RANDOM") return eps[Math.floor(Math.random() * eps.length)];
    return eps[c.next++ % eps.length];
  }

  /**
   * Starts an HTTP/1.1 request on the cluster. `headers` carry the pseudo-headers (`:method`,
   * `:path`, `:authority`); `:authority` becomes `host`. Returns undefined (after calling
   * onFailure with no-host) when the cluster has no endpoint. The caller writes the body.
   */
  request(cluster: string, headers: HeaderList, endStream: boolean | undefined, handlers: UpstreamHandlers): http.ClientRequest | undefined {
    const c = this.clusters.get(cluster);
    const endpoint = c && this.pick(c);
    if (!c || !endpoint) {
      handlers.onFailure({ kind: "no-host" });
      return undefined;
    }
    let method = "GET";
    let path = "/";
    let authority: string | undefined;
    const flat: string[] = [];
    for (const [k, v] of headers) {
      if (k === ":method") method = v;
      else if (k === ":path") path = v;
      else if (k === ":authority") authority = v;
      else if (k.startsWith(":") || HOP_BY_HOP.has(k) || k === "host") continue;
      else flat.push(k, v);
    }
    if (authority !== undefined) flat.unshift("host", authority);
    // Framing as Envoy's HTTP/1 codec does it (http1/codec_impl.cc encodeHeadersBase): without a
    // content-length, a request with a body is chunked whatever its method (Node would send a GET,
    // DELETE or OPTIONS body unframed), and a header-only request gets content-length: 0 unless its
    // method has no body (HeaderUtility::requestShouldHaveNoBody). `endStream` undefined: the
    // caller frames the request itself (http_call).
    if (endStream !== undefined && !flat.some((k, i) => i % 2 === 0 && k === "content-length")) {
      if (!endStream) flat.push("transfer-encoding", "chunked");
      else if (!BODILESS_METHODS.has(method)) flat.push("content-length", "0");
    }

    const tls = c.config.tls;
    const options: https.RequestOptions = {
      host: endpoint.address,
      port: endpoint.port,
      family: c.config.family || undefined,
      method,
      path,
      headers: flat as unknown as http.OutgoingHttpHeaders,
      agent: c.agent,
      setHost: false,
    };
    if (tls) {
      // No SNI unless configured, like Envoy (which does not derive it from the host header).
      options.servername = tls.sni ?? "";
      options.rejectUnauthorized = tls.verify;
      if (c.ca) options.ca = c.ca;
      options.checkServerIdentity = (_host: string, cert: PeerCertificate) => {
        // Envoy checks the chain against trusted_ca and, when configured, the SANs; not the SNI.
        if (!tls.verify || tls.dnsSans.length === 0) return undefined;
        for (const san of tls.dnsSans) if (checkServerIdentity(san, cert) === undefined) return undefined;
        return new Error(`certificate SANs match none of ${tls.dnsSans.join(", ")}`);
      };
    }
    const req = (tls ? https : http).request(options);

    let connected = false;
    let finished = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const markConnected = () => {
      if (connected) return;
      connected = true;
      clearTimeout(connectTimer);
      handlers.onConnected?.(endpoint);
    };
    req.on("socket", (socket: Socket) => {
      // A pooled socket is connected; a new one is not until TCP (and TLS) completes.
      if (req.reusedSocket || (!tls && !socket.connecting)) return markConnected();
      connectTimer = setTimeout(() => {
        const err = new Error("connect timeout") as NodeJS.ErrnoException;
        err.code = "GATEWAY_CONNECT_TIMEOUT";
        req.destroy(err);
      }, c.config.connectTimeoutMs);
      socket.once(tls ? "secureConnect" : "connect", markConnected);
    });
    req.on("response", (res) => {
      finished = true;
      markConnected();
      handlers.onResponse(res);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (finished) return; // errors after the response are the response's (reported on it)
      finished = true;
      handlers.onFailure(classify(err, connected));
    });
    req.on("close", () => clearTimeout(connectTimer));
    return req;
  }

  close(): void {
    for (const c of this.clusters.values()) c.agent.destroy();
    this.h2.close();
  }
}

function classify(err: NodeJS.ErrnoException, connected: boolean): UpstreamFailure {
  if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" || err.code === "EAI_NONAME") return { kind: "no-host" };
  if (connected) return { kind: "reset", resetReason: "connection termination" };
  if (err.code === "GATEWAY_CONNECT_TIMEOUT") return { kind: "connect-failure", resetReason: "connection timeout", transport: "" };
  const errno: Record<string, string> = {
    ECONNREFUSED: "Connection refused",
    ECONNRESET: "Connection reset by peer",
    EHOSTUNREACH: "No route to host",
    ENETUNREACH: "Network is unreachable",
  };
  const transport = err.code && errno[err.code]
    ? `delayed connect error: ${errno[err.code]}`
    : err.code?.startsWith("ERR_TLS") || err.code?.includes("CERT") || /SSL|TLS|certificate/i.test(err.message)
      ? `TLS_error:|${err.message}:TLS_error_end`
      : err.code ?? err.message;
  return { kind: "connect-failure", resetReason: "remote connection failure", transport };
}

/** Envoy's body for a reset before response headers (router.cc onUpstreamReset). */
export function resetBody(f: Exclude<UpstreamFailure, { kind: "no-host" }>): string {
  const transport = f.kind === "connect-failure" && f.transport ? `, transport failure reason: ${f.transport}` : "";
  return `upstream connect error or disconnect/reset before headers. reset reason: ${f.resetReason}${transport}`;
}
