/**
 * `npm run bench -- --soak [--streams N] [--seconds S]`: N concurrent streaming clients (default
 * 200) for S seconds (default 60) through the gateway (in this process, 2 worker VMs, the built
 * filter on envoy/local.yaml with a consumer) to the two mock Azure providers, with mixed faults
 * per request (mock x-mock-* knobs): 429 (east only), 503, resets before headers, streams cut
 * after 3 frames, slow streams, insufficient_quota. A warm-up of the same load comes first.
 *
 * After the load, with nothing in flight, every reservation must have been settled:
 *   - consumer budget: tokens = Σ charged tokens of its access-log lines (settled both ways),
 *     requests = its requests charged something;
 *   - west (no 429s, so its window never moves): requests reserved = west's attempts answered
 *     200 (failed attempts give theirs back), tokens ≥ the usage of those attempts;
 *   - east (429s end its window): requests reserved ≤ its attempts answered 200;
 *   - each worker VM's linear memory within one 64 KiB page of its value after the warm-up;
 *   - no trap, no credential problem at either mock.
 * The filter's clock runs 10× slower than the wall clock, so the whole soak stays inside one
 * 60 s window of the filter (provider and consumer windows are then comparable with the counts).
 * `runSoak` returns the table and the failed invariants; test/robustness/soak.test.ts runs a
 * short one (20 streams, 3 s).
 */
import http from "node:http";
import { EventEmitter } from "node:events";
import YAML from "yaml";
import { startGateway, type Gateway } from "../gateway/index.ts";
import type { LogRecord } from "../host/types.ts";
import type { SharedStore } from "../host/process-state.ts";
import { startMockProvider, type MockProvider } from "../providers/index.ts";
import { PRODUCT_WASM, ROOT } from "./paths.ts";
import { benchBootstrap, EAST_KEY, WEST_KEY } from "./stack.ts";
import { workerMemoryBytes } from "./vm-memory.ts";

export const SOAK_CONSUMER_KEY = "soak-consumer-key-000000001";
const SLOW_CLOCK = 10;

export interface SoakOptions { streams: number; seconds: number; warmupSeconds?: number }

export interface SoakResult {
  rows: Array<[string, string]>;
  failures: string[];
  table: string;
}

type Fault = { name: string; headers: Record<string, string> };
const FAULTS: Array<[number, Fault]> = [
  [52, { name: "none", headers: {} }],
  [8, { name: "429 east", headers: { "x-mock-target": "aoai-east", "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "30" } }],
  [5, { name: "503 east", headers: { "x-mock-target": "aoai-east", "x-mock-status": "503" } }],
  [5, { name: "503 west", headers: { "x-mock-target": "aoai-west", "x-mock-status": "503" } }],
  [5, { name: "reset east", headers: { "x-mock-target": "aoai-east", "x-mock-fault": "reset" } }],
  [5, { name: "reset west", headers: { "x-mock-target": "aoai-west", "x-mock-fault": "reset" } }],
  [6, { name: "cut stream", headers: { "x-mock-fault": "cut-stream:3" } }],
  [12, { name: "slow", headers: { "x-mock-first-chunk-ms": "400", "x-mock-chunk-interval-ms": "60" } }],
  [2, { name: "insufficient_quota east", headers: { "x-mock-target": "aoai-east", "x-mock-fault": "insufficient-quota" } }],
];
function pickFault(): Fault {
  let x = Math.random() * 100;
  for (const [w, f] of FAULTS) if ((x -= w) < 0) return f;
  return FAULTS[0]![1];
}

function bootstrap(ports: { east: number; west: number }): string {
  const doc = YAML.parse(benchBootstrap("ai-failover", PRODUCT_WASM, ports));
  const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const wasm = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm").typed_config.config;
  const cfg = JSON.parse(wasm.configuration.value);
  cfg.healthCheck = { enabled: false };
  // Filter time (10× slower than the wall clock): 20 ms here is 200 ms of the run.
  cfg.cooldown = { rateLimitDefault: "20ms", authFailure: "50ms", consecutiveFailures: 3, baseEjection: "20ms", maxEjection: "100ms" };
  cfg.consumers = [{ name: "soak", apiKey: SOAK_CONSUMER_KEY, tokensPerMinute: 1_000_000_000_000 }];
  cfg.logLevel = "info";
  wasm.configuration.value = JSON.stringify(cfg);
  return YAML.stringify(doc);
}

interface Shared { keys(vm: string): string[]; get(vm: string, k: string): { value: Uint8Array } | undefined }
function sharedOf(g: Gateway): Shared {
  const p = (g.host as unknown as { process?: { sharedData?: SharedStore } }).process;
  if (!p?.sharedData) throw new Error("soak: the gateway's host exposes no process shared data (harness/host changed?)");
  return p.sharedData as unknown as Shared;
}
const i64 = (v: Uint8Array, off: number) => new DataView(v.buffer, v.byteOffset, v.byteLength).getBigInt64(off, true);
/** assembly/health/state.ts: tokens reserved at 88, requests at 96. */
function providerWindow(s: Shared, name: string): { tokens: bigint; requests: bigint } | undefined {
  const k = s.keys("ai-failover").find((x) => x.startsWith(`ai-failover/provider/${name}/`));
  const v = k ? s.get("ai-failover", k)?.value : undefined;
  return v ? { tokens: i64(v, 88), requests: i64(v, 96) } : undefined;
}
/** assembly/admission/budget.ts: tokens at 16, requests at 24. */
function consumerBudget(s: Shared, name: string): { tokens: bigint; requests: bigint } | undefined {
  const k = s.keys("ai-failover").find((x) => x.startsWith(`ai-failover/consumer/${name}/`));
  const v = k ? s.get("ai-failover", k)?.value : undefined;
  return v ? { tokens: i64(v, 16), requests: i64(v, 24) } : undefined;
}

function oneStream(port: number, fault: Fault, agent: http.Agent): Promise<string> {
  const body = Buffer.from(JSON.stringify({ model: "gpt-4o", stream: true, max_tokens: 40, messages: [{ role: "user", content: "soak " + Math.random() }] }));
  return new Promise((resolve) => {
    const req = http.request({
      host: "127.0.0.1", port, method: "POST", path: "/v1/chat/completions", agent, timeout: 30_000,
      headers: { "content-type": "application/json", "content-length": body.length, "api-key": SOAK_CONSUMER_KEY, ...fault.headers },
    }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(String(res.statusCode)));
      res.on("error", () => resolve("reset"));
      res.on("aborted", () => resolve("reset"));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(e.message === "timeout" ? "timeout" : "reset"));
    req.end(body);
  });
}

async function load(port: number, streams: number, ms: number, statuses: Map<string, number>): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: streams });
  const end = Date.now() + ms;
  let n = 0;
  await Promise.all(Array.from({ length: streams }, async () => {
    while (Date.now() < end) {
      const s = await oneStream(port, pickFault(), agent);
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
      n++;
    }
  }));
  agent.destroy();
  return n;
}

const kept = (p: MockProvider) => p.records.filter((r) => r.api !== "models" && r.status === 200);

export async function soak(opts: SoakOptions, progress: (m: string) => void = () => {}): Promise<SoakResult> {
  EventEmitter.defaultMaxListeners = Math.max(EventEmitter.defaultMaxListeners, opts.streams + 50);
  const common = { kind: "azure" as const, defaultLimits: { tokensPerMinute: 1e12, requestsPerMinute: 1e12 }, completionTokens: 12, stream: { firstChunkMs: 5, chunkIntervalMs: 15 } };
  const east = await startMockProvider({ ...common, name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } } });
  const west = await startMockProvider({ ...common, name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
  const logs: LogRecord[] = [];
  const t0 = Date.now();
  let gateway: Gateway | undefined;
  try {
    gateway = await startGateway({
      bootstrapText: bootstrap({ east: east.port, west: west.port }), baseDir: ROOT, workers: 2, logLevel: 2,
      logger: (r) => { if (r.level >= 2) logs.push(r); },
      hostOptions: { clockNs: () => BigInt(t0 + Math.floor((Date.now() - t0) / SLOW_CLOCK)) * 1_000_000n },
    });
    const statuses = new Map<string, number>();
    const warmMs = (opts.warmupSeconds ?? Math.min(10, opts.seconds / 4)) * 1000;
    progress(`soak: warm-up, ${opts.streams} streams for ${(warmMs / 1000).toFixed(1)} s`);
    await load(gateway.listenerPort, opts.streams, warmMs, new Map());
    const warmMem = workerMemoryBytes(gateway.host);
    progress(`soak: ${opts.streams} streams for ${opts.seconds} s with mixed faults`);
    const began = performance.now();
    const requests = await load(gateway.listenerPort, opts.streams, opts.seconds * 1000, statuses);
    const loadS = (performance.now() - began) / 1000;
    await new Promise((r) => setTimeout(r, 500)); // http_call answers and on_log of the last streams
    const endMem = workerMemoryBytes(gateway.host);

    const failures: string[] = [];
    const shared = sharedOf(gateway);
    const access = logs.map((l) => l.message).filter((m) => m.startsWith("ai-failover access:") && m.includes("consumer=soak"));
    const num = (m: string, k: string) => Number(new RegExp(` ${k}=(-?\\d+)`).exec(m)?.[1] ?? "0");
    const charged = access.map((m) => num(m, "prompt_tokens") + num(m, "completion_tokens"));
    const budget = consumerBudget(shared, "soak");
    const sumCharged = BigInt(charged.reduce((a, b) => a + b, 0));
    const chargedRequests = BigInt(charged.filter((c) => c > 0).length);
    if (!budget) failures.push("no consumer budget record");
    else {
      if (budget.tokens !== sumCharged) failures.push(`consumer tokens reserved ${budget.tokens} ≠ ${sumCharged} charged in its access log`);
      if (budget.requests !== chargedRequests) failures.push(`consumer requests reserved ${budget.requests} ≠ ${chargedRequests} requests charged`);
    }
    const w = providerWindow(shared, "aoai-west-payg");
    const wKept = kept(west);
    const wUsage = wKept.reduce((a, r) => a + (r.promptTokens ?? 0) + (r.completionTokens ?? 0), 0);
    if (!w) failures.push("no state for aoai-west-payg");
    else {
      if (w.requests !== BigInt(wKept.length)) failures.push(`west requests reserved ${w.requests} ≠ ${wKept.length} attempts it answered 200`);
      if (w.tokens < BigInt(wUsage)) failures.push(`west tokens reserved ${w.tokens} < ${wUsage} used`);
    }
    const e = providerWindow(shared, "aoai-east-ptu");
    const eKept = kept(east);
    if (e && e.requests > BigInt(eKept.length)) failures.push(`east requests reserved ${e.requests} > ${eKept.length} attempts it answered 200`);
    const pageGrowth = endMem.map((m, i) => m - warmMem[i]!);
    if (pageGrowth.some((g) => g > 65536)) failures.push(`worker VM memory grew ${pageGrowth.join(", ")} bytes after the warm-up (> one 64 KiB page)`);
    const traps = logs.filter((l) => l.level >= 5).map((l) => l.message);
    if (traps.length) failures.push(`${traps.length} critical log lines (traps): ${traps[0]}`);
    const creds = [...east.records.flatMap((r) => r.credentials.filter((c) => c.value !== EAST_KEY).map(() => "east")),
      ...west.records.flatMap((r) => r.credentials.filter((c) => c.value !== WEST_KEY).map(() => "west"))];
    if (creds.length) failures.push(`${creds.length} foreign or client credentials at the mocks`);
    if (requests < opts.streams) failures.push(`only ${requests} requests completed`);

    const st = [...statuses.entries()].sort().map(([k, v]) => `${k}: ${v}`).join(", ");
    const rows: Array<[string, string]> = [
      ["streams × seconds", `${opts.streams} × ${opts.seconds} (load ran ${loadS.toFixed(1)} s, warm-up ${(warmMs / 1000).toFixed(1)} s)`],
      ["requests", `${requests} (${st})`],
      ["mock east / west attempts", `${east.records.length} / ${west.records.length} (answered 200: ${eKept.length} / ${wKept.length})`],
      ["consumer budget: tokens, requests", budget ? `${budget.tokens} (charged ${sumCharged}), ${budget.requests} (charged ${chargedRequests})` : "missing"],
      ["west window: requests, tokens", w ? `${w.requests} (200s: ${wKept.length}), ${w.tokens} (usage ${wUsage})` : "missing"],
      ["east window: requests", e ? `${e.requests} (≤ 200s: ${eKept.length})` : "missing"],
      ["worker VM memory after warm-up → end", warmMem.map((m, i) => `${(m / 1024).toFixed(0)} → ${(endMem[i]! / 1024).toFixed(0)} KiB`).join("; ")],
      ["traps / foreign credentials", `${traps.length} / ${creds.length}`],
      ["result", failures.length ? `FAILED: ${failures.join("; ")}` : "ok"],
    ];
    const table = "\n## Soak\n\n| check | value |\n|---|---|\n" + rows.map(([a, b]) => `| ${a} | ${b} |`).join("\n") + "\n";
    return { rows, failures, table };
  } finally {
    await gateway?.close();
    await Promise.all([east.close(), west.close()]);
  }
}

/** The bench's --soak: prints the table, exit status 1 when an invariant failed. */
export async function runSoak(opts: SoakOptions, progress: (m: string) => void): Promise<number> {
  const r = await soak(opts, progress);
  process.stdout.write(r.table + "\n");
  return r.failures.length ? 1 : 0;
}
