/**
 * Filter cost inside the host, without sockets: PluginHost.newStream driven directly with the
 * bytes a real exchange carries (request as the gateway presents it, response and SSE frames
 * captured from the mock provider), for the product filter and the pass-through filter alike.
 * Wall time per callback (Node cannot count wasm instructions) and worker VM linear memory before
 * and after N requests / N SSE chunks.
 */
import { loadBootstrap } from "../gateway/index.ts";
import { PluginHost, type ClusterDispatcher, type HeaderList, type HttpStream, type StreamCallbacks } from "../host/index.ts";
import { EAST_KEY, type Mocks } from "./stack.ts";
import { workerMemoryBytes } from "./vm-memory.ts";

export interface Exchange {
  requestHeaders: HeaderList;
  requestBody: Uint8Array;
  responseHeaders: HeaderList;
  responseBody: Uint8Array;
}

export interface Captured {
  chat: Exchange;
  /** Streaming exchange: responseBody unused, `frames` one SSE event each. */
  stream: Exchange & { frames: Uint8Array[] };
}

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "date"]);
const enc = new TextEncoder();

function requestHeaders(body: Uint8Array): HeaderList {
  return [
    [":authority", "127.0.0.1:10000"], [":path", "/v1/chat/completions"], [":method", "POST"], [":scheme", "http"],
    ["content-type", "application/json"], ["content-length", String(body.length)], ["user-agent", "bench"],
    ["x-forwarded-proto", "http"], ["x-request-id", "6f1c2a4e-0000-4000-8000-000000000000"],
  ];
}

async function fromMock(mocks: Mocks, body: Record<string, unknown>, extra: Record<string, string>): Promise<{ headers: HeaderList; body: Uint8Array }> {
  const r = await fetch(`${mocks.east.url}/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21`, {
    method: "POST", headers: { "content-type": "application/json", "api-key": EAST_KEY, ...extra }, body: JSON.stringify(body),
  });
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (r.status !== 200) throw new Error(`bench: capturing a mock answer failed: ${r.status} ${new TextDecoder().decode(bytes)}`);
  const headers: HeaderList = [[":status", "200"]];
  r.headers.forEach((v, k) => { if (!HOP.has(k)) headers.push([k, v]); });
  headers.push(["x-envoy-upstream-service-time", "1"]);
  return { headers, body: bytes };
}

/** One real non-streaming and one real streaming (100 completion tokens) answer of the mock. */
export async function captureExchanges(mocks: Mocks): Promise<Captured> {
  const base = { model: "gpt-4o", messages: [{ role: "system", content: "You are a helpful assistant." }, { role: "user", content: "Say hello to the benchmark in a few words." }], max_tokens: 200 };
  mocks.east.setLatency(0);
  mocks.east.setStreamTiming({ firstChunkMs: 0, chunkIntervalMs: 0 });
  const chatReq = enc.encode(JSON.stringify(base));
  const chat = await fromMock(mocks, base, {});
  const streamBody = { ...base, stream: true, stream_options: { include_usage: true } };
  const streamReq = enc.encode(JSON.stringify(streamBody));
  const s = await fromMock(mocks, streamBody, { "x-mock-completion-tokens": "100" });
  const text = new TextDecoder().decode(s.body);
  const frames = text.split("\n\n").filter((f) => f.length > 0).map((f) => enc.encode(f + "\n\n"));
  mocks.east.records.length = 0;
  return {
    chat: { requestHeaders: requestHeaders(chatReq), requestBody: chatReq, responseHeaders: chat.headers, responseBody: chat.body },
    stream: { requestHeaders: requestHeaders(streamReq), requestBody: streamReq, responseHeaders: s.headers, responseBody: new Uint8Array(0), frames },
  };
}

const NOOP_CALLBACKS: StreamCallbacks = {
  onRequestHeaders: () => {}, onRequestData: () => {}, onRequestTrailers: () => {}, onLocalReply: () => {},
  onResponseHeaders: () => {}, onResponseData: () => {}, onResponseTrailers: () => {}, onReset: () => {},
};

/** http_call for the filter's health probes: every cluster answers an empty model list at once. */
const dispatcher: ClusterDispatcher = {
  hasCluster: () => true,
  hasHealthyHost: () => true,
  send: async () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]], body: enc.encode('{"object":"list","data":[]}'), trailers: [] }),
};

const PHASES = ["request headers", "request body", "response headers", "response body", "log/done/delete"] as const;

export interface FilterHostResult {
  filter: string;
  requests: number;
  chunks: number;
  /** Wall µs per request, whole exchange (all callbacks). */
  usPerRequest: number;
  /** Wall µs per request by phase (decodeHeaders, decodeData, encodeHeaders, encodeData, complete). */
  usPerPhase: Record<string, number>;
  /** Wall µs per SSE chunk (encodeData of one frame). */
  usPerChunk: number;
  /** Worker VM linear memory (bytes): after warm-up, after the requests, after the chunks. */
  memoryWarm: number[];
  memoryAfterRequests: number[];
  memoryAfterChunks: number[];
  /** Bytes of linear memory growth per request / per chunk (sum over workers). */
  growthPerRequest: number;
  growthPerChunk: number;
  /** Set when requests grew memory: a second window of the same size, to tell warm-up from a leak. */
  confirmGrowthPerRequest?: number;
  confirmGrowthPerChunk?: number;
  /** Log lines the filter wrote at info or above, per request. */
  logLinesPerRequest: number;
  /** Host functions the filter called (env.* / WASI imports), per request and per SSE chunk: what
   *  a real Envoy also pays for, independent of this host's speed. */
  hostCallsPerRequest: number;
  hostCallsPerChunk: number;
  /** Sanity: requests the filter let through (onRequestHeaders reached the gateway side). */
  routed: number;
  localReplies: number;
}

export interface HostBenchResult {
  filters: FilterHostResult[];
  /** Node heap (used) before/after the measured requests and chunks of both filters, bytes. */
  heapBefore: number;
  heapAfterRequests: number;
  heapAfterChunks: number;
}

class Runner {
  readonly phaseMs = [0, 0, 0, 0, 0];
  chunkMs = 0;
  requests = 0;
  chunks = 0;
  routed = 0;
  localReplies = 0;
  private conn = 0;
  private readonly callbacks: StreamCallbacks;

  constructor(readonly name: string, readonly host: PluginHost, private readonly ex: Captured, readonly log: { lines: number }) {
    this.callbacks = {
      onRequestHeaders: () => { this.routed++; },
      onRequestData: () => {},
      onRequestTrailers: () => {},
      onLocalReply: () => { this.localReplies++; },
      onResponseHeaders: () => {},
      onResponseData: () => {},
      onResponseTrailers: () => {},
      onReset: () => {},
    };
  }

  private open(): HttpStream {
    const id = ++this.conn;
    const s = this.host.newStream(id, this.callbacks);
    s.setProperty(["source", "address"], "127.0.0.1:40000");
    s.setProperty(["route_name"], "llm");
    return s;
  }

  /** `count` non-streaming exchanges; with `timed`, wall time per phase accumulates. */
  chat(count: number, timed: boolean): void {
    const ex = this.ex.chat;
    const p = this.phaseMs;
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const s = this.open();
      s.decodeHeaders(ex.requestHeaders, false);
      const t1 = performance.now();
      s.decodeData(ex.requestBody, true);
      const t2 = performance.now();
      s.encodeHeaders(ex.responseHeaders, false);
      const t3 = performance.now();
      s.encodeData(ex.responseBody, true);
      const t4 = performance.now();
      s.complete();
      const t5 = performance.now();
      this.host.connectionClosed(this.conn);
      if (timed) {
        p[0] += t1 - t0; p[1] += t2 - t1; p[2] += t3 - t2; p[3] += t4 - t3; p[4] += t5 - t4;
        this.requests++;
      }
    }
  }

  /** Streams until `count` SSE frames went through encodeData; with `timed`, their wall time accumulates. */
  stream(count: number, timed: boolean): void {
    const ex = this.ex.stream;
    let done = 0;
    while (done < count) {
      const s = this.open();
      s.decodeHeaders(ex.requestHeaders, false);
      s.decodeData(ex.requestBody, true);
      s.encodeHeaders(ex.responseHeaders, false);
      const n = Math.min(ex.frames.length, count - done);
      const t0 = performance.now();
      for (let k = 0; k < n; k++) s.encodeData(ex.frames[k]!, false);
      const t1 = performance.now();
      for (let k = n; k < ex.frames.length; k++) s.encodeData(ex.frames[k]!, false);
      s.encodeData(new Uint8Array(0), true);
      s.complete();
      this.host.connectionClosed(this.conn);
      done += n;
      if (timed) {
        this.chunkMs += t1 - t0;
        this.chunks += n;
      }
    }
  }
}

type WasmConfig = ReturnType<typeof loadBootstrap>["wasm"];

function createHost(wasm: Uint8Array, cfg: WasmConfig, log: { lines: number }, trace: boolean): Promise<PluginHost> {
  return PluginHost.create({
    wasm, vmId: cfg.vmId, rootId: cfg.rootId, pluginName: cfg.name,
    configuration: cfg.configuration, vmConfiguration: cfg.vmConfiguration, environment: { ...cfg.keyValues },
    workers: 2, allowOnHeadersStopIteration: cfg.allowOnHeadersStopIteration, failurePolicy: cfg.failurePolicy,
    dispatcher, logLevel: 2, logger: () => { log.lines++; }, trace,
  });
}

/** Imported host functions called per request and per SSE chunk, counted on a traced host. */
async function countHostCalls(wasm: Uint8Array, cfg: WasmConfig, captured: Captured): Promise<{ perRequest: number; perChunk: number }> {
  const host = await createHost(wasm, cfg, { lines: 0 }, true);
  try {
    const r = new Runner("traced", host, captured, { lines: 0 });
    r.chat(10, false);
    r.stream(10, false);
    const records = host.traceRecords();
    const imports = () => records.reduce((n, t) => n + (t.call.includes(".") ? 1 : 0), 0);
    const before = imports();
    const n = 50;
    r.chat(n, false);
    const afterChat = imports();
    // Only the frames' encodeData calls of a stream (its headers, end and log excluded).
    const ex = captured.stream;
    let chunkCalls = 0;
    for (let k = 0; k < 4; k++) {
      const st = host.newStream(100_000 + k, NOOP_CALLBACKS);
      st.decodeHeaders(ex.requestHeaders, false);
      st.decodeData(ex.requestBody, true);
      st.encodeHeaders(ex.responseHeaders, false);
      const a = imports();
      for (const f of ex.frames) st.encodeData(f, false);
      chunkCalls += imports() - a;
      st.encodeData(new Uint8Array(0), true);
      st.complete();
    }
    return { perRequest: (afterChat - before) / n, perChunk: chunkCalls / (4 * ex.frames.length) };
  } finally {
    await host.close();
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

export async function runHostBench(opts: {
  bootstrap: string;
  baseDir: string;
  modules: Array<{ name: string; wasm: Uint8Array }>;
  captured: Captured;
  /** Measured requests and measured chunks per filter. */
  n: number;
  /** Interleave the filters in blocks of this many requests/chunks (drift hits both alike). */
  block: number;
  confirmLeaks: boolean;
}): Promise<HostBenchResult> {
  const cfg = loadBootstrap(opts.bootstrap, { source: "bench", baseDir: opts.baseDir }).wasm;
  const runners: Runner[] = [];
  try {
    for (const m of opts.modules) {
      const log = { lines: 0 };
      const host = await createHost(m.wasm, cfg, log, false);
      runners.push(new Runner(m.name, host, opts.captured, log));
    }
    // Warm-up: JIT, the filters' lazily built state, the VMs' heaps at their working size.
    const warm = Math.max(500, Math.floor(opts.n / 5));
    for (const r of runners) {
      r.chat(warm, false);
      r.stream(warm, false);
      r.routed = 0;
      r.localReplies = 0;
    }
    const logBase = runners.map((r) => r.log.lines);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const memWarm = runners.map((r) => workerMemoryBytes(r.host));
    for (let done = 0; done < opts.n; done += opts.block) for (const r of runners) r.chat(Math.min(opts.block, opts.n - done), true);
    gc();
    const heapAfterRequests = process.memoryUsage().heapUsed;
    const memReq = runners.map((r) => workerMemoryBytes(r.host));
    const logLinesPerRequest = runners.map((r, i) => (r.log.lines - logBase[i]!) / opts.n);
    for (let done = 0; done < opts.n; done += opts.block) for (const r of runners) r.stream(Math.min(opts.block, opts.n - done), true);
    gc();
    const heapAfterChunks = process.memoryUsage().heapUsed;
    const memChunks = runners.map((r) => workerMemoryBytes(r.host));

    const filters: FilterHostResult[] = runners.map((r, i) => {
      const usPerPhase: Record<string, number> = {};
      PHASES.forEach((p, k) => (usPerPhase[p] = (r.phaseMs[k]! * 1000) / r.requests));
      return {
        filter: r.name,
        requests: r.requests,
        chunks: r.chunks,
        usPerRequest: (sum(r.phaseMs) * 1000) / r.requests,
        usPerPhase,
        usPerChunk: (r.chunkMs * 1000) / r.chunks,
        memoryWarm: memWarm[i]!,
        memoryAfterRequests: memReq[i]!,
        memoryAfterChunks: memChunks[i]!,
        growthPerRequest: (sum(memReq[i]!) - sum(memWarm[i]!)) / r.requests,
        growthPerChunk: (sum(memChunks[i]!) - sum(memReq[i]!)) / r.chunks,
        logLinesPerRequest: logLinesPerRequest[i]!,
        hostCallsPerRequest: NaN,
        hostCallsPerChunk: NaN,
        routed: r.routed,
        localReplies: r.localReplies,
      };
    });
    // Growth in the measured window may be the tail of warm-up: a second window tells.
    if (opts.confirmLeaks) {
      runners.forEach((r, i) => {
        const f = filters[i]!;
        if (f.growthPerRequest > 0) {
          const a = sum(workerMemoryBytes(r.host));
          r.chat(opts.n, false);
          f.confirmGrowthPerRequest = (sum(workerMemoryBytes(r.host)) - a) / opts.n;
        }
        if (f.growthPerChunk > 0) {
          const a = sum(workerMemoryBytes(r.host));
          r.stream(opts.n, false);
          f.confirmGrowthPerChunk = (sum(workerMemoryBytes(r.host)) - a) / opts.n;
        }
      });
    }
    for (let i = 0; i < runners.length; i++) {
      const calls = await countHostCalls(opts.modules[i]!.wasm, cfg, opts.captured);
      filters[i]!.hostCallsPerRequest = calls.perRequest;
      filters[i]!.hostCallsPerChunk = calls.perChunk;
    }
    return { filters, heapBefore, heapAfterRequests, heapAfterChunks };
  } finally {
    for (const r of runners) await r.host.close();
  }
}
