/**
 * Scenario files (harness/replay/scenarios/*.yaml): what to start, what load to drive, what
 * faults to inject and when. `loadScenario` validates a file and reports every problem with its
 * path, e.g. `load[1].clients: expected an integer 1..1000, got "32x"`. Format: README.md.
 */
import { readFileSync } from "node:fs";
import YAML from "yaml";
import type { Fault, OutageMode, StreamTiming } from "../providers/types.ts";

export interface RequestShape {
  model: string;
  /** Chat API surface: OpenAI (`/v1/chat/completions`) or Azure classic path for the same model. */
  surface: "openai" | "azure";
  /** Prompt estimate (the mocks' and Azure's count), drawn uniformly in [min, max]. */
  promptTokens: [number, number];
  /** max_tokens, drawn uniformly in [min, max]. */
  maxTokens: [number, number];
  /** Fraction of requests sent with `stream: true` (0..1). */
  stream: number;
}

export interface Phase {
  name: string;
  /** Closed-loop virtual clients: each sends, waits for the whole answer, thinks, repeats. */
  clients: number;
  durationMs: number;
  thinkMs: number;
  request: RequestShape;
}

export type TimelineAction =
  | { action: "setFault"; fault: Fault }
  | { action: "clearFaults" }
  | { action: "startOutage"; mode: OutageMode; forMs?: number }
  | { action: "endOutage" }
  | { action: "setKeys"; keys: string[] }
  | { action: "setLatency"; ms: number };

export type TimelineEntry = TimelineAction & { atMs: number; provider: string };

export interface MockSettings {
  tokensPerMinute?: number;
  requestsPerMinute?: number;
  latencyMs?: number;
  stream?: StreamTiming;
  completionTokens?: number;
}

export interface ScenarioProvider {
  /** The provider's name in the plugin configuration of the bootstrap. */
  name: string;
  mock: MockSettings;
  /** Merged (deeply) into this provider's entry of the plugin configuration. */
  plugin: Record<string, unknown>;
}

export interface BaselineSettings {
  /** Spill away from a provider when its last completed response reported fewer remaining tokens. */
  minRemainingTokens: number;
}

export interface Scenario {
  name: string;
  description: string;
  /** Source file (for messages). */
  source: string;
  /** One simulated minute: the mocks' rate-limit window (and the filter's `limits.window`). */
  windowMs: number;
  /** Relative to the repository root. */
  bootstrap: string;
  workers: number;
  seed: number;
  /** Wait after start before the load (health checks settle). */
  warmupMs: number;
  /** Client-side timeout of one request. */
  requestTimeoutMs: number;
  /** Report: requests each mock received per slice of this length. */
  sliceMs: number;
  providers: ScenarioProvider[];
  /** Merged (deeply) into the top level of the plugin configuration. */
  plugin: Record<string, unknown>;
  baseline: BaselineSettings;
  load: Phase[];
  timeline: TimelineEntry[];
}

export class ScenarioError extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`${source}: invalid scenario\n  ${problems.join("\n  ")}`);
    this.name = "ScenarioError";
  }
}

/** "500ms", "6s", "1.5s", "2m", or a number of milliseconds. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * mult);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : YAML.stringify(v).trim());

class Reader {
  constructor(private readonly problems: string[]) {}
  fail(path: string, msg: string): void {
    this.problems.push(`${path}: ${msg}`);
  }
  /** Unknown keys are errors (typos must not pass silently). */
  keys(o: Obj, path: string, allowed: string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(`${path}.${k}`.replace(/^\./, ""), `unknown field (expected one of: ${allowed.join(", ")})`);
    }
  }
  obj(o: Obj, k: string, path: string, required = false): Obj | undefined {
    const v = o[k];
    if (v === undefined) {
      if (required) this.fail(join(path, k), "required");
      return undefined;
    }
    if (!isObj(v)) {
      this.fail(join(path, k), `expected a mapping, got ${show(v)}`);
      return undefined;
    }
    return v;
  }
  str(o: Obj, k: string, path: string, dflt?: string): string | undefined {
    const v = o[k];
    if (v === undefined) {
      if (dflt === undefined) this.fail(join(path, k), "required");
      return dflt;
    }
    if (typeof v !== "string" || v === "") {
      this.fail(join(path, k), `expected a non-empty string, got ${show(v)}`);
      return dflt;
    }
    return v;
  }
  int(o: Obj, k: string, path: string, min: number, max: number, dflt?: number): number | undefined {
    const v = o[k];
    if (v === undefined) {
      if (dflt === undefined) this.fail(join(path, k), "required");
      return dflt;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.fail(join(path, k), `expected an integer ${min}..${max}, got ${show(v)}`);
      return dflt;
    }
    return v;
  }
  num(o: Obj, k: string, path: string, min: number, max: number, dflt: number): number {
    const v = o[k];
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      this.fail(join(path, k), `expected a number ${min}..${max}, got ${show(v)}`);
      return dflt;
    }
    return v;
  }
  dur(o: Obj, k: string, path: string, dflt?: number): number | undefined {
    const v = o[k];
    if (v === undefined) {
      if (dflt === undefined) this.fail(join(path, k), "required");
      return dflt;
    }
    const ms = parseDuration(v);
    if (ms === undefined) this.fail(join(path, k), `expected a duration like "500ms", "6s", "2m" (or milliseconds), got ${show(v)}`);
    return ms ?? dflt;
  }
  /** An integer or [min, max]. */
  range(o: Obj, k: string, path: string, min: number, max: number): [number, number] | undefined {
    const v = o[k];
    if (v === undefined) {
      this.fail(join(path, k), "required");
      return undefined;
    }
    const ok = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= min && x <= max;
    if (ok(v)) return [v, v];
    if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) return [v[0], v[1]];
    this.fail(join(path, k), `expected an integer ${min}..${max} or [min, max], got ${show(v)}`);
    return undefined;
  }
}

const join = (path: string, k: string | number) => (typeof k === "number" ? `${path}[${k}]` : path ? `${path}.${k}` : k);

const ACTIONS = ["setFault", "clearFaults", "startOutage", "endOutage", "setKeys", "setLatency"] as const;
const FAULT_TYPES = ["status", "rateLimit", "insufficientQuota", "contentFilter", "contentFilterOutput", "reset", "hang", "cutStream", "latency"];

function readRequest(r: Reader, o: Obj, path: string): RequestShape | undefined {
  r.keys(o, path, ["model", "surface", "promptTokens", "maxTokens", "stream"]);
  const model = r.str(o, "model", path, "gpt-4o")!;
  const surface = r.str(o, "surface", path, "openai")!;
  if (surface !== "openai" && surface !== "azure") r.fail(join(path, "surface"), `expected "openai" or "azure", got ${show(surface)}`);
  const promptTokens = r.range(o, "promptTokens", path, 8, 1_000_000);
  const maxTokens = r.range(o, "maxTokens", path, 1, 1_000_000);
  const stream = r.num(o, "stream", path, 0, 1, 0);
  if (!promptTokens || !maxTokens) return undefined;
  return { model, surface: surface as "openai" | "azure", promptTokens, maxTokens, stream };
}

function readFault(r: Reader, v: unknown, path: string): Fault | undefined {
  if (!isObj(v)) {
    r.fail(path, `expected a fault mapping ({ type: status, status: 503 } …), got ${show(v)}`);
    return undefined;
  }
  if (typeof v.type !== "string" || !FAULT_TYPES.includes(v.type)) {
    r.fail(join(path, "type"), `expected one of ${FAULT_TYPES.join(", ")}, got ${show(v.type)}`);
    return undefined;
  }
  const f: Obj = { ...v };
  if (f.forMs !== undefined) {
    const ms = parseDuration(f.forMs);
    if (ms === undefined) r.fail(join(path, "forMs"), `expected a duration, got ${show(f.forMs)}`);
    f.forMs = ms;
  }
  if (f.retryAfterMs !== undefined) {
    const ms = parseDuration(f.retryAfterMs);
    if (ms === undefined) r.fail(join(path, "retryAfterMs"), `expected a duration, got ${show(f.retryAfterMs)}`);
    f.retryAfterMs = ms;
  }
  if (f.type === "status" && (typeof f.status !== "number" || f.status < 100 || f.status > 599)) {
    r.fail(join(path, "status"), `expected an HTTP status, got ${show(f.status)}`);
  }
  return f as unknown as Fault;
}

function readTimeline(r: Reader, v: unknown, path: string, providers: string[]): TimelineEntry | undefined {
  if (!isObj(v)) {
    r.fail(path, `expected a mapping { at, provider, action, … }, got ${show(v)}`);
    return undefined;
  }
  const atMs = r.dur(v, "at", path);
  const provider = r.str(v, "provider", path);
  if (provider !== undefined && !providers.includes(provider)) {
    r.fail(join(path, "provider"), `unknown provider ${show(provider)} (scenario providers: ${providers.join(", ")})`);
  }
  const action = v.action;
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    r.fail(join(path, "action"), `expected one of ${ACTIONS.join(", ")}, got ${show(action)}`);
    return undefined;
  }
  const base = { atMs: atMs ?? 0, provider: provider ?? "" };
  switch (action) {
    case "setFault": {
      r.keys(v, path, ["at", "provider", "action", "fault"]);
      const fault = readFault(r, v.fault, join(path, "fault"));
      return fault ? { ...base, action, fault } : undefined;
    }
    case "startOutage": {
      r.keys(v, path, ["at", "provider", "action", "mode", "for"]);
      const mode = r.str(v, "mode", path, "refused");
      if (mode !== "refused" && mode !== "reset") r.fail(join(path, "mode"), `expected "refused" or "reset", got ${show(mode)}`);
      const forMs = v.for === undefined ? undefined : r.dur(v, "for", path);
      return { ...base, action, mode: mode as OutageMode, forMs };
    }
    case "setKeys": {
      r.keys(v, path, ["at", "provider", "action", "keys"]);
      const keys = v.keys;
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) {
        r.fail(join(path, "keys"), `expected a list of strings, got ${show(keys)}`);
        return undefined;
      }
      return { ...base, action, keys };
    }
    case "setLatency": {
      r.keys(v, path, ["at", "provider", "action", "ms"]);
      return { ...base, action, ms: r.dur(v, "ms", path) ?? 0 };
    }
    default:
      r.keys(v, path, ["at", "provider", "action"]);
      return { ...base, action } as TimelineEntry;
  }
}

/** Validates a parsed scenario document; throws ScenarioError listing every problem. */
export function parseScenario(doc: unknown, source = "scenario"): Scenario {
  const problems: string[] = [];
  const r = new Reader(problems);
  if (!isObj(doc)) throw new ScenarioError(source, [`expected a mapping at the top level, got ${show(doc)}`]);
  r.keys(doc, "", [
    "name", "description", "windowMs", "bootstrap", "workers", "seed", "warmup", "requestTimeout", "sliceMs",
    "providers", "plugin", "baseline", "load", "timeline",
  ]);
  const name = r.str(doc, "name", "") ?? "";
  const description = typeof doc.description === "string" ? doc.description.trim() : "";
  const windowMs = r.dur(doc, "windowMs", "") ?? 60_000;
  if (windowMs < 100) r.fail("windowMs", `at least 100ms, got ${windowMs}`);

  const providers: ScenarioProvider[] = [];
  const provs = r.obj(doc, "providers", "", true) ?? {};
  for (const [pname, pv] of Object.entries(provs)) {
    const path = `providers.${pname}`;
    if (!isObj(pv)) {
      r.fail(path, `expected a mapping { mock, plugin }, got ${show(pv)}`);
      continue;
    }
    r.keys(pv, path, ["mock", "plugin"]);
    const m = r.obj(pv, "mock", path) ?? {};
    r.keys(m, join(path, "mock"), ["tokensPerMinute", "requestsPerMinute", "latencyMs", "stream", "completionTokens"]);
    const mp = join(path, "mock");
    const mock: MockSettings = {
      tokensPerMinute: r.int(m, "tokensPerMinute", mp, 1, 1e9, 0) || undefined,
      requestsPerMinute: r.int(m, "requestsPerMinute", mp, 1, 1e9, 0) || undefined,
      latencyMs: r.dur(m, "latencyMs", mp, 0),
      completionTokens: r.int(m, "completionTokens", mp, 0, 100_000, 8),
    };
    const st = r.obj(m, "stream", mp);
    if (st) {
      r.keys(st, join(mp, "stream"), ["firstChunkMs", "chunkIntervalMs"]);
      mock.stream = { firstChunkMs: r.dur(st, "firstChunkMs", join(mp, "stream"), 0), chunkIntervalMs: r.dur(st, "chunkIntervalMs", join(mp, "stream"), 0) };
    }
    providers.push({ name: pname, mock, plugin: r.obj(pv, "plugin", path) ?? {} });
  }
  if (providers.length === 0) r.fail("providers", "at least one provider");
  const names = providers.map((p) => p.name);

  const load: Phase[] = [];
  const lv = doc.load;
  if (!Array.isArray(lv) || lv.length === 0) r.fail("load", "expected a non-empty list of phases");
  else {
    lv.forEach((pv, i) => {
      const path = `load[${i}]`;
      if (!isObj(pv)) return r.fail(path, `expected a phase mapping, got ${show(pv)}`);
      r.keys(pv, path, ["phase", "clients", "duration", "think", "request"]);
      const rq = r.obj(pv, "request", path, true);
      const request = rq ? readRequest(r, rq, join(path, "request")) : undefined;
      const phase = {
        name: r.str(pv, "phase", path, `phase-${i + 1}`)!,
        clients: r.int(pv, "clients", path, 1, 1000) ?? 1,
        durationMs: r.dur(pv, "duration", path) ?? 0,
        thinkMs: r.dur(pv, "think", path, 0)!,
        request: request!,
      };
      if (request) load.push(phase);
    });
  }

  const timeline: TimelineEntry[] = [];
  const tv = doc.timeline ?? [];
  if (!Array.isArray(tv)) r.fail("timeline", `expected a list, got ${show(tv)}`);
  else tv.forEach((e, i) => {
    const t = readTimeline(r, e, `timeline[${i}]`, names);
    if (t) timeline.push(t);
  });
  const totalMs = load.reduce((s, p) => s + p.durationMs, 0);
  timeline.forEach((t, i) => {
    if (t.atMs > totalMs) r.fail(`timeline[${i}].at`, `${t.atMs}ms is after the end of the load (${totalMs}ms)`);
  });

  const b = r.obj(doc, "baseline", "") ?? {};
  r.keys(b, "baseline", ["minRemainingTokens"]);
  const baseline = { minRemainingTokens: r.int(b, "minRemainingTokens", "baseline", 0, 1e9, 600)! };

  const scenario: Scenario = {
    name, description, source, windowMs,
    bootstrap: r.str(doc, "bootstrap", "", "envoy/local.yaml")!,
    workers: r.int(doc, "workers", "", 1, 16, 2)!,
    seed: r.int(doc, "seed", "", 0, 2 ** 31, 1)!,
    warmupMs: r.dur(doc, "warmup", "", 500)!,
    requestTimeoutMs: r.dur(doc, "requestTimeout", "", 30_000)!,
    sliceMs: r.dur(doc, "sliceMs", "", 1000)!,
    providers,
    plugin: r.obj(doc, "plugin", "") ?? {},
    baseline,
    load,
    timeline: timeline.sort((a, b) => a.atMs - b.atMs),
  };
  if (problems.length) throw new ScenarioError(source, problems);
  return scenario;
}

/** Reads and validates a scenario file (YAML). */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(path, [`cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`]);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    throw new ScenarioError(path, [`not valid YAML: ${(e as Error).message}`]);
  }
  return parseScenario(doc, path);
}

/** Total length of the load phases. */
export function loadDurationMs(s: Scenario): number {
  return s.load.reduce((n, p) => n + p.durationMs, 0);
}
