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

// `host` becomes :authority; `expect: 100-continue` is answered here, as Envoy's connection manager
// does (proxy_100_continue off), and not forwarded.
const REQUEST_SKIP = new Set([...HOP_BY_HOP, "host", "expect"]);

/**
 * Downstream request → the header list the filter chain sees: pseudo-headers first, then the
 * client's headers, then what Envoy's connection manager adds before the filters run
 * (x-forwarded-proto and x-request-id when absent).
 */
export function requestHeaders(req: IncomingMessage, generateRequestId: boolean): HeaderList {
  const out: HeaderList = [
    [":authority", req.headers.host ?? ""],
    [":path", req.url ?? "/"],
    [":method", req.method ?? "GET"],
    [":scheme", "http"],
    ...pairs(req.rawHeaders, REQUEST_SKIP),
  ];
  if (req.headers["x-forwarded-proto"] === undefined) out.push(["x-forwarded-proto", "http"]);
  if (generateRequestId && req.headers["x-request-id"] === undefined) out.push(["x-request-id", randomUUID()]);
  return out;
}

/** Whether the downstream request has a body (HTTP/1.1 framing). */
export function requestHasBody(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const cl = req.headers["content-length"];
  return cl !== undefined && Number(cl) > 0;
}

/** Upstream response → the header list the router hands to the filter chain. */
export function responseHeaders(res: IncomingMessage, serviceTimeMs: number): HeaderList {
  return [
    [":status", String(res.statusCode ?? 502)],
    ...pairs(res.rawHeaders, HOP_BY_HOP),
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
