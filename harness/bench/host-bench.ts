/**
 * Filter cost inside the host, without sockets: PluginHost.newStream driven directly with the
 * bytes a real exchange carries (request as the gateway presents it, response and SSE frames
 * captured from the mock provider), for the product filter and the pass-through filter alike.
 * Wall time per callback (Node cannot count wasm instructions) and worker VM linear memory before
 * and after N requests / N SSE chunks.
 */
import { loadBootstrap } from "../gateway/index.ts";
import {
  PluginHost, ProfileSink, type Calibration, type CallProfiler, type ClusterDispatcher, type HeaderList, type HttpStream, type ProfileSummary, type StreamCallbacks,
} from "../host/index.ts";
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
  /** Time inside the module apart from time in host imports (a profiled host, see measureModuleCost). */
  cost: ModuleCost;
}

/** One unit of work (a non-streaming request or one SSE chunk), profiled. */
export interface UnitCost {
  units: number;
  /** µs per unit inside the module (every export frame's own time, malloc included): median of the rounds. */
  moduleUs: number;
  /** µs per unit in this host's import handlers: median of the rounds. */
  hostImportUs: number;
  /** µs per unit of the harness's own work around the VM calls (Envoy's filter manager here). */
  harnessUs: number;
  /** Per-round figures behind the medians. */
  moduleUsByRound: number[];
  /** The lowest round: load on the machine only ever adds time, so this is the steadiest figure under load. */
  moduleUsMin: number;
  /** µs per unit of the profiled run's wall time (timing overhead included): median of the rounds. */
  profiledWallUs: number;
  /** Host imports called per unit (deterministic). */
  hostCalls: number;
  /** By import name: calls and µs per unit (means over all rounds), most calls first. */
  hostByName: Array<{ name: string; calls: number; us: number }>;
  /** By callback the host made (outermost export): calls, µs inside the module, µs and calls in host imports, per unit. */
  callbacks: Array<{ name: string; calls: number; moduleUs: number; hostUs: number; hostCalls: number; imports: Array<{ name: string; calls: number }> }>;
  /** Module frames by export name (malloc shows here when host imports allocate), per unit. */
  moduleByName: Array<{ name: string; calls: number; us: number }>;
}

export interface ModuleCost {
  request: UnitCost;
  chunk: UnitCost;
  /** Clock overhead subtracted from every frame (µs). */
  calibration: { selfUs: number; parentUs: number };
  rounds: number;
}

export interface HostBenchResult {
  filters: FilterHostResult[];
  /** Node heap (used) before/after the measured requests and chunks of both filters, bytes. */
  heapBefore: number;
  heapAfterRequests: number;
  heapAfterChunks: number;
}

export class Runner {
  readonly phaseMs = [0, 0, 0, 0, 0];
  chunkMs = 0;
  requests = 0;
  chunks = 0;
  routed = 0;
  localReplies = 0;
  private conn = 0;
  private readonly callbacks: StreamCallbacks;

  /** Profiled host only: where chat and chunk frames are charged; everything else goes to `other`. */
  sinks: { request: ProfileSink; chunk: ProfileSink; other: ProfileSink } | null = null;
  profiledMs = { request: 0, chunk: 0 };

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
    const prof = this.sinks ? this.host.profiler()! : null;
    if (prof) prof.sink = this.sinks!.request;
    const began = performance.now();
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
    if (prof) {
      this.profiledMs.request += performance.now() - began;
      prof.sink = this.sinks!.other;
    }
  }

  /** Streams until `count` SSE frames went through encodeData; with `timed`, their wall time accumulates. */
  stream(count: number, timed: boolean): void {
    const ex = this.ex.stream;
    const prof = this.sinks ? this.host.profiler()! : null;
    let done = 0;
    while (done < count) {
      const s = this.open();
      s.decodeHeaders(ex.requestHeaders, false);
      s.decodeData(ex.requestBody, true);
      s.encodeHeaders(ex.responseHeaders, false);
      const n = Math.min(ex.frames.length, count - done);
      if (prof) prof.sink = this.sinks!.chunk;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) s.encodeData(ex.frames[k]!, false);
      const t1 = performance.now();
      if (prof) {
        prof.sink = this.sinks!.other;
        this.profiledMs.chunk += t1 - t0;
      }
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

export type WasmConfig = ReturnType<typeof loadBootstrap>["wasm"];

function createHost(wasm: Uint8Array, cfg: WasmConfig, log: { lines: number }, trace: boolean, profile = false): Promise<PluginHost> {
  return PluginHost.create({
    wasm, vmId: cfg.vmId, rootId: cfg.rootId, pluginName: cfg.name,
    configuration: cfg.configuration, vmConfiguration: cfg.vmConfiguration, environment: { ...cfg.keyValues },
    workers: 2, allowOnHeadersStopIteration: cfg.allowOnHeadersStopIteration, failurePolicy: cfg.failurePolicy,
    dispatcher, logLevel: 2, logger: () => { log.lines++; }, trace, profile,
  });
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Raw frame time of a sink (clock overhead included): what the profiled wall time contains. */
function rawMs(sink: ProfileSink): number {
  let ms = 0;
  for (const row of sink.rows.values()) for (const v of row.self) ms += v;
  return ms;
}

/** Per-unit figures of one measured unit kind over several rounds (one sink per round). */
function unitCost(rounds: Array<{ summary: ProfileSummary; units: number; wallMs: number; rawMs: number }>): UnitCost {
  const units = rounds.reduce((a, r) => a + r.units, 0);
  const per = (ms: number, n: number) => (ms * 1000) / n;
  const moduleUsByRound = rounds.map((r) => per(r.summary.moduleMs, r.units));
  const host = new Map<string, { calls: number; ms: number }>();
  const mod = new Map<string, { calls: number; ms: number }>();
  const cbs = new Map<string, { calls: number; moduleMs: number; hostMs: number; hostCalls: number; imports: Map<string, number> }>();
  for (const r of rounds) {
    for (const fr of r.summary.frames) {
      const m = fr.kind === "host" ? host : mod;
      const a = m.get(fr.name) ?? { calls: 0, ms: 0 };
      a.calls += fr.calls;
      a.ms += fr.selfMs;
      m.set(fr.name, a);
    }
    for (const root of r.summary.roots) {
      const a = cbs.get(root.name) ?? { calls: 0, moduleMs: 0, hostMs: 0, hostCalls: 0, imports: new Map<string, number>() };
      a.calls += root.calls;
      a.moduleMs += root.moduleMs;
      a.hostMs += root.hostMs;
      for (const f of root.frames) {
        if (f.kind !== "host") continue;
        a.hostCalls += f.calls;
        a.imports.set(f.name, (a.imports.get(f.name) ?? 0) + f.calls);
      }
      cbs.set(root.name, a);
    }
  }
  const byCalls = <T extends { calls: number; us: number }>(a: T[]) => a.sort((x, y) => y.calls - x.calls || y.us - x.us);
  return {
    units,
    moduleUs: median(moduleUsByRound),
    hostImportUs: median(rounds.map((r) => per(r.summary.hostMs, r.units))),
    harnessUs: median(rounds.map((r) => per(r.wallMs - r.rawMs, r.units))),
    moduleUsByRound,
    moduleUsMin: Math.min(...moduleUsByRound),
    profiledWallUs: median(rounds.map((r) => per(r.wallMs, r.units))),
    hostCalls: rounds.reduce((a, r) => a + r.summary.hostCalls, 0) / units,
    hostByName: byCalls([...host].map(([name, v]) => ({ name, calls: v.calls / units, us: per(v.ms, units) }))),
    callbacks: [...cbs].map(([name, v]) => ({ name, calls: v.calls / units, moduleUs: per(v.moduleMs, units), hostUs: per(v.hostMs, units), hostCalls: v.hostCalls / units,
      imports: [...v.imports].map(([n, k]) => ({ name: n, calls: k / units })).sort((x, y) => y.calls - x.calls) }))
      .sort((x, y) => y.moduleUs - x.moduleUs),
    moduleByName: byCalls([...mod].map(([name, v]) => ({ name, calls: v.calls / units, us: per(v.ms, units) }))),
  };
}

/**
 * Profiled runners (PluginOptions.profile): `rounds` rounds of `requests` requests and `chunks`
 * SSE chunks per runner, runners interleaved round by round; medians of the rounds. The
 * runners must be warm. The clock overhead is calibrated before the rounds.
 */
export function measureModuleCost(runners: Runner[], opts: { requests: number; chunks: number; rounds: number }): ModuleCost[] {
  const per = runners.map(() => ({
    request: [] as Array<{ summary: ProfileSummary; units: number; wallMs: number; rawMs: number }>,
    chunk: [] as Array<{ summary: ProfileSummary; units: number; wallMs: number; rawMs: number }>,
  }));
  const calibrations: Calibration[] = [];
  for (const r of runners) calibrations.push(r.host.profiler()!.calibrate());
  for (let round = 0; round < opts.rounds; round++) {
    runners.forEach((r, i) => {
      const prof = r.host.profiler()!;
      r.sinks = { request: new ProfileSink(), chunk: new ProfileSink(), other: new ProfileSink() };
      r.profiledMs = { request: 0, chunk: 0 };
      r.chat(opts.requests, false);
      r.stream(opts.chunks, false);
      const { request, chunk } = r.sinks;
      per[i]!.request.push({ summary: prof.summarize(request), units: opts.requests, wallMs: r.profiledMs.request, rawMs: rawMs(request) });
      per[i]!.chunk.push({ summary: prof.summarize(chunk), units: opts.chunks, wallMs: r.profiledMs.chunk, rawMs: rawMs(chunk) });
      r.sinks = null;
    });
  }
  return runners.map((_, i) => ({
    request: unitCost(per[i]!.request),
    chunk: unitCost(per[i]!.chunk),
    calibration: { selfUs: calibrations[i]!.selfMs * 1000, parentUs: calibrations[i]!.parentMs * 1000 },
    rounds: opts.rounds,
  }));
}

/** A profiled host for `wasm`, warmed up with `warm` requests and chunks. */
export async function profiledRunner(name: string, wasm: Uint8Array, cfg: WasmConfig, captured: Captured, warm: number): Promise<Runner> {
  const log = { lines: 0 };
  const host = await createHost(wasm, cfg, log, false, true);
  const r = new Runner(name, host, captured, log);
  r.chat(warm, false);
  r.stream(warm, false);
  return r;
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
  /** Profiled rounds (n requests and n chunks split among them): medians of the rounds. */
  profileRounds: number;
}): Promise<HostBenchResult> {
  const cfg = loadBootstrap(opts.bootstrap, { source: "bench", baseDir: opts.baseDir }).wasm;
  const runners: Runner[] = [];
  const profiled: Runner[] = [];
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
        cost: undefined as unknown as ModuleCost,
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
    // Time inside the module vs in host imports: separate, profiled hosts (the figures above ran unprofiled).
    for (const m of opts.modules) profiled.push(await profiledRunner(m.name, m.wasm, cfg, opts.captured, warm));
    const rounds = opts.profileRounds;
    const per = Math.max(1, Math.floor(opts.n / rounds));
    // Unrecorded rounds first: V8 tiers wasm functions up (Liftoff → TurboFan) in the background once hot.
    measureModuleCost(profiled, { requests: per, chunks: per, rounds: 2 });
    const costs = measureModuleCost(profiled, { requests: per, chunks: per, rounds });
    costs.forEach((c, i) => (filters[i]!.cost = c));
    return { filters, heapBefore, heapAfterRequests, heapAfterChunks };
  } finally {
    for (const r of [...runners, ...profiled]) await r.host.close();
  }
}
