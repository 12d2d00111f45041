/**
 * The full-stack rig: the harness gateway (harness/gateway, Envoy-like) on envoy/local.yaml as
 * users get it — ports, plugin settings and VM environment substituted — running the built filter,
 * mock providers (harness/providers) on 127.0.0.1, and plain HTTP clients.
 *
 *   const s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
 *   const r = await post(s.gateway.url, "/v1/chat/completions", chat());
 *   r.status; r.headers["x-ai-failover-provider"];          // what the client got
 *   s.east.records; credentialAudit(s.east, EAST_KEY);      // what each mock saw
 *   s.logs; await s.prometheus();                           // the filter's logs, /stats/prometheus
 *
 * Also here: the bootstrap editors (localBootstrap, bootstrapWith, withVmEnv), tiny upstreams for
 * gateway tests (startUpstream, resettingUpstream, deadPort), fetch helpers for talking to one
 * mock directly with the provider's wire bodies pinned as literals, and replayed scenarios
 * (harness/replay).
 */
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { startGateway, type Gateway, type GatewayOptions } from "../../harness/gateway/index.ts";
import { withStaticClusters } from "../../harness/gateway/bootstrap-text.ts";
import { startMockProvider, type MockProvider, type MockProviderOptions } from "../../harness/providers/index.ts";
import type { HostFlavour, LogRecord } from "../../harness/host/types.ts";
import { analyze, formatReport, formatSlices, type Report } from "../../harness/replay/report.ts";
import { runScenario, type RunHooks, type RunResult, type TargetName } from "../../harness/replay/runner.ts";
import { loadScenario, type Scenario } from "../../harness/replay/scenario.ts";

export { sleep, until } from "../../harness/rig/host-rig.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const LOCAL_YAML = readFileSync(new URL("../../envoy/local.yaml", import.meta.url), "utf8");
/** The keys envoy/local.yaml gives the filter for its two providers (and the mocks accept). */
export { EAST_KEY, WEST_KEY } from "../../harness/keys.ts";
import { EAST_KEY, WEST_KEY } from "../../harness/keys.ts";
import { chatRequest } from "../../harness/requests.ts";

// ---- bootstrap ------------------------------------------------------------------------------

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

/**
 * envoy/local.yaml with the mocks' ports (listener and admin ephemeral) and the plugin
 * configuration (JSON inside the YAML block) edited: `edit` receives the parsed configuration and
 * returns the one to use.
 */
export function bootstrapWith(ports: { east: number; west: number }, edit: (cfg: any) => any): string {
  const yaml = localBootstrap(ports);
  const start = yaml.indexOf("value: |");
  const jsonStart = yaml.indexOf("{", start);
  const jsonEnd = yaml.indexOf("\n                  - name: envoy.filters.http.router", jsonStart);
  const indent = " ".repeat(28);
  const cfg = edit(JSON.parse(yaml.slice(jsonStart, jsonEnd)));
  const json = JSON.stringify(cfg, null, 2).split("\n").map((l) => indent + l).join("\n");
  return yaml.slice(0, jsonStart) + json.trimStart() + yaml.slice(jsonEnd);
}

/** Adds variables to vm_config.environment_variables.key_values. */
export function withVmEnv(yaml: string, vars: Record<string, string>): string {
  const anchor = "AOAI_WEST_KEY: mockkey-west-Hy4NqJ8wXcV6bGt5";
  const indent = " ".repeat(30);
  const extra = Object.entries(vars).map(([k, v]) => `\n${indent}${k}: ${v}`).join("");
  return yaml.replace(anchor, anchor + extra);
}

/** Adds STATIC clusters (name → a 127.0.0.1 port, plain HTTP) to the bootstrap's clusters. */
export function withClusters(yaml: string, clusters: Record<string, number>): string {
  return withStaticClusters(yaml, Object.fromEntries(Object.entries(clusters).map(([name, port]) => [name, { port }])));
}

// ---- the stack: gateway + the two mock Azure providers of local.yaml ------------------------

export interface Stack {
  east: MockProvider;
  west: MockProvider;
  gateway: Gateway;
  /** Everything the filter logged (any VM). */
  logs: LogRecord[];
  /** The admin endpoint's /stats/prometheus text. */
  prometheus(): Promise<string>;
  close(): Promise<void>;
}

export async function startStack(opts: {
  edit?: (cfg: any) => any;
  east?: Partial<MockProviderOptions>;
  west?: Partial<MockProviderOptions>;
  workers?: number;
  /** Extra vm_config.environment_variables.key_values. */
  vmEnv?: Record<string, string>;
  /** A last edit of the bootstrap text (after the ports, the plugin configuration and the VM environment). */
  bootstrap?: (yaml: string) => string;
  /**
   * The host the gateway plays (default upstream Envoy). "higress": Higress's proxy-wasm rules;
   * its wasm plugin configuration has no allow_on_headers_stop_iteration, so the line goes.
   */
  flavour?: HostFlavour;
  /** Everything the gateway sends its clients (startGateway's clientTap). */
  clientTap?: (id: number, part: string) => void;
  /** The VMs' wall clock (proxy_get_current_time_nanoseconds), e.g. to jump hours ahead; default real time. */
  clockNs?: () => bigint;
  /** Envoy's buffer limit for a request or response body the filter holds (host default 1 MiB). */
  bufferLimitBytes?: number;
  /** Other wasm plugins on the stream, before or after ai-failover (startGateway's `plugins`). */
  plugins?: GatewayOptions["plugins"];
}): Promise<Stack> {
  const east = await startMockProvider({
    kind: "azure", name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } }, ...opts.east,
  });
  const west = await startMockProvider({
    kind: "azure", name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } }, ...opts.west,
  });
  const logs: LogRecord[] = [];
  const flavour = opts.flavour ?? "envoy";
  const forHost = (y: string) => (flavour === "higress" ? y.replace(/\n\s*allow_on_headers_stop_iteration: true/, "") : y);
  const gateway = await startGateway({
    bootstrapText: (opts.bootstrap ?? ((y) => y))(
      forHost(withVmEnv(bootstrapWith({ east: east.port, west: west.port }, opts.edit ?? ((c) => c)), opts.vmEnv ?? {})),
    ),
    hostOptions: {
      flavour,
      ...(opts.clockNs ? { clockNs: opts.clockNs } : {}),
      ...(opts.bufferLimitBytes ? { bufferLimitBytes: opts.bufferLimitBytes } : {}),
    },
    clientTap: opts.clientTap,
    plugins: opts.plugins,
    baseDir: ROOT,
    workers: opts.workers ?? 2,
    logLevel: 0,
    logger: (r) => logs.push(r),
  });
  return {
    east, west, gateway, logs,
    async prometheus() {
      return await (await fetch(`${gateway.adminUrl}/stats/prometheus`)).text();
    },
    async close() {
      await gateway.close();
      await Promise.all([east.close(), west.close()]);
    },
  };
}

/** Every credential problem in what a provider saw: not exactly one, empty, or not its own key. */
export function credentialAudit(p: MockProvider, ownKey: string): string[] {
  const problems: string[] = [];
  for (const r of p.records) {
    const creds = r.credentials;
    if (creds.length !== 1) problems.push(`${p.name} ${r.method} ${r.path}: ${creds.length} credentials`);
    for (const c of creds) {
      if (c.value === "") problems.push(`${p.name} ${r.method} ${r.path}: empty credential`);
      else if (c.value !== ownKey) problems.push(`${p.name} ${r.method} ${r.path}: foreign credential ${c.value.slice(0, 12)}…`);
    }
  }
  return problems;
}

// ---- clients (node:http, a fresh connection each: connections spread over the worker VMs) ---

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** When the response headers arrived, ms after the request started (request() only). */
  headersAtMs?: number;
}

export function request(
  url: string,
  opts: {
    method?: string;
    path?: string;
    /** An array value sends the header once per element. */
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
    agent?: http.Agent;
    /** Socket idle timeout: the request fails with "client timeout". */
    timeoutMs?: number;
  } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(opts.path ?? "/", url);
    const t0 = performance.now();
    const req = http.request(u, { method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent ?? false, timeout: opts.timeoutMs }, (res) => {
      const headersAtMs = performance.now() - t0;
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), headersAtMs }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** POSTs `body` as JSON. */
export function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 10000): Promise<ClientResponse> {
  const payload = Buffer.from(JSON.stringify(body));
  return request(url, {
    method: "POST",
    path,
    headers: { "content-type": "application/json", "content-length": String(payload.length), ...headers },
    body: payload,
    timeoutMs,
  });
}

/** A chat request for the gateway (local.yaml serves gpt-4o). */
/** A chat request body (harness/requests.ts): `chat()`, `chat("text")`, `chat("text", maxTokens)`. */
export const chat = chatRequest;

// ---- one mock provider, called directly (fetch) ---------------------------------------------

/** Wire bodies of the real services, pinned as literals. */
export const AZURE_401 =
  '{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}';
export const AZURE_404_DEPLOYMENT =
  '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}';
export const OPENAI_QUOTA =
  '{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}';

export interface FetchResponse {
  status: number;
  headers: Headers;
  text: string;
}

export async function fetchPost(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<FetchResponse> {
  const r = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

export async function fetchGet(base: string, path: string, headers: Record<string, string> = {}): Promise<FetchResponse> {
  const r = await fetch(base + path, { headers });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** A chat body for a mock called directly (no model: an Azure deployment path names it). */
export const mockChat = (extra: Record<string, unknown> = {}) => ({
  messages: [{ role: "user", content: "Say hello" }],
  ...extra,
});

// ---- tiny upstreams (gateway tests) ---------------------------------------------------------

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

/**
 * A port that refuses connections, for connect-failure tests. Not deadPort's: a port freed after
 * listen(0) can be taken by another test file's server before it is used (a CI run saw a gateway
 * answer on one); listen(0) never hands out ports below the ephemeral range (Linux: 32768+).
 */
export async function refusedPort(): Promise<number> {
  for (const port of [9, 2, 1, 7, 13, 19, 37, 79, 113]) {
    const refused = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: "127.0.0.1", port });
      c.once("connect", () => { c.destroy(); resolve(false); });
      c.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
    });
    if (refused) return port;
  }
  throw new Error("refusedPort: every candidate low port accepts connections");
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

// ---- replayed scenarios (harness/replay) ----------------------------------------------------

export interface Replayed {
  sc: Scenario;
  res: RunResult;
  report: Report;
}

/** Runs harness/replay/scenarios/<name>.yaml against a target and prints its tables. */
export async function replay(name: string, target: TargetName, hooks?: RunHooks): Promise<Replayed> {
  const sc = loadScenario(new URL(`../../harness/replay/scenarios/${name}.yaml`, import.meta.url).pathname);
  const res = await runScenario(sc, target, hooks);
  const report = analyze(res);
  console.log(`${formatReport(report)}\n${formatSlices(report, sc.sliceMs)}`);
  return { sc, res, report };
}

/** When a timeline action ran (ms since t0). */
export function actionAt(res: RunResult, action: string, provider?: string): number {
  const a = res.actions.find((x) => x.action === action && (provider === undefined || x.provider === provider));
  if (!a) throw new Error(`no ${action} in the timeline of ${res.scenario.name}`);
  if (a.error) throw new Error(`${action} failed: ${a.error}`);
  return a.ranAt;
}

/** Chat (non-probe) records of a provider, with times relative to t0. */
export function chatRecords(res: RunResult, provider: string) {
  const p = res.providers.find((x) => x.name === provider);
  if (!p) throw new Error(`no provider ${provider}`);
  return p.records.filter((r) => r.api !== "models").map((r) => ({ ...r, t: r.time - res.t0 }));
}
