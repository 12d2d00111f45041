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
  /** The load balancer chose this host for the attempt (router.cc onUpstreamHostSelected). */
  onHostSelected?(endpoint: Endpoint): void;
}

/**
 * What the router tells the load balancer on a retry (Router::Filter as LoadBalancerContext,
 * router.h: determinePriorityLoad, shouldSelectAnotherHost, hostSelectionRetryCount — consulted
 * only when the attempt is a retry).
 */
export interface LbContext {
  /** The priority level to pick from given the levels with hosts; undefined = the original load. */
  priorityLevel?(levels: number[]): number | undefined;
  shouldSelectAnotherHost?(ep: Endpoint): boolean;
  /** Extra picks when a host is rejected (load_balancer_impl.cc chooseHost: count + 1 picks in all). */
  hostSelectionRetryCount?: number;
}

/** Methods Envoy sends without content-length: 0 when the request has no body. */
const BODILESS_METHODS = new Set(["GET", "HEAD", "DELETE", "TRACE", "CONNECT"]);

interface ClusterRuntime {
  config: ClusterConfig;
  agent: http.Agent;
  /** Round-robin position per priority level. */
  next: Map<number, number>;
  /** Priority levels that have endpoints, ascending. */
  levels: number[];
  ca?: Buffer;
  /** Counters of the cluster's stats (created when first touched). */
  stats: Map<string, number>;
  /** Retries in progress (the max_retries circuit breaker's resource). */
  activeRetries: number;
}

export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly h2 = new H2Pool();

  constructor(configs: Map<string, ClusterConfig>) {
    for (const c of configs.values()) {
      const common = { keepAlive: true, scheduling: "lifo" as const };
      this.clusters.set(c.name, {
        config: c,
        next: new Map(),
        levels: [...new Set(c.endpoints.map((e) => e.priority ?? 0))].sort((a, b) => a - b),
        stats: new Map(),
        activeRetries: 0,
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

  /** Adds 1 to a cluster counter (Envoy's cluster.<name>.<stat>). */
  stat(cluster: string, name: string): void {
    const c = this.clusters.get(cluster);
    if (c) c.stats.set(name, (c.stats.get(name) ?? 0) + 1);
  }

  /** The cluster counters touched so far, by cluster name. */
  clusterStats(): Array<{ cluster: string; name: string; value: number }> {
    const out: Array<{ cluster: string; name: string; value: number }> = [];
    for (const [cluster, c] of this.clusters) for (const [name, value] of c.stats) out.push({ cluster, name, value });
    return out;
  }

  /**
   * The cluster's retry resource (ResourceManager retries(), circuit_breakers max_retries, default
   * 3): retries in progress across all requests.
   */
  retryBudget(cluster: string): { canCreate(): boolean; inc(): void; dec(): void } {
    const c = this.clusters.get(cluster)!;
    return {
      canCreate: () => c.activeRetries < (c.config.maxRetries ?? 3),
      inc: () => void c.activeRetries++,
      dec: () => void (c.activeRetries = Math.max(0, c.activeRetries - 1)),
    };
  }

  /**
   * The load balancer: endpoints of the priority level in force (all hosts are healthy, so the
   * highest level with hosts takes the whole load, unless a retry priority says otherwise), round
   * robin or random within it; a host the retry predicates reject is picked again, up to
   * hostSelectionRetryCount more times, and the last pick stands (load_balancer_impl.cc chooseHost).
   */
  private pick(c: ClusterRuntime, lb?: LbContext): Endpoint | undefined {
    const eps = c.config.endpoints;
    if (eps.length === 0) return undefined;
    const level = lb?.priorityLevel?.(c.levels) ?? c.levels[0]!;
    const inLevel = c.levels.length === 1 ? eps : eps.filter((e) => (e.priority ?? 0) === level);
    const once = (): Endpoint => {
      if (c.config.lbPolicy === "RANDOM") return inLevel[Math.floor(Math.random() * inLevel.length)]!;
      const n = c.next.get(level) ?? 0;
      c.next.set(level, n + 1);
      return inLevel[n % inLevel.length]!;
    };
    const attempts = (lb?.hostSelectionRetryCount ?? 0) + 1;
    let host = once();
    for (let i = 1; i < attempts && lb?.shouldSelectAnotherHost?.(host); i++) host = once();
    return host;
  }

  /**
   * Starts an HTTP/1.1 request on the cluster. `headers` carry the pseudo-headers (`:method`,
   * `:path`, `:authority`); `:authority` becomes `host`. Returns undefined (after calling
   * onFailure with no-host) when the cluster has no endpoint. The caller writes the body.
   */
  request(cluster: string, headers: HeaderList, endStream: boolean | undefined, handlers: UpstreamHandlers, lb?: LbContext): http.ClientRequest | undefined {
    const endpoint = this.chooseHost(cluster, lb);
    if (!endpoint) {
      handlers.onFailure({ kind: "no-host" });
      return undefined;
    }
    handlers.onHostSelected?.(endpoint);
    return this.send(cluster, endpoint, headers, endStream, handlers);
  }

  /** The load balancer's pick for one attempt (undefined: unknown cluster or no endpoint). */
  chooseHost(cluster: string, lb?: LbContext): Endpoint | undefined {
    const c = this.clusters.get(cluster);
    return c && this.pick(c, lb);
  }

  /**
   * Starts an HTTP/1.1 request to a host already chosen (the router's upstream codec once the
   * cluster's upstream HTTP filters let the headers through). As `request`, without the pick.
   */
  send(cluster: string, endpoint: Endpoint, headers: HeaderList, endStream: boolean | undefined, handlers: UpstreamHandlers): http.ClientRequest {
    const c = this.clusters.get(cluster)!;
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
export function resetBody(f: Exclude<UpstreamFailure, { kind: "no-host" }>, retried = false): string {
  const transport = f.kind === "connect-failure" && f.transport ? `, transport failure reason: ${f.transport}` : "";
  // "retried and the latest " when the failed attempt was a retry (router.cc onUpstreamReset, is_retry_).
  return `upstream connect error or disconnect/reset before headers. ${retried ? "retried and the latest " : ""}reset reason: ${f.resetReason}${transport}`;
}
