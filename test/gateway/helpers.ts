/** Shared helpers for gateway tests: real envoy/local.yaml with ports substituted, tiny upstreams. */
import http from "node:http";
import net from "node:net";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const LOCAL_YAML = readFileSync(new URL("../../envoy/local.yaml", import.meta.url), "utf8");

export interface LocalPorts {
  east: number;
  west: number;
  listener?: number;
  admin?: number;
  /** Replaces the route timeout (e.g. "0.3s"). */
  timeout?: string;
  /** Replaces vm_config.code.local.filename. */
  wasmFile?: string;
}

/** envoy/local.yaml as users get it, with the ports (and optionally the timeout/module) swapped. */
export function localBootstrap(p: LocalPorts): string {
  let text = LOCAL_YAML.replace("port_value: 10000", `port_value: ${p.listener ?? 0}`)
    .replace("port_value: 9901", `port_value: ${p.admin ?? 0}`)
    .replace("port_value: 18081", `port_value: ${p.east}`)
    .replace("port_value: 18082", `port_value: ${p.west}`);
  if (p.timeout) text = text.replace("timeout: 300s", `timeout: ${p.timeout}`);
  if (p.wasmFile) text = text.replace("filename: build/ai-failover.wasm", `filename: ${p.wasmFile}`);
  return text;
}

export interface Upstream {
  port: number;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

/** A tiny upstream on 127.0.0.1; `handler` answers (default: 200 "hello from <name>"). */
export async function startUpstream(
  name: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<Upstream> {
  const requests: Upstream["requests"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (handler) handler(req, res, body);
      else {
        res.writeHead(200, { "content-type": "text/plain", server: "upstream" });
        res.end(`hello from ${name}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP server that accepts, reads the request, and resets the connection without answering. */
export async function resettingUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((sock) => {
    sockets.add(sock);
    sock.once("data", () => sock.resetAndDestroy());
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const x of sockets) x.destroy();
        s.close(() => r());
      }),
  };
}

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(opts.path ?? "/", url);
    const req = http.request(u, { method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (polling), failing after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}
