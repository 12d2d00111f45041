// Review helpers: drive the built filter through the harness host directly, with a scripted
// ClusterDispatcher for http_call attempts/probes and full control of every byte the "upstream"
// answers (hostile headers, trailers, resets), and read provider state from shared data.
import { readFileSync } from "node:fs";
import {
  PluginHost, ProcessState, type ClusterDispatcher, type DispatchResult, type HeaderList, type HttpStream, type LogRecord,
  type PluginOptions, type StreamCallbacks,
} from "../../harness/host/index.ts";

export const wasm = readFileSync(new URL("../../build/ai-failover.wasm", import.meta.url));

export const EAST_KEY = "east-key-0123456789-abcdef";
export const WEST_KEY = "west-key-9876543210-fedcba";
export const OAI_KEY = "sk-openai-key-5555555555-zz";

export const azure = (name: string, key: string, priority: number, extra: Record<string, unknown> = {}) => ({
  name, type: "azure-openai", cluster: name, host: `${name}.openai.azure.com`, apiVersion: "2024-10-21",
  deployments: { "gpt-4o": `${name}-gpt4o` }, auth: { apiKey: key }, priority, ...extra,
});

export const openai = (name: string, key: string, priority: number, extra: Record<string, unknown> = {}) => ({
  name, type: "openai", cluster: name, host: `${name}.example.com`, auth: { apiKey: key }, priority, ...extra,
});

export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)],
    healthCheck: { enabled: false },
    retry: { maxAttempts: 2 },
    seed: 7,
    ...extra,
  };
}

export interface CallRecord { cluster: string; headers: HeaderList; body: Buffer }

/** Scripted dispatcher: `answer` decides each http_call's outcome; every call is recorded. */
export class Script implements ClusterDispatcher {
  calls: CallRecord[] = [];
  clusters = new Set<string>(["east", "west", "oai", "oai2"]);
  answer: (c: CallRecord) => DispatchResult | Promise<DispatchResult> = () => ok200();
  hasCluster(name: string): boolean { return this.clusters.has(name); }
  hasHealthyHost(name: string): boolean { return this.clusters.has(name); }
  async send(cluster: string, req: { headers: HeaderList; body: Uint8Array; trailers: HeaderList }): Promise<DispatchResult> {
    const rec = { cluster, headers: req.headers, body: Buffer.from(req.body) };
    this.calls.push(rec);
    return this.answer(rec);
  }
}

export const CHAT_OK = JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
});

export function ok200(body = CHAT_OK, headers: HeaderList = []): DispatchResult {
  return { kind: "response", headers: [[":status", "200"], ["content-type", "application/json"], ...headers], body: Buffer.from(body), trailers: [] };
}

export interface Rig {
  host: PluginHost;
  process: ProcessState;
  script: Script;
  logs: LogRecord[];
  close(): Promise<void>;
}

export async function rig(config: unknown, opts: Partial<PluginOptions> = {}, process = new ProcessState()): Promise<Rig> {
  const script = new Script();
  const logs: LogRecord[] = [];
  const host = await PluginHost.create({
    wasm, rootId: "ai-failover", allowOnHeadersStopIteration: true, workers: 1, logLevel: 0,
    configuration: typeof config === "string" ? config : JSON.stringify(config),
    dispatcher: script, logger: (r) => logs.push(r), ...opts,
  }, process);
  return { host, process, script, logs, close: () => host.close() };
}

/** What one stream did, as the gateway saw it. */
export class Flow {
  upstreamHeaders: HeaderList | null = null;
  upstreamData: Buffer[] = [];
  upstreamTrailers: HeaderList | null = null;
  localReply: number | null = null;
  responseHeaders: HeaderList | null = null;
  responseData: Buffer[] = [];
  responseEnded = false;
  responseTrailers: HeaderList | null = null;
  resetReason: string | null = null;
  stream!: HttpStream;
  get status(): number { return Number(this.header(":status") ?? 0); }
  header(name: string, list = this.responseHeaders): string | undefined { return list?.find(([k]) => k === name)?.[1]; }
  up(name: string): string | undefined { return this.upstreamHeaders?.find(([k]) => k === name)?.[1]; }
  upAll(name: string): string[] { return (this.upstreamHeaders ?? []).filter(([k]) => k === name).map(([, v]) => v); }
  get body(): string { return Buffer.concat(this.responseData).toString(); }
  get upstreamBody(): string { return Buffer.concat(this.upstreamData).toString(); }
}

let nextConn = 1;

export function open(r: Rig, conn = nextConn++): Flow {
  const f = new Flow();
  const cb: StreamCallbacks = {
    onRequestHeaders: (h) => { f.upstreamHeaders = h; },
    onRequestData: (c) => { f.upstreamData.push(Buffer.from(c)); },
    onRequestTrailers: (t) => { f.upstreamTrailers = t; },
    onLocalReply: (s) => { f.localReply = s; },
    onResponseHeaders: (h, eos) => { f.responseHeaders = h; if (eos) f.responseEnded = true; },
    onResponseData: (c, eos) => { f.responseData.push(Buffer.from(c)); if (eos) f.responseEnded = true; },
    onResponseTrailers: (t) => { f.responseTrailers = t; f.responseEnded = true; },
    onReset: (reason) => { f.resetReason = reason; },
  };
  f.stream = r.host.newStream(conn, cb);
  return f;
}

export function reqHeaders(path: string, body: Buffer | null, extra: HeaderList = []): HeaderList {
  const h: HeaderList = [[":method", "POST"], [":path", path], [":authority", "gw.local"], [":scheme", "http"], ["content-type", "application/json"]];
  if (body) h.push(["content-length", String(body.length)]);
  return [...h, ...extra];
}

/** Sends a whole request (headers + body, end of stream). */
export function request(r: Rig, path: string, body: unknown, extra: HeaderList = []): Flow {
  const f = open(r);
  const b = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  f.stream.decodeHeaders(reqHeaders(path, b, extra), false);
  if (f.localReply === null) f.stream.decodeData(b, true);
  return f;
}

/** The upstream (router) answers the routed request. */
export function respond(f: Flow, status: number, body: string | Buffer, headers: HeaderList = [], end = true): void {
  f.stream.encodeHeaders([[":status", String(status)], ["content-type", "application/json"], ...headers], false);
  f.stream.encodeData(Buffer.isBuffer(body) ? body : Buffer.from(body), end);
}

export const chatBody = (extra: Record<string, unknown> = {}) => ({ model: "gpt-4o", messages: [{ role: "user", content: "hello" }], max_tokens: 100, ...extra });

export const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Waits until `cond` holds (http_call answers arrive asynchronously). */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(5);
  }
}

/** Decoded provider state (assembly/health/state.ts layout, 128 bytes). */
export interface PState {
  healthy: boolean; credentialBad: boolean; reason: number; consecutiveFailures: number; cooldownUntilMs: bigint;
  windowStartMs: bigint; tokensReserved: bigint; requestsReserved: bigint; remainingTokens: bigint;
}

function decodeState(value: Uint8Array): PState {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return {
    healthy: v.getUint8(8) !== 0, credentialBad: v.getUint8(9) !== 0, reason: v.getUint8(10),
    consecutiveFailures: v.getInt32(12, true), cooldownUntilMs: v.getBigInt64(32, true),
    remainingTokens: v.getBigInt64(40, true),
    windowStartMs: v.getBigInt64(80, true), tokensReserved: v.getBigInt64(88, true), requestsReserved: v.getBigInt64(96, true),
  };
}

export function providerState(p: ProcessState, name: string, vmId = ""): PState | undefined {
  const e = p.sharedData.get(vmId, "ai-failover/provider/" + name);
  return e ? decodeState(e.value) : undefined;
}

/** Decoded consumer budget (assembly/admission/budget.ts layout, 32 bytes). */
export interface BState {
  windowStartMs: bigint; tokensReserved: bigint; requestsReserved: bigint;
}

function decodeBudget(value: Uint8Array): BState {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (value.byteLength !== 32 || v.getUint32(0, true) !== 0x42554401) throw new Error(`not a consumer budget record (${value.byteLength} bytes)`);
  return { windowStartMs: v.getBigInt64(8, true), tokensReserved: v.getBigInt64(16, true), requestsReserved: v.getBigInt64(24, true) };
}

export function consumerState(p: ProcessState, name: string, vmId = ""): BState | undefined {
  // Keyed by name and budget fingerprint: "ai-failover/consumer/<name>/<fp>".
  const keys = p.sharedData.keys(vmId).filter((k) => k.startsWith("ai-failover/consumer/" + name + "/"));
  if (keys.length > 1) throw new Error(`several budgets for consumer ${name}: ${keys.join(", ")}`);
  const e = keys.length ? p.sharedData.get(vmId, keys[0]) : undefined;
  return e ? decodeBudget(e.value) : undefined;
}

/** A VM trap shows as a 503 local reply with details wasm_fail_stream and a critical log. */
export function trapped(r: Rig): LogRecord[] {
  return r.logs.filter((l) => l.level === 5);
}
