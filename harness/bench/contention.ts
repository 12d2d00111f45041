/**
 * Reservations under real parallelism: `threads` worker threads, each with its own PluginHost
 * (worker VM) on one SharedArrayBuffer-backed shared data, hammer one provider window of
 * `limit` requests per minute. Phase 1 sends exactly `limit` requests in total (every one must be
 * admitted: a refusal would be a spurious 429); phase 2 sends `extra` more (every one must be
 * refused: an admission would be an over-admission). The window's own count must equal the
 * admissions. Used by test/capacity/parallel-contention.test.ts and printable on its own:
 *   node --import tsx harness/bench/contention.ts [threads] [limit] [extra] [module.wasm]
 */
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { SabSharedData } from "../host/index.ts";
import { EAST_KEY } from "../keys.ts";
import { PRODUCT_WASM } from "./paths.ts";

export interface ContentionResult {
  threads: number;
  limit: number;
  /** Per phase: admitted and refused over all threads, and the wall time of the slowest thread. */
  phases: Array<{ sent: number; admitted: number; refused: number; other: number; otherSamples: string[]; wallMs: number; threadMs: number[] }>;
  /** requestsReserved in the provider's window at the end. */
  windowRequests: number;
}

export async function runContention(threads: number, limit: number, extra: number, wasmPath = PRODUCT_WASM): Promise<ContentionResult> {
  const store = new SabSharedData(64);
  const gate = new SharedArrayBuffer(4);
  const gateView = new Int32Array(gate);
  const configuration = JSON.stringify({
    providers: [{
      name: "east", type: "azure-openai", cluster: "east", host: "east.openai.azure.com", apiVersion: "2024-10-21",
      deployments: { "gpt-4o": "gpt4o" }, auth: { apiKey: EAST_KEY }, limits: { requestsPerMinute: limit },
    }],
    healthCheck: { enabled: false },
    retry: { maxAttempts: 1 },
    logLevel: "error",
  });
  const per = (n: number) => Array.from({ length: threads }, (_, t) => Math.floor(n / threads) + (t < n % threads ? 1 : 0));
  const plan = [per(limit), per(extra)];
  const wasm = readFileSync(wasmPath);
  // The worker is TypeScript: register tsx's loader in the thread first (a worker does not
  // inherit the parent's --import loaders on Node 20), then load it.
  const entry = new URL("./contention-worker.ts", import.meta.url).href;
  const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  const workers = plan[0]!.map((_, t) => new Worker(boot, {
    eval: true,
    workerData: { buffer: store.buffer, gate, wasm, configuration, phases: plan.map((p) => p[t]) },
  }));
  const result: ContentionResult = { threads, limit, phases: [], windowRequests: 0 };
  try {
    for (let phase = 0; phase < plan.length; phase++) {
      await Promise.all(workers.map((w) => waitFor(w, (m) => m.ready === phase)));
      const started = performance.now();
      const reports = Promise.all(workers.map((w) => waitFor(w, (m) => m.phase === phase)));
      Atomics.store(gateView, 0, phase + 1);
      Atomics.notify(gateView, 0);
      const rs = await reports;
      result.phases.push({
        sent: plan[phase]!.reduce((a, b) => a + b, 0),
        admitted: rs.reduce((a, r) => a + r.admitted, 0),
        refused: rs.reduce((a, r) => a + r.refused, 0),
        other: rs.reduce((a, r) => a + r.otherCount, 0),
        otherSamples: rs.flatMap((r) => r.other),
        wallMs: performance.now() - started,
        threadMs: rs.map((r) => r.ms),
      });
    }
    await Promise.all(workers.map((w) => waitFor(w, (m) => m.done === true)));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  // (The key without a record suffix is the layout of builds before state was keyed per record.)
  const key = store.keys("").find((k) => k.startsWith("ai-failover/provider/east/") || k === "ai-failover/provider/east");
  const v = key ? store.get("", key) : undefined;
  // assembly/health/state.ts layout: requestsReserved at byte 96.
  result.windowRequests = v ? Number(new DataView(v.value.buffer, v.value.byteOffset).getBigInt64(96, true)) : 0;
  return result;
}

function waitFor(w: Worker, match: (m: any) => boolean): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: any) => { if (match(m)) { off(); resolve(m); } };
    const onError = (e: Error) => { off(); reject(e); };
    const onExit = (code: number) => { off(); reject(new Error(`contention worker exited (${code})`)); };
    const off = () => { w.off("message", onMessage); w.off("error", onError); w.off("exit", onExit); };
    w.on("message", onMessage);
    w.on("error", onError);
    w.on("exit", onExit);
  });
}

export function formatContention(r: ContentionResult): string {
  const rows = r.phases.map((p, i) =>
    `| ${i === 0 ? "fill the window" : "window full"} | ${p.sent} | ${p.admitted} | ${p.refused} | ${p.other} | ${p.wallMs.toFixed(0)} | ${p.threadMs.map((m) => m.toFixed(0)).join(" / ")} |`);
  return [
    `${r.threads} threads (one worker VM each) on one shared data; provider window ${r.limit} requests per minute; window count at the end: ${r.windowRequests}`,
    "",
    "| phase | sent | admitted | refused (429) | other | wall ms | per-thread ms |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rows,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [threads = "4", limit = "10000", extra = "1000", wasm = PRODUCT_WASM] = process.argv.slice(2);
  const r = await runContention(Number(threads), Number(limit), Number(extra), wasm);
  process.stdout.write(formatContention(r) + "\n");
}
