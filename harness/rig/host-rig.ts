/**
 * The in-process host rig: a proxy-wasm module loaded in the harness PluginHost, no sockets.
 * Either the product filter (build/ai-failover.wasm, `rig()`) with a scripted ClusterDispatcher
 * answering its http_call callouts, or a test fixture from test/.build/host/ (`fixtureRig()`).
 *
 * In the manner of proxy-wasm-go-sdk's proxytest: open a stream, drive it callback by callback,
 * then read what the filter did through getters.
 *
 *   const r = await rig(baseConfig());                    // the product filter, one worker VM
 *   const f = r.open();                                   // a new HTTP stream (context)
 *   f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body), false);
 *   f.callOnRequestBody(body, true);
 *   f.up("api-key"); f.localResponse;                     // what went upstream / the local reply
 *   f.respond(429, "…");                                  // the upstream (router) answers
 *   r.callouts; r.logs; r.lines("…"); r.metrics(); r.providerState("east");
 *
 * `r.request(path, body)` is open + headers + body in one call.
 */
import { readFileSync } from "node:fs";
import {
  PluginHost, ProcessState, type ClusterDispatcher, type DispatchResult, type HeaderList, type HttpStream, type LogRecord,
  type MetricSnapshot, type PluginOptions, type ResetOrigin, type StreamCallbacks,
} from "../host/index.ts";

// ---- modules --------------------------------------------------------------------------------

let product: Buffer | undefined;

/** build/ai-failover.wasm (`npm run build`), read once. */
export function productWasm(): Buffer {
  product ??= readFileSync(new URL("../../build/ai-failover.wasm", import.meta.url));
  return product;
}

/** A host test fixture built by test/setup/build-host-fixtures.ts (test/fixtures/host/<name>.ts). */
export function fixtureWasm(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../../test/.build/host/${name}.wasm`, import.meta.url)));
}

// ---- product configuration ------------------------------------------------------------------

export { EAST_KEY, OAI_KEY, WEST_KEY } from "../keys.ts";
import { EAST_KEY, OAI_KEY, WEST_KEY } from "../keys.ts";
import { chatRequest } from "../requests.ts";

export const azure = (name: string, key: string, priority: number, extra: Record<string, unknown> = {}) => ({
  name, type: "azure-openai", cluster: name, host: `${name}.openai.azure.com`, apiVersion: "2024-10-21",
  deployments: { "gpt-4o": `${name}-gpt4o` }, auth: { apiKey: key }, priority, ...extra,
});

export const openai = (name: string, key: string, priority: number, extra: Record<string, unknown> = {}) => ({
  name, type: "openai", cluster: name, host: `${name}.example.com`, auth: { apiKey: key }, priority, ...extra,
});

/** Two Azure providers east (priority 0) and west (1), health checks off, two attempts. */
export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)],
    healthCheck: { enabled: false },
    retry: { maxAttempts: 2 },
    seed: 7,
    ...extra,
  };
}

/** A gateway-issued consumer key, and the header a client sends it in. */
export const CONSUMER_KEY = "consumer-key-team-a-0001";
export const BEARER: [string, string] = ["authorization", "Bearer " + CONSUMER_KEY];

export const chatBody = (extra: Record<string, unknown> = {}) => chatRequest("hello", 100, extra);

export const CHAT_OK = JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
});

// ---- callouts (http_call) -------------------------------------------------------------------

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

export function ok200(body = CHAT_OK, headers: HeaderList = []): DispatchResult {
  return { kind: "response", headers: [[":status", "200"], ["content-type", "application/json"], ...headers], body: Buffer.from(body), trailers: [] };
}

// ---- what a stream did ----------------------------------------------------------------------

/** One callback the host made towards the gateway, in order (bodies as latin1 text). */
export type StreamEvent =
  | { ev: "reqHeaders"; headers: HeaderList; end: boolean }
  | { ev: "reqData"; data: string; end: boolean }
  | { ev: "reqTrailers"; trailers: HeaderList }
  | { ev: "localReply"; status: number }
  | { ev: "respHeaders"; headers: HeaderList; end: boolean }
  | { ev: "respData"; data: string; end: boolean }
  | { ev: "respTrailers"; trailers: HeaderList }
  | { ev: "reset"; reason: string };

function eventCallbacks(events: StreamEvent[]): StreamCallbacks {
  const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
  return {
    onRequestHeaders: (headers, end) => { events.push({ ev: "reqHeaders", headers, end }); },
    onRequestData: (d, end) => { events.push({ ev: "reqData", data: text(d), end }); },
    onRequestTrailers: (trailers) => { events.push({ ev: "reqTrailers", trailers }); },
    onLocalReply: (status) => { events.push({ ev: "localReply", status }); },
    onResponseHeaders: (headers, end) => { events.push({ ev: "respHeaders", headers, end }); },
    onResponseData: (d, end) => { events.push({ ev: "respData", data: text(d), end }); },
    onResponseTrailers: (trailers) => { events.push({ ev: "respTrailers", trailers }); },
    onReset: (reason) => { events.push({ ev: "reset", reason }); },
  };
}

/** Bare stream callbacks that only record events (for tests of the host's own stream contract). */
export function recorder(): StreamCallbacks & { events: StreamEvent[]; kinds(): string[] } {
  const events: StreamEvent[] = [];
  return { events, kinds: () => events.map((e) => e.ev), ...eventCallbacks(events) };
}

export function header(list: HeaderList | null | undefined, name: string): string | undefined {
  return list?.find(([k]) => k === name)?.[1];
}

const toBytes = (b: Uint8Array | string): Uint8Array => (typeof b === "string" ? Buffer.from(b) : b);

/**
 * One HTTP stream through the filter. The `callOn…` methods play Envoy's side (the filter's
 * on_request_headers, on_request_body … run); the fields and getters say what the filter did.
 */
export class Flow {
  /** Request headers/body/trailers the filter let through towards the upstream. */
  upstreamHeaders: HeaderList | null = null;
  upstreamData: Buffer[] = [];
  upstreamTrailers: HeaderList | null = null;
  /** Status of the filter's local reply (send_local_response), if it sent one. */
  localReply: number | null = null;
  /** What the client gets. */
  responseHeaders: HeaderList | null = null;
  responseData: Buffer[] = [];
  responseEnded = false;
  responseTrailers: HeaderList | null = null;
  resetReason: string | null = null;
  /** Every callback, in order. */
  readonly events: StreamEvent[] = [];
  /** The raw harness stream (decode = towards the upstream, encode = towards the client). */
  stream!: HttpStream;

  callbacks(): StreamCallbacks {
    const ev = eventCallbacks(this.events);
    return {
      onRequestHeaders: (h, eos) => { ev.onRequestHeaders(h, eos); this.upstreamHeaders = h; },
      onRequestData: (c, eos) => { ev.onRequestData(c, eos); this.upstreamData.push(Buffer.from(c)); },
      onRequestTrailers: (t) => { ev.onRequestTrailers(t); this.upstreamTrailers = t; },
      onLocalReply: (s) => { ev.onLocalReply(s); this.localReply = s; },
      onResponseHeaders: (h, eos) => { ev.onResponseHeaders(h, eos); this.responseHeaders = h; if (eos) this.responseEnded = true; },
      onResponseData: (c, eos) => { ev.onResponseData(c, eos); this.responseData.push(Buffer.from(c)); if (eos) this.responseEnded = true; },
      onResponseTrailers: (t) => { ev.onResponseTrailers(t); this.responseTrailers = t; this.responseEnded = true; },
      onReset: (reason) => { ev.onReset(reason); this.resetReason = reason; },
    };
  }

  // -- driving the stream (Envoy's side) --
  callOnRequestHeaders(headers: HeaderList, endStream = false): this { this.stream.decodeHeaders(headers, endStream); return this; }
  callOnRequestBody(chunk: Uint8Array | string, endStream: boolean): this { this.stream.decodeData(toBytes(chunk), endStream); return this; }
  callOnRequestTrailers(trailers: HeaderList): this { this.stream.decodeTrailers(trailers); return this; }
  callOnResponseHeaders(headers: HeaderList, endStream = false): this { this.stream.encodeHeaders(headers, endStream); return this; }
  callOnResponseBody(chunk: Uint8Array | string, endStream: boolean): this { this.stream.encodeData(toBytes(chunk), endStream); return this; }
  callOnResponseTrailers(trailers: HeaderList): this { this.stream.encodeTrailers(trailers); return this; }
  /** The stream ended normally (on_log, on_done, on_delete). */
  complete(): void { this.stream.complete(); }
  /** The stream was aborted (a client disconnect, an upstream reset…). */
  reset(reason: string, origin?: ResetOrigin): void { this.stream.reset!(reason, origin); }
  setProperty(path: string[], value: string | Uint8Array): void { this.stream.setProperty(path, value); }

  /** The upstream (router) answers the routed request. */
  respond(status: number, body: string | Buffer, headers: HeaderList = [], end = true): void {
    this.stream.encodeHeaders([[":status", String(status)], ["content-type", "application/json"], ...headers], false);
    this.stream.encodeData(Buffer.isBuffer(body) ? body : Buffer.from(body), end);
  }

  // -- reading what the filter did --
  kinds(): string[] { return this.events.map((e) => e.ev); }
  get status(): number { return Number(this.header(":status") ?? 0); }
  /** A response header the client gets (or one of `list`). */
  header(name: string, list = this.responseHeaders): string | undefined { return header(list, name); }
  /** A request header sent upstream. */
  up(name: string): string | undefined { return header(this.upstreamHeaders, name); }
  upAll(name: string): string[] { return (this.upstreamHeaders ?? []).filter(([k]) => k === name).map(([, v]) => v); }
  get body(): string { return Buffer.concat(this.responseData).toString(); }
  get upstreamBody(): string { return Buffer.concat(this.upstreamData).toString(); }
  /** The local response the filter sent (status, headers, body), or null. */
  get localResponse(): { status: number; headers: HeaderList; body: string } | null {
    return this.localReply === null ? null : { status: this.localReply, headers: this.responseHeaders ?? [], body: this.body };
  }
}

// ---- shared data ----------------------------------------------------------------------------

/** Decoded provider state (assembly/health/state.ts layout, 144 bytes; the fields tests read). */
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

/** Decoded consumer budget (assembly/admission/budget.ts layout, 32 bytes). */
export interface BState {
  windowStartMs: bigint; tokensReserved: bigint; requestsReserved: bigint;
}

function decodeBudget(value: Uint8Array): BState {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (value.byteLength !== 32 || v.getUint32(0, true) !== 0x42554401) throw new Error(`not a consumer budget record (${value.byteLength} bytes)`);
  return { windowStartMs: v.getBigInt64(8, true), tokensReserved: v.getBigInt64(16, true), requestsReserved: v.getBigInt64(24, true) };
}

// ---- the rig --------------------------------------------------------------------------------

let nextConn = 1;

export class HostRig {
  constructor(
    readonly host: PluginHost,
    readonly process: ProcessState,
    readonly logs: LogRecord[],
    /** The scripted dispatcher (product rig); set `script.answer` to decide callouts. */
    readonly script: Script,
  ) {}

  /** A new stream on a new downstream connection (or on `conn`). */
  open(conn = nextConn++): Flow {
    const f = new Flow();
    f.stream = this.host.newStream(conn, f.callbacks());
    return f;
  }

  /** Sends a whole request (headers + body, end of stream) on a new stream. */
  request(path: string, body: unknown, extra: HeaderList = []): Flow {
    const f = this.open();
    const b = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    f.callOnRequestHeaders(reqHeaders(path, b, extra), false);
    if (f.localReply === null) f.callOnRequestBody(b, true);
    return f;
  }

  /** The http_call callouts made so far, in order. */
  get callouts(): CallRecord[] { return this.script.calls; }

  /** Log messages (any VM) containing `needle`. */
  lines(needle = ""): string[] { return this.logs.map((l) => l.message).filter((m) => m.includes(needle)); }

  /** Critical log records: a VM trap shows as a 503 local reply with details wasm_fail_stream and one of these. */
  traps(): LogRecord[] { return this.logs.filter((l) => l.level === 5); }

  metrics(): MetricSnapshot[] { return this.host.metrics(); }

  /** The shared-data key of a provider's state: "ai-failover/provider/<name>/<record fingerprint>" (undefined: none yet). */
  providerKey(name: string, vmId = ""): string | undefined {
    // Not its per-model records (".../model/…", ".../deployment/…") nor their directory (".../models").
    const keys = this.process.sharedData.keys(vmId)
      .filter((k) => k.startsWith("ai-failover/provider/" + name + "/") && !/\/(model|deployment)\/|\/models$/.test(k));
    if (keys.length > 1) throw new Error(`several states for provider ${name} (records changed?): ${keys.join(", ")}`);
    return keys[0];
  }

  providerState(name: string, vmId = ""): PState | undefined {
    const key = this.providerKey(name, vmId);
    const e = key !== undefined ? this.process.sharedData.get(vmId, key) : undefined;
    return e ? decodeState(e.value) : undefined;
  }

  consumerState(name: string, vmId = ""): BState | undefined {
    // Keyed by name and budget fingerprint: "ai-failover/consumer/<name>/<fp>".
    const keys = this.process.sharedData.keys(vmId).filter((k) => k.startsWith("ai-failover/consumer/" + name + "/"));
    if (keys.length > 1) throw new Error(`several budgets for consumer ${name}: ${keys.join(", ")}`);
    const e = keys.length ? this.process.sharedData.get(vmId, keys[0]) : undefined;
    return e ? decodeBudget(e.value) : undefined;
  }

  close(): Promise<void> { return this.host.close(); }
}

/**
 * The product filter with `config` (an object or the JSON text), one worker VM, trace logging,
 * allow_on_headers_stop_iteration on, and a Script answering its callouts (default: 200 CHAT_OK).
 */
export async function rig(config: unknown, opts: Partial<PluginOptions> = {}, process = new ProcessState()): Promise<HostRig> {
  const script = new Script();
  const logs: LogRecord[] = [];
  const host = await PluginHost.create({
    wasm: productWasm(), rootId: "ai-failover", allowOnHeadersStopIteration: true, workers: 1, logLevel: 0,
    configuration: typeof config === "string" ? config : JSON.stringify(config),
    dispatcher: script, logger: (r) => logs.push(r), ...opts,
  }, process);
  return new HostRig(host, process, logs, script);
}

/**
 * A host test fixture (default test/fixtures/host/filter.ts: root "test-root", vm "vm-a",
 * configuration "ok", two worker VMs, trace logging, no dispatcher unless given).
 */
export async function fixtureRig(opts: Partial<PluginOptions> = {}, process?: ProcessState): Promise<HostRig> {
  const logs: LogRecord[] = [];
  const host = await PluginHost.create({
    wasm: fixtureWasm("filter"), rootId: "test-root", vmId: "vm-a", configuration: "ok", workers: 2,
    logger: (r) => logs.push(r), logLevel: 0, ...opts,
  }, process);
  return new HostRig(host, host.process, logs, new Script());
}

// ---- request helpers ------------------------------------------------------------------------

/** Request headers for the product filter (POST, JSON, content-length when there is a body). */
export function reqHeaders(path: string, body: Buffer | null, extra: HeaderList = []): HeaderList {
  const h: HeaderList = [[":method", "POST"], [":path", path], [":authority", "gw.local"], [":scheme", "http"], ["content-type", "application/json"]];
  if (body) h.push(["content-length", String(body.length)]);
  return [...h, ...extra];
}

/** Request headers for the fixture filter: `x-test` names the case it runs. */
export function fixtureRequest(test: string, extra: HeaderList = []): HeaderList {
  return [[":method", "POST"], [":path", "/v1/chat"], [":authority", "gw"], ["x-test", test], ...extra];
}

/** The JSON body sent upstream; a content-length, if kept, must match it. */
export function sentJson(f: Flow): any {
  const text = f.upstreamBody;
  const cl = f.up("content-length");
  if (cl !== undefined && Number(cl) !== Buffer.byteLength(text)) {
    throw new Error(`content-length ${cl} does not match the body sent (${Buffer.byteLength(text)} bytes)`);
  }
  return JSON.parse(text);
}

export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));

export const sleep = (ms = 0): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Waits until `cond` holds (http_call answers arrive asynchronously), failing after `ms`. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}
