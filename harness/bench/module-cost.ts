/**
 * The filter's own cost, standalone: mock providers for one captured exchange, then profiled hosts
 * (time inside the module apart from time in host imports; see host-bench.ts measureModuleCost).
 * What test/bench/cost-regression.test.ts runs, and a CLI to look at or re-record the figures:
 *
 *   node --import tsx harness/bench/module-cost.ts [--requests N] [--chunks N] [--rounds R] [--passthrough] [--json]
 *   node --import tsx harness/bench/module-cost.ts --record    # rewrites test/bench/cost-baseline.json
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { loadBootstrap } from "../gateway/index.ts";
import { buildPassthrough } from "./build-fixture.ts";
import { captureExchanges, measureModuleCost, profiledRunner, type ModuleCost, type Runner } from "./host-bench.ts";
import { PRODUCT_WASM, ROOT } from "./paths.ts";
import { benchBootstrap, startMocks } from "./stack.ts";

export const BASELINE_PATH = `${ROOT}test/bench/cost-baseline.json`;

/** What the baseline file records (per filter). */
export interface CostFigures {
  moduleUsPerRequest: number;
  moduleUsPerChunk: number;
  hostCallsPerRequest: number;
  hostCallsPerChunk: number;
}

export interface CostBaseline {
  recorded: { commit: string; date: string; machine: string; loadAverage: number[]; requests: number; chunks: number; rounds: number; measurements: number };
  howToRecord: string;
  failAbove: string;
  filters: Record<string, CostFigures>;
}

/** The figures the regression test compares: module time of the lowest round (preemption on a loaded machine only adds time). */
export function figures(c: ModuleCost): CostFigures {
  return {
    moduleUsPerRequest: c.request.moduleUsMin,
    moduleUsPerChunk: c.chunk.moduleUsMin,
    hostCallsPerRequest: c.request.hostCalls,
    hostCallsPerChunk: c.chunk.hostCalls,
  };
}

/**
 * Profiled cost of each module: warm-up, two unrecorded rounds, then `rounds` rounds of `requests`
 * requests and `chunks` SSE chunks, modules interleaved.
 */
export async function measureFilterCost(opts: {
  modules: Array<{ name: string; wasm: Uint8Array }>;
  requests: number;
  /** SSE chunks per round (default: as many as requests). */
  chunks?: number;
  rounds: number;
  warm: number;
}): Promise<Record<string, ModuleCost>> {
  const mocks = await startMocks();
  const runners: Runner[] = [];
  try {
    const captured = await captureExchanges(mocks);
    const ports = { east: mocks.east.port, west: mocks.west.port };
    const cfg = loadBootstrap(benchBootstrap("ai-failover", PRODUCT_WASM, ports), { source: "cost", baseDir: ROOT }).wasm;
    for (const m of opts.modules) runners.push(await profiledRunner(m.name, m.wasm, cfg, captured, opts.warm));
    // Unrecorded rounds first: V8 tiers wasm functions up (Liftoff → TurboFan) in the background once hot.
    const chunks = opts.chunks ?? opts.requests;
    measureModuleCost(runners, { requests: opts.requests, chunks, rounds: 2 });
    const costs = measureModuleCost(runners, { requests: opts.requests, chunks, rounds: opts.rounds });
    const out: Record<string, ModuleCost> = {};
    opts.modules.forEach((m, i) => (out[m.name] = costs[i]!));
    return out;
  } finally {
    for (const r of runners) await r.host.close();
    await mocks.close();
  }
}

/** The product module and, when asked, the pass-through fixture. */
export async function modules(passthrough: boolean): Promise<Array<{ name: string; wasm: Uint8Array }>> {
  const list = [{ name: "ai-failover", wasm: readFileSync(PRODUCT_WASM) as Uint8Array }];
  if (passthrough) list.unshift({ name: "pass-through", wasm: (await buildPassthrough()).bytes });
  return list;
}

/** Settings of the regression test and of --record (the same, so the figures compare). Rounds of
 *  ~20 ms each: long enough that one preemption does not dominate a round. */
export const REGRESSION = { requests: 400, chunks: 4000, rounds: 9, warm: 1000 };

async function cli(argv: string[]): Promise<void> {
  const arg = (name: string, d: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const record = argv.includes("--record");
  const requests = record ? REGRESSION.requests : arg("--requests", REGRESSION.requests);
  const chunks = record ? REGRESSION.chunks : arg("--chunks", REGRESSION.chunks);
  const rounds = record ? REGRESSION.rounds : arg("--rounds", REGRESSION.rounds);
  const mods = await modules(argv.includes("--passthrough") || record);
  const costs = await measureFilterCost({ modules: mods, requests, chunks, rounds, warm: REGRESSION.warm });
  if (record) {
    // Three measurements; each figure the median of the three (one burst of load does not set it).
    const more = [await measureFilterCost({ modules: mods, requests, chunks, rounds, warm: REGRESSION.warm }), await measureFilterCost({ modules: mods, requests, chunks, rounds, warm: REGRESSION.warm })];
    const med3 = (a: number, b: number, c: number) => a + b + c - Math.min(a, b, c) - Math.max(a, b, c);
    const recordedFigures = (name: string): CostFigures => {
      const [a, b, c] = [costs[name]!, more[0][name]!, more[1][name]!].map(figures) as [CostFigures, CostFigures, CostFigures];
      return {
        moduleUsPerRequest: med3(a.moduleUsPerRequest, b.moduleUsPerRequest, c.moduleUsPerRequest),
        moduleUsPerChunk: med3(a.moduleUsPerChunk, b.moduleUsPerChunk, c.moduleUsPerChunk),
        hostCallsPerRequest: Math.max(a.hostCallsPerRequest, b.hostCallsPerRequest, c.hostCallsPerRequest),
        hostCallsPerChunk: Math.max(a.hostCallsPerChunk, b.hostCallsPerChunk, c.hostCallsPerChunk),
      };
    };
    const git = (...a: string[]) => execFileSync("git", a, { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--", "assembly").length > 0;
    const baseline: CostBaseline = {
      recorded: {
        commit: git("rev-parse", "HEAD") + (dirty ? " (assembly/ modified)" : ""),
        date: new Date().toISOString(),
        machine: `${process.platform} ${process.arch}, ${os.cpus().length} CPUs, Node ${process.version}`,
        loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
        requests,
        chunks,
        rounds,
        measurements: 3,
      },
      howToRecord: "npm run build && node --import tsx harness/bench/module-cost.ts --record (on an idle machine; commit the file)",
      failAbove: "moduleUsPerRequest / moduleUsPerChunk (µs inside the module, lowest of the rounds; recorded: median of 3 measurements): 3 × the figure; hostCallsPerRequest / hostCallsPerChunk: the figure + 2",
      filters: Object.fromEntries(Object.keys(costs).map((k) => [k, recordedFigures(k)])),
    };
    writeFileSync(BASELINE_PATH, JSON.stringify(baseline, null, 2) + "\n");
    process.stdout.write(`wrote ${BASELINE_PATH}\n`);
  }
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify(costs, null, 2) + "\n");
    return;
  }
  for (const [name, c] of Object.entries(costs)) {
    const f = (n: number, d = 2) => n.toFixed(d);
    process.stdout.write(
      `${name}: request ${f(c.request.moduleUs)} µs in module (lowest round ${f(c.request.moduleUsMin)}; rounds ${c.request.moduleUsByRound.map((x) => f(x, 1)).join(" ")}), ` +
        `${f(c.request.hostImportUs)} µs in host imports, ${f(c.request.harnessUs)} µs harness, ${f(c.request.hostCalls, 1)} host calls; ` +
        `chunk ${f(c.chunk.moduleUs, 3)} µs in module, ${f(c.chunk.hostImportUs, 3)} µs in host imports, ${f(c.chunk.hostCalls, 2)} host calls ` +
        `(clock overhead ${f(c.calibration.selfUs, 3)} + ${f(c.calibration.parentUs, 3)} µs per frame)\n`,
    );
    for (const cb of c.request.callbacks) {
      process.stdout.write(`  ${cb.name}: ×${f(cb.calls, 2)} module ${f(cb.moduleUs)} µs, host ${f(cb.hostUs)} µs, ${f(cb.hostCalls, 1)} host calls` +
        (cb.imports.length ? ` (${cb.imports.map((i) => `${i.name} ×${f(i.calls, 2)}`).join(", ")})` : "") + "\n");
    }
    for (const h of c.request.hostByName) process.stdout.write(`    ${h.name}: ${f(h.calls, 2)} calls, ${f(h.us)} µs\n`);
    for (const h of c.request.moduleByName) process.stdout.write(`    [module] ${h.name}: ${f(h.calls, 2)} calls, ${f(h.us)} µs\n`);
    process.stdout.write(`  chunk:\n`);
    for (const cb of c.chunk.callbacks) process.stdout.write(`  ${cb.name}: ×${f(cb.calls, 2)} module ${f(cb.moduleUs, 3)} µs, host ${f(cb.hostUs, 3)} µs, ${f(cb.hostCalls, 2)} host calls\n`);
    for (const h of c.chunk.hostByName) process.stdout.write(`    ${h.name}: ${f(h.calls, 2)} calls, ${f(h.us, 3)} µs\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
