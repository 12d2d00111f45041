/** Header conversions between Node's HTTP/1.1 messages and Envoy-style header lists. */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { HeaderList } from "../host/types.ts";

/** Connection-specific headers the HTTP/1 codec consumes instead of passing on. */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

function pairs(raw: string[], skip: Set<string>): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (!skip.has(k)) out.push([k, raw[i + 1]]);
  }
  return out;
}

// `host` becomes :authority. `expect: 100-continue` is answered here and removed, as Envoy's
// connection manager does with proxy_100_continue off (conn_manager_impl.cc decodeHeaders); any
// other expectation is passed on.
const REQUEST_SKIP = new Set([...HOP_BY_HOP, "host"]);

/**
 * Envoy-internal request headers the connection manager removes from a request it does not
 * consider internal (conn_manager_utility.cc cleanInternalHeaders), plus x-envoy-internal, which
 * it always removes before deciding (mutateRequestHeaders). With use_remote_address off (our
 * bootstrap) a request is internal only when it carries an x-forwarded-for with exactly one
 * internal address; the gateway treats every request as external (documented, not modelled).
 */
export const ENVOY_INTERNAL_REQUEST_HEADERS = new Set([
  "x-envoy-internal",
  "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names",
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-upstream-rq-timeout-alt-response",
  "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace",
  "x-envoy-ip-tags",
  "x-envoy-original-url",
  "x-envoy-hedge-on-per-try-timeout",
]);

/**
 * Downstream request → the header list the filter chain sees: pseudo-headers first, then the
 * client's headers as Envoy's connection manager leaves them (conn_manager_utility.cc
 * mutateRequestHeaders): hop-by-hop headers and Envoy-internal headers removed, `te` kept only as
 * `trailers` (Envoy ≥ 1.29/#32255), x-forwarded-proto and x-request-id added when absent, and
 * :scheme taken from a valid x-forwarded-proto (HTTP/1 has no :scheme of its own).
 */
export function requestHeaders(req: IncomingMessage, generateRequestId: boolean): HeaderList {
  const xfp = req.headers["x-forwarded-proto"];
  const scheme = xfp === "http" || xfp === "https" ? xfp : "http";
  const out: HeaderList = [
    [":authority", req.headers.host ?? ""],
    [":path", req.url ?? "/"],
    [":method", req.method ?? "GET"],
    [":scheme", scheme],
  ];
  let te = false;
  for (const [k, v] of pairs(req.rawHeaders, REQUEST_SKIP)) {
    if (ENVOY_INTERNAL_REQUEST_HEADERS.has(k)) continue;
    if (k === "expect" && v.trim().toLowerCase() === "100-continue") continue;
    if (k === "te") {
      if (!te && v.split(",").some((t) => t.split(";")[0].trim().toLowerCase() === "trailers")) out.push(["te", "trailers"]);
      te = true;
      continue;
    }
    out.push([k, v]);
  }
  if (xfp === undefined) out.push(["x-forwarded-proto", "http"]);
  if (generateRequestId && req.headers["x-request-id"] === undefined) out.push(["x-request-id", randomUUID()]);
  return out;
}

/** Whether the downstream request has a body (HTTP/1.1 framing). */
export function requestHasBody(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const cl = req.headers["content-length"];
  return cl !== undefined && Number(cl) > 0;
}

/**
 * Upstream response → the header list the router hands to the filter chain. Hop-by-hop headers
 * (transfer-encoding, connection, keep-alive…) stay: Envoy's HTTP/1 codec keeps them and the
 * connection manager strips them only after the filter chain (conn_manager_impl.cc encodeHeaders →
 * conn_manager_utility.cc mutateResponseHeaders), so the filter sees them; downstreamHead drops them.
 */
export function responseHeaders(res: IncomingMessage, serviceTimeMs: number): HeaderList {
  return [
    [":status", String(res.statusCode ?? 502)],
    ...pairs(res.rawHeaders, new Set()),
    ["x-envoy-upstream-service-time", String(serviceTimeMs)],
  ];
}

/** Whether an upstream response carries no body (so headers end the stream). */
export function responseHasNoBody(method: string, res: IncomingMessage): boolean {
  const s = res.statusCode ?? 0;
  if (method === "HEAD" || s === 204 || s === 304 || (s >= 100 && s < 200)) return true;
  return res.headers["transfer-encoding"] === undefined && res.headers["content-length"] === "0";
}

/**
 * Header list leaving the filter chain → status and Node's flat header array for the client.
 * Envoy's connection manager then overwrites `server`.
 */
export function downstreamHead(headers: HeaderList): { status: number; flat: string[] } {
  let status = 200;
  const flat: string[] = [];
  for (const [k, v] of headers) {
    if (k === ":status") status = Number(v);
    else if (k.startsWith(":") || HOP_BY_HOP.has(k) || k === "server") continue;
    else flat.push(k, v);
  }
  flat.push("server", "envoy");
  return { status, flat };
}

export function plainTextReply(status: number, body: string): { headers: HeaderList; body: Uint8Array } {
  const bytes = new TextEncoder().encode(body);
  const headers: HeaderList = [[":status", String(status)]];
  if (bytes.length > 0) headers.push(["content-length", String(bytes.length)], ["content-type", "text/plain"]);
  return { headers, body: bytes };
}
