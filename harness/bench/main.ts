/**
 * npm run bench — speed and memory of ai-failover as ratios against baselines measured in the same
 * run (direct to the mock provider; the same gateway with a pass-through filter). 127.0.0.1 only,
 * bounded in requests and time. See harness/bench/README.md.
 *
 *   node --expose-gc --import tsx harness/bench/main.ts [--quick] [--out-dir DIR] [--baseline-wasm FILE]
 *   … main.ts --fuzz [--cases N] [--seed S]      the standing fuzz properties, N cases per class (fuzz.ts)
 *   … main.ts --soak [--streams N] [--seconds S]  concurrent streams with mixed faults, then leak checks (soak.ts)
 *
 * Writes DIR/bench-report.md and DIR/bench-report.json (DIR default: build/) and prints the
 * Markdown to stdout; progress goes to stderr.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { EventEmitter } from "node:events";
import os from "node:os";
import { join, relative } from "node:path";
import { buildPassthrough } from "./build-fixture.ts";
import { runClusterLimitsBench } from "./cluster-limits.ts";
import { runHeldBodiesBench, type HeldBodiesSettings } from "./held-bodies.ts";
import { captureExchanges, runHostBench } from "./host-bench.ts";
import { configureMocks, runSlice, WORKLOADS, type SliceResult, type Target, type TargetId, type Workload } from "./load.ts";
import { PRODUCT_WASM, ROOT } from "./paths.ts";
import { runFuzz } from "./fuzz.ts";
import { runSoak } from "./soak.ts";
import { aggregate, compare, renderMarkdown, type BenchReport, type GatewayMemory, type WorkloadResult } from "./report.ts";
import { benchBootstrap, GatewayProcess, startMocks, type Mocks } from "./stack.ts";

interface Settings {
  mode: "full" | "quick";
  sliceMs: number;
  rounds: number;
  warmupMs: number;
  /** Cap per slice, whatever the speed. */
  maxRequestsPerSlice: number;
  hostRequests: number;
  hostBlock: number;
  confirmLeaks: boolean;
  /** Host bench: profiled rounds (time inside the module vs in host imports). */
  profileRounds: number;
  /** Cluster-wide limits (cluster-limits.ts): recorded requests per mode, after `clusterWarmup`. */
  clusterRequests: number;
  clusterWarmup: number;
  /** The whole run is aborted past this. */
  deadlineMs: number;
  /** Large bodies (held-bodies.ts). */
  heldBodies: HeldBodiesSettings;
}

const FULL: Settings = {
  mode: "full", sliceMs: 3000, rounds: 2, warmupMs: 1500, maxRequestsPerSlice: 200_000,
  hostRequests: 10_000, hostBlock: 1000, confirmLeaks: true, profileRounds: 10, clusterRequests: 400, clusterWarmup: 50, deadlineMs: 360_000,
  heldBodies: { concurrency: 100, bodyBytes: 4_000_000, slowMs: 3000, failovers: 20, answerBytes: 4_000_000 },
};
const QUICK: Settings = {
  mode: "quick", sliceMs: 300, rounds: 1, warmupMs: 200, maxRequestsPerSlice: 20_000,
  hostRequests: 1000, hostBlock: 250, confirmLeaks: false, profileRounds: 5, clusterRequests: 100, clusterWarmup: 20, deadlineMs: 120_000,
  heldBodies: { concurrency: 20, bodyBytes: 4_000_000, slowMs: 1500, failovers: 5, answerBytes: 4_000_000 },
};

const t0 = performance.now();
const progress = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

// The mock providers wait on one AbortSignal per provider: 32 concurrent waits are expected, not a leak.
EventEmitter.defaultMaxListeners = 100;

interface Extra {
  /** --fuzz / --soak run instead of the speed benchmark. */
  run: "bench" | "fuzz" | "soak";
  cases: number;
  seed?: number;
  streams: number;
  seconds: number;
}

function parseArgs(argv: string[]): { settings: Settings; outDir: string; baselineWasm: string | null; extra: Extra } {
  let settings = FULL;
  let outDir = join(ROOT, "build");
  let baselineWasm: string | null = null;
  const extra: Extra = { run: "bench", cases: 10_000, streams: 200, seconds: 60 };
  const num = (a: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--fuzz") extra.run = "fuzz";
    else if (a === "--soak") extra.run = "soak";
    else if (a === "--cases") extra.cases = Math.floor(num(a, argv[++i]));
    else if (a === "--seed") extra.seed = Math.floor(num(a, argv[++i]));
    else if (a === "--streams") extra.streams = Math.floor(num(a, argv[++i]));
    else if (a === "--seconds") extra.seconds = num(a, argv[++i]);
    else if (a === "--quick") settings = QUICK;
    else if (a === "--out-dir") outDir = argv[++i] ?? outDir;
    else if (a === "--baseline-wasm") {
      baselineWasm = argv[++i] ?? null;
      if (baselineWasm === null) throw new Error("--baseline-wasm needs a file (e.g. a build of another commit)");
    } else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: npm run bench -- [--quick] [--out-dir DIR] [--baseline-wasm FILE]\n" +
        "  --baseline-wasm FILE  also measure FILE (e.g. the previous commit's build) in the host bench, interleaved with this build\n" +
        "       npm run bench -- --fuzz [--cases N] [--seed S]        fuzz properties, N cases per class (default 10000)\n" +
        "       npm run bench -- --soak [--streams N] [--seconds S]   soak: N concurrent streams (200) with faults for S seconds (60)\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return { settings, outDir, baselineWasm, extra };
}

/** Newest source under assembly/ newer than the module → the bench would measure stale code. */
function staleness(): string | null {
  const wasmTime = statSync(PRODUCT_WASM).mtimeMs;
  let newest = { path: "", t: 0 };
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        const t = statSync(p).mtimeMs;
        if (t > newest.t) newest = { path: p, t };
      }
    }
  };
  walk(join(ROOT, "assembly"));
  return newest.t > wasmTime ? `${relative(ROOT, newest.path)} is newer than build/ai-failover.wasm: run \`npm run build\` to measure the current code` : null;
}

async function main(): Promise<number> {
  const { settings: s, outDir, baselineWasm, extra } = parseArgs(process.argv.slice(2));
  if (extra.run !== "bench") {
    const stale = staleness();
    if (stale) progress(`warning: ${stale}`);
    return extra.run === "fuzz" ? runFuzz(extra.cases, extra.seed, progress) : runSoak({ streams: extra.streams, seconds: extra.seconds }, progress);
  }
  const began = performance.now();
  const startedAt = new Date().toISOString();
  const loadAvgStart = os.loadavg();
  const warnings: string[] = [];
  try {
    statSync(PRODUCT_WASM);
  } catch {
    progress("build/ai-failover.wasm is missing: run `npm run build` first");
    return 2;
  }
  const wasmStat = statSync(PRODUCT_WASM);
  const stale = staleness();
  if (stale) warnings.push(stale);
  if (!(globalThis as { gc?: unknown }).gc) warnings.push("run without --expose-gc: Node heap figures include garbage");
  if (loadAvgStart[0]! > os.cpus().length) warnings.push(`load average ${loadAvgStart[0]!.toFixed(2)} exceeds ${os.cpus().length} CPUs at start: absolute numbers are noisy; compare ratios`);

  const tmp = mkdtempSync(join(os.tmpdir(), "ai-failover-bench-"));
  let mocks: Mocks | undefined;
  const gateways = new Map<Exclude<TargetId, "direct">, GatewayProcess>();
  const watchdog = setTimeout(() => {
    progress(`aborted: the run exceeded ${s.deadlineMs / 1000} s`);
    for (const g of gateways.values()) void g.close(1000);
    rmSync(tmp, { recursive: true, force: true });
    process.exit(3);
  }, s.deadlineMs);
  watchdog.unref();
  try {
    progress(`${s.mode} run; building the pass-through filter`);
    const passthrough = await buildPassthrough();
    progress(passthrough.cached ? `pass-through filter reused: ${relative(ROOT, passthrough.path)}` : `pass-through filter built: ${relative(ROOT, passthrough.path)}`);
    // One snapshot of the product module for the whole run (others may rebuild build/ in the meantime).
    let product = readFileSync(PRODUCT_WASM);
    for (let tries = 0; !WebAssembly.validate(product) && tries < 5; tries++) {
      progress("build/ai-failover.wasm is not a valid module (being rebuilt?): retrying in 2 s");
      await new Promise((r) => setTimeout(r, 2000));
      product = readFileSync(PRODUCT_WASM);
    }
    if (!WebAssembly.validate(product)) throw new Error("build/ai-failover.wasm is not a valid module: run `npm run build`");
    const productCopy = join(tmp, "ai-failover.wasm");
    writeFileSync(productCopy, product);
    mocks = await startMocks();
    const ports = { east: mocks.east.port, west: mocks.west.port };

    // 1. Filter cost inside the host (nothing else of ours running yet).
    progress(`host: ${s.hostRequests} requests and ${s.hostRequests} SSE chunks per filter`);
    const captured = await captureExchanges(mocks);
    const host = await runHostBench({
      bootstrap: benchBootstrap("ai-failover", productCopy, ports), baseDir: ROOT,
      modules: [
        { name: "pass-through", wasm: passthrough.bytes }, { name: "ai-failover", wasm: product },
        ...(baselineWasm !== null ? [{ name: "baseline-wasm", wasm: readFileSync(baselineWasm) }] : []),
      ],
      captured, n: s.hostRequests, block: s.hostBlock, confirmLeaks: s.confirmLeaks, profileRounds: s.profileRounds,
    });
    for (const f of host.filters) {
      if (f.localReplies > 0 || f.routed < f.requests) warnings.push(`host bench: ${f.filter} answered ${f.localReplies} requests locally / routed ${f.routed} of ${f.requests}: its figures are not a normal exchange`);
      if (f.growthPerRequest > 0 && (f.confirmGrowthPerRequest ?? 1) > 0) warnings.push(`${f.filter}: worker VM memory grew ${f.growthPerRequest.toFixed(1)} bytes/request over ${f.requests} requests (second window: ${f.confirmGrowthPerRequest?.toFixed(1) ?? "not run"})`);
      if (f.growthPerChunk > 0 && (f.confirmGrowthPerChunk ?? 1) > 0) warnings.push(`${f.filter}: worker VM memory grew ${f.growthPerChunk.toFixed(1)} bytes/SSE chunk over ${f.chunks} chunks (second window: ${f.confirmGrowthPerChunk?.toFixed(1) ?? "not run"})`);
    }

    // 2. HTTP: gateways in their own processes, all targets measured in the same run.
    progress("starting the gateways");
    const pt = new GatewayProcess("pass-through");
    gateways.set("passthrough", pt);
    const af = new GatewayProcess("ai-failover");
    gateways.set("ai-failover", af);
    await pt.start(benchBootstrap("passthrough", passthrough.path, ports));
    await af.start(benchBootstrap("ai-failover", productCopy, ports));
    const targets: Target[] = [
      { id: "direct", label: "direct", port: mocks.east.port },
      { id: "passthrough", label: "pass-through", port: pt.port },
      { id: "ai-failover", label: "ai-failover", port: af.port },
    ];
    const memStart: Record<string, Awaited<ReturnType<GatewayProcess["stats"]>>> = { passthrough: await pt.stats(), "ai-failover": await af.stats() };

    progress("warm-up");
    const warm: Workload[] = [
      { ...WORKLOADS[1]!, concurrency: 8 },
      { ...WORKLOADS.find((w) => w.stream)!, concurrency: 4 },
    ];
    for (const w of warm) {
      configureMocks(mocks, w);
      for (const t of targets) await runSlice(t, w, w.stream ? s.warmupMs / 2 : s.warmupMs, s.maxRequestsPerSlice, mocks);
    }

    const workloads: WorkloadResult[] = [];
    for (const w of WORKLOADS) {
      progress(`${w.id}: ${s.rounds} × ${s.sliceMs} ms per target`);
      configureMocks(mocks, w);
      const slices = new Map<TargetId, SliceResult[]>(targets.map((t) => [t.id, []]));
      for (let round = 0; round < s.rounds; round++) {
        for (let k = 0; k < targets.length; k++) {
          const t = targets[(k + round) % targets.length]!;
          slices.get(t.id)!.push(await runSlice(t, w, s.sliceMs, s.maxRequestsPerSlice, mocks));
        }
      }
      const agg = targets.map((t) => aggregate(w, t.id, slices.get(t.id)!));
      const direct = agg[0]!;
      const base = agg[1]!;
      workloads.push({
        id: w.id, title: w.title, concurrency: w.concurrency, stream: w.stream, upstreamLatencyMs: w.latencyMs,
        targets: agg.map((a) => ({ ...a, vsDirect: compare(a, direct), vsPassthrough: compare(a, base) })),
      });
      for (const a of agg) {
        if (a.errors > 0) warnings.push(`${w.id} ${a.target}: ${a.errors} failed requests (${JSON.stringify(a.failures)})`);
        if (a.unmatchedStreams) warnings.push(`${w.id} ${a.target}: ${a.unmatchedStreams} streams whose frames did not match the provider's`);
      }
    }

    const gatewayMemory: GatewayMemory[] = [];
    for (const [id, g] of gateways) gatewayMemory.push({ target: id, start: memStart[id]!, end: await g.stats() });
    for (const g of gateways.values()) await g.close();
    gateways.clear();

    // Large bodies: worker VM memory with concurrent large bodies held for failover (own gateway and mocks).
    const heldBodies = await runHeldBodiesBench(productCopy, s.heldBodies, progress);
    if (heldBodies.afterSecond.some((b, i) => b > (heldBodies.afterFirst[i] ?? 0)))
      warnings.push(`large bodies: worker VM memory grew in the second round (${heldBodies.afterFirst.join(" + ")} → ${heldBodies.afterSecond.join(" + ")} bytes)`);
    if (heldBodies.firstFailure) warnings.push(`large bodies: not every request succeeded (${JSON.stringify(heldBodies.roundStatuses)}, failovers ${JSON.stringify(heldBodies.failoverStatuses)}): ${heldBodies.firstFailure.slice(0, 200)}`);

    // 3. Cluster-wide limits: off / per request / leased, for both engines (needs redis-server).
    progress(`cluster limits: ${s.clusterRequests} requests per mode`);
    const clusterLimits = await runClusterLimitsBench({ requests: s.clusterRequests, concurrency: 4, warmup: s.clusterWarmup, progress });
    if (clusterLimits.skipped) progress(`cluster limits skipped: ${clusterLimits.skipped}`);

    const report: BenchReport = {
      mode: s.mode,
      startedAt,
      durationS: (performance.now() - began) / 1000,
      machine: { node: process.version, cpus: os.cpus().length, loadAvgStart, loadAvgEnd: os.loadavg() },
      wasm: { path: relative(ROOT, PRODUCT_WASM), bytes: product.length, builtAt: wasmStat.mtime.toISOString() },
      settings: { sliceMs: s.sliceMs, rounds: s.rounds, warmupMs: s.warmupMs, hostRequests: s.hostRequests },
      workloads,
      host,
      gateways: gatewayMemory,
      clusterLimits,
      heldBodies,
      warnings,
    };
    const md = renderMarkdown(report);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "bench-report.md"), md + "\n");
    writeFileSync(join(outDir, "bench-report.json"), JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(md + "\n");
    progress(`done in ${report.durationS.toFixed(0)} s; wrote ${relative(process.cwd(), join(outDir, "bench-report.md"))} and bench-report.json`);
    return 0;
  } finally {
    clearTimeout(watchdog);
    await Promise.allSettled([...gateways.values()].map((g) => g.close()));
    rmSync(tmp, { recursive: true, force: true });
    const closing = mocks?.close().catch((e) => progress(`closing the mock providers: ${(e as Error).message}`));
    await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    progress(`failed: ${(e as Error)?.stack ?? e}`);
    process.exit(1);
  },
);
