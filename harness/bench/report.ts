/** The bench report: results per workload and target, ratios against the same run's baselines, Markdown. */
import type { HeldBodiesResult } from "./held-bodies.ts";
import type { FilterHostResult, HostBenchResult } from "./host-bench.ts";
import type { SliceResult, TargetId, Workload } from "./load.ts";
import { renderClusterLimits, type ClusterLimitsResult } from "./cluster-limits.ts";
import type { ChildStats } from "./stack.ts";
import { ratio, summarize } from "./stats.ts";

export interface TargetResult {
  target: TargetId;
  requests: number;
  errors: number;
  failures: Record<string, number>;
  /** Completed requests (streams) per second over all measured slices. */
  reqPerS: number;
  /** req/s of each round, to show the spread. */
  reqPerSByRound: number[];
  latencyMs: { p50: number; p99: number; mean: number };
  ttfbMs?: { p50: number; p99: number };
  chunkMs?: { p50: number; p99: number; n: number };
  unmatchedStreams?: number;
  vsDirect: Comparison;
  vsPassthrough: Comparison;
}

export interface Comparison {
  reqPerSRatio: number;
  addedP50Ms: number;
  addedP99Ms: number;
  addedTtfbP50Ms?: number;
  addedTtfbP99Ms?: number;
  addedChunkP50Ms?: number;
  addedChunkP99Ms?: number;
}

export interface WorkloadResult {
  id: string;
  title: string;
  concurrency: number;
  stream: boolean;
  upstreamLatencyMs: number;
  targets: TargetResult[];
}

export interface GatewayMemory {
  target: TargetId;
  start: ChildStats;
  end: ChildStats;
}

export interface BenchReport {
  mode: "full" | "quick";
  startedAt: string;
  durationS: number;
  machine: { node: string; cpus: number; loadAvgStart: number[]; loadAvgEnd: number[] };
  wasm: { path: string; bytes: number; builtAt: string };
  settings: { sliceMs: number; rounds: number; warmupMs: number; hostRequests: number };
  workloads: WorkloadResult[];
  host: HostBenchResult;
  gateways: GatewayMemory[];
  /** What cluster-wide limits add per request (cluster-limits.ts); absent in reports from before it. */
  clusterLimits?: ClusterLimitsResult;
  /** Worker VM memory under concurrent large bodies (held-bodies.ts); absent in reports from before it. */
  heldBodies?: HeldBodiesResult;
  warnings: string[];
}

export function aggregate(w: Workload, target: TargetId, slices: SliceResult[]): Omit<TargetResult, "vsDirect" | "vsPassthrough"> {
  const all = (k: "latency" | "ttfb" | "chunk") => slices.flatMap((s) => s[k]);
  const failures: Record<string, number> = {};
  for (const s of slices) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
  const completed = slices.reduce((a, s) => a + s.completed, 0);
  const elapsed = slices.reduce((a, s) => a + s.elapsedMs, 0);
  const lat = summarize(all("latency"));
  const out: Omit<TargetResult, "vsDirect" | "vsPassthrough"> = {
    target,
    requests: completed,
    errors: slices.reduce((a, s) => a + s.errors, 0),
    failures,
    reqPerS: (completed / elapsed) * 1000,
    reqPerSByRound: slices.map((s) => (s.completed / s.elapsedMs) * 1000),
    latencyMs: { p50: lat.p50, p99: lat.p99, mean: lat.mean },
  };
  if (w.stream) {
    const t = summarize(all("ttfb"));
    const c = summarize(all("chunk"));
    out.ttfbMs = { p50: t.p50, p99: t.p99 };
    out.chunkMs = { p50: c.p50, p99: c.p99, n: c.n };
    out.unmatchedStreams = slices.reduce((a, s) => a + s.unmatched, 0);
  }
  return out;
}

export function compare(t: Omit<TargetResult, "vsDirect" | "vsPassthrough">, base: Omit<TargetResult, "vsDirect" | "vsPassthrough">): Comparison {
  const c: Comparison = {
    reqPerSRatio: ratio(t.reqPerS, base.reqPerS),
    addedP50Ms: t.latencyMs.p50 - base.latencyMs.p50,
    addedP99Ms: t.latencyMs.p99 - base.latencyMs.p99,
  };
  if (t.ttfbMs && base.ttfbMs) {
    c.addedTtfbP50Ms = t.ttfbMs.p50 - base.ttfbMs.p50;
    c.addedTtfbP99Ms = t.ttfbMs.p99 - base.ttfbMs.p99;
  }
  if (t.chunkMs && base.chunkMs) {
    c.addedChunkP50Ms = t.chunkMs.p50 - base.chunkMs.p50;
    c.addedChunkP99Ms = t.chunkMs.p99 - base.chunkMs.p99;
  }
  return c;
}

// ---- Markdown ----------------------------------------------------------------------------------

const LABEL: Record<TargetId, string> = { direct: "direct → mock", passthrough: "gateway + pass-through", "ai-failover": "gateway + ai-failover" };

const f = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const signed = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? "n/a" : (n >= 0 ? "+" : "") + n.toFixed(digits));
const kib = (b: number) => (b / 1024).toFixed(0);
const mb = (b: number) => (b / 1e6).toFixed(1);

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function errorsCell(t: TargetResult): string {
  if (t.errors === 0) return "0";
  return `${t.errors} (${Object.entries(t.failures).map(([k, v]) => `${k === "0" ? "transport" : k}: ${v}`).join(", ")})`;
}

function workloadTable(w: WorkloadResult): string {
  if (!w.stream) {
    return table(
      ["target", "req/s", "p50 ms", "p99 ms", "req/s ÷ direct", "req/s ÷ pass-through", "p50 vs direct", "p99 vs direct", "p50 vs pass-through", "p99 vs pass-through", "errors"],
      w.targets.map((t) => [
        LABEL[t.target], f(t.reqPerS, 0), f(t.latencyMs.p50), f(t.latencyMs.p99), f(t.vsDirect.reqPerSRatio), f(t.vsPassthrough.reqPerSRatio),
        signed(t.vsDirect.addedP50Ms), signed(t.vsDirect.addedP99Ms), signed(t.vsPassthrough.addedP50Ms), signed(t.vsPassthrough.addedP99Ms), errorsCell(t),
      ]),
    );
  }
  return table(
    ["target", "streams/s", "TTFB p50 ms", "TTFB p99 ms", "chunk p50 ms", "chunk p99 ms", "streams/s ÷ direct", "TTFB p50 vs direct", "chunk p50 vs direct", "chunk p99 vs direct", "TTFB p50 vs pass-through", "chunk p50 vs pass-through", "chunk p99 vs pass-through", "errors"],
    w.targets.map((t) => [
      LABEL[t.target], f(t.reqPerS, 1), f(t.ttfbMs?.p50), f(t.ttfbMs?.p99), f(t.chunkMs?.p50, 3), f(t.chunkMs?.p99, 3), f(t.vsDirect.reqPerSRatio),
      signed(t.vsDirect.addedTtfbP50Ms), signed(t.vsDirect.addedChunkP50Ms, 3), signed(t.vsDirect.addedChunkP99Ms, 3),
      signed(t.vsPassthrough.addedTtfbP50Ms), signed(t.vsPassthrough.addedChunkP50Ms, 3), signed(t.vsPassthrough.addedChunkP99Ms, 3),
      errorsCell(t) + (t.unmatchedStreams ? `; ${t.unmatchedStreams} streams unmatched` : ""),
    ]),
  );
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  out.push(`# ai-failover bench (${r.mode}, ${r.startedAt})`, "");
  out.push(
    `Node ${r.machine.node}, ${r.machine.cpus} CPUs, load average ${r.machine.loadAvgStart.map((x) => x.toFixed(2)).join(" ")} at start, ` +
      `${r.machine.loadAvgEnd.map((x) => x.toFixed(2)).join(" ")} at end; ${r.durationS.toFixed(0)} s. ` +
      `Filter ${r.wasm.path} (${r.wasm.bytes} bytes, built ${r.wasm.builtAt}). ` +
      `Each workload: ${r.settings.rounds} round(s) × ${r.settings.sliceMs} ms per target, targets interleaved in rotating order.`,
    "",
    "Baselines of this run: **direct** (client → mock provider) and **pass-through** (the same gateway, 2 worker VMs, with a filter " +
      "that only continues). Latency columns \"vs X\" are milliseconds added over X; \"÷ X\" are throughput ratios. " +
      "The mock providers and the load client share the bench process; each gateway runs in its own process.",
    "",
  );
  if (r.warnings.length) out.push("**Warnings**", "", ...r.warnings.map((w) => `- ${w}`), "");
  for (const w of r.workloads) {
    out.push(`## ${w.id}: ${w.title}`, "", workloadTable(w), "");
  }
  const h = r.host;
  const pt = h.filters.find((x) => x.filter === "pass-through");
  out.push("## Filter cost inside the host (no sockets; wall time per callback)", "");
  out.push(
    `PluginHost.newStream driven directly, 2 worker VMs, ${h.filters[0]?.requests ?? 0} non-streaming exchanges and ${h.filters[0]?.chunks ?? 0} SSE chunks ` +
      "per filter (request as the gateway presents it; response and SSE frames captured from the mock), filters interleaved in blocks.",
    "",
  );
  out.push(table(
    ["filter", "µs / request", "µs / SSE chunk", "request ÷ pass-through", "chunk ÷ pass-through", "host calls / request", "host calls / chunk", "log lines / request (info+)"],
    h.filters.map((x) => [
      x.filter, f(x.usPerRequest, 1), f(x.usPerChunk, 2), f(ratio(x.usPerRequest, pt?.usPerRequest ?? NaN)), f(ratio(x.usPerChunk, pt?.usPerChunk ?? NaN)),
      f(x.hostCallsPerRequest, 1), f(x.hostCallsPerChunk, 2), f(x.logLinesPerRequest, 2),
    ]),
  ), "");
  out.push(
    "Host calls are the imported functions the filter called (env.*, WASI): a cost Envoy pays too, whatever its speed. " +
      "Wall time includes this host's JavaScript side of those calls, which is slower than Envoy's C++.",
    "",
  );
  const phases = Object.keys(h.filters[0]?.usPerPhase ?? {});
  out.push("µs per request by callback phase:", "");
  out.push(table(["filter", ...phases], h.filters.map((x) => [x.filter, ...phases.map((p) => f(x.usPerPhase[p], 1))])), "");
  if (h.filters.every((x) => x.cost)) out.push(...costSections(h));
  out.push("## Memory", "");
  out.push(table(
    ["filter", "worker VM memory after warm-up (KiB)", "after requests", "after SSE chunks", "growth / request (bytes)", "growth / chunk (bytes)"],
    h.filters.map((x) => [
      x.filter, x.memoryWarm.map(kib).join(" + "), x.memoryAfterRequests.map(kib).join(" + "), x.memoryAfterChunks.map(kib).join(" + "),
      f(x.growthPerRequest) + (x.confirmGrowthPerRequest !== undefined ? ` (second window: ${f(x.confirmGrowthPerRequest)})` : ""),
      f(x.growthPerChunk) + (x.confirmGrowthPerChunk !== undefined ? ` (second window: ${f(x.confirmGrowthPerChunk)})` : ""),
    ]),
  ), "");
  out.push(
    `Resolution: linear memory grows in 64 KiB pages, so ${f(65536 / Math.max(1, h.filters[0]?.requests ?? 1), 1)} bytes/request is the smallest growth visible. ` +
      `Node heap (both filters, host bench process): ${mb(h.heapBefore)} MB → ${mb(h.heapAfterRequests)} MB after the requests → ${mb(h.heapAfterChunks)} MB after the chunks ` +
      `(Δ ${signed((h.heapAfterChunks - h.heapBefore) / 1e6, 1)} MB).`,
    "",
  );
  out.push("Gateway processes, before the first and after the last HTTP workload:", "");
  out.push(table(
    ["target", "worker VM memory start (KiB)", "end (KiB)", "Node heap start → end (MB)", "RSS end (MB)", "log lines info+ (total)"],
    r.gateways.map((g) => [
      LABEL[g.target], g.start.workerMemory.map(kib).join(" + "), g.end.workerMemory.map(kib).join(" + "),
      `${mb(g.start.heapUsed)} → ${mb(g.end.heapUsed)}`, mb(g.end.rss), String(g.end.logLines.slice(2).reduce((a, b) => a + b, 0)),
    ]),
  ), "");
  if (r.heldBodies) out.push(...renderHeldBodies(r.heldBodies));
  if (r.clusterLimits) out.push("## Cluster-wide limits: added latency per engine", "", renderClusterLimits(r.clusterLimits), "");
  return out.join("\n");
}

/** "Large bodies": worker VM memory with concurrent large bodies held for failover, and large failover answers. */
function renderHeldBodies(h: HeldBodiesResult): string[] {
  const mib = (v: number[]) => v.map((b) => (b / 1048576).toFixed(1)).join(" + ");
  const statuses = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${v} × ${k}`).join(", ");
  const c = `${h.concurrency} concurrent ${(h.bodyBytes / 1e6).toFixed(1)} MB requests`;
  const out = ["## Large bodies: worker VM memory", ""];
  out.push(table(["when", "worker VM memory (MiB, per worker)"], [
    ["after warm-up", mib(h.warm)],
    [`peak, ${c} held ${h.slowMs} ms by a slow provider (bodies kept for failover)`, mib(h.peak)],
    ["after they finished", mib(h.afterFirst)],
    [`peak, second round of ${h.concurrency}`, mib(h.peakSecond)],
    ["after the second round", mib(h.afterSecond)],
    [`after ${h.failovers} concurrent failovers to ${(h.answerBytes / 1e6).toFixed(1)} MB answers`, mib(h.afterFailovers)],
  ]), "");
  const grew = h.afterSecond.some((b, i) => b > (h.afterFirst[i] ?? 0));
  out.push(
    `Requests: ${statuses(h.roundStatuses)} (two rounds); failovers: ${statuses(h.failoverStatuses)}, ` +
      `${(h.failoverAnswerBytes / 1e6).toFixed(2)} MB answer each on average. ` +
      `${grew ? "**The second round grew the memory**: freed blocks were not reused." : "The second round did not grow the memory: the first round's blocks were reused."} ` +
      `A wasm memory never shrinks, so the peak stays; retry.maxHeldBodyBytes (default 256 MiB per worker) bounds what kept bodies add to it. ` +
      `Filter warnings: ${h.warnings}${h.firstFailure ? `; first failure: ${h.firstFailure.slice(0, 200)}` : ""}. ${h.durationS.toFixed(1)} s.`,
    "",
  );
  return out;
}

// ---- the filter's own cost: inside the module vs in host imports ------------------------------

/** Issue 13's targets: what Envoy would pay for the filter itself (informational, never a failure). */
export const COST_TARGETS = { moduleUsPerRequestAbovePassthrough: 20, moduleUsPerChunkAbovePassthrough: 1, hostCallsPerRequest: 20 };

export interface TargetCheck {
  target: string;
  limit: string;
  filter: number;
  passthrough: number;
  above: number;
  /** The figure the verdict compares with the limit. */
  checked: number;
  max: number;
  met: boolean;
}

export function costTargets(filter: FilterHostResult, pt: FilterHostResult): TargetCheck[] {
  const t = COST_TARGETS;
  const row = (target: string, limit: string, a: number, b: number, checked: number, max: number): TargetCheck =>
    ({ target, limit, filter: a, passthrough: b, above: a - b, checked, max, met: checked <= max });
  const rq = filter.cost.request.moduleUs;
  const prq = pt.cost.request.moduleUs;
  const ch = filter.cost.chunk.moduleUs;
  const pch = pt.cost.chunk.moduleUs;
  const hc = filter.cost.request.hostCalls;
  return [
    row("inside the module, µs / non-streaming request", `≤ ${t.moduleUsPerRequestAbovePassthrough} above pass-through`, rq, prq, rq - prq, t.moduleUsPerRequestAbovePassthrough),
    row("inside the module, µs / SSE chunk", `≤ ${t.moduleUsPerChunkAbovePassthrough} above pass-through`, ch, pch, ch - pch, t.moduleUsPerChunkAbovePassthrough),
    row("host calls / request", `≤ ${t.hostCallsPerRequest}`, hc, pt.cost.request.hostCalls, hc, t.hostCallsPerRequest),
  ];
}

function costSections(h: HostBenchResult): string[] {
  const out: string[] = [];
  const pt = h.filters.find((x) => x.filter === "pass-through");
  const c0 = h.filters[0]!.cost;
  out.push("### Inside the module vs in host imports", "");
  out.push(
    `Separate hosts with PluginOptions.profile: every call into the VM and every host import is timed (performance.now()); ` +
      `a callback's time inside the module is its wasm time without the host imports it called (malloc called by an import counts as module time). ` +
      `Median of ${c0.rounds} rounds of ${c0.request.units / c0.rounds} requests and ${c0.chunk.units / c0.rounds} SSE chunks per filter, filters interleaved; ` +
      `measured clock overhead subtracted per frame (${h.filters.map((x) => `${x.filter}: ${f(x.cost.calibration.selfUs, 3)} + ${f(x.cost.calibration.parentUs, 3)} µs`).join(", ")}). ` +
      "\"total\" is the unprofiled wall time above, \"profiled wall\" the same on the profiled hosts (timing included); \"harness\" is this host's own work around the VM calls (Envoy's filter manager here, C++ in Envoy). " +
      "What Envoy pays for the filter is the time inside the module plus its own (C++) cost per host call; the host-import column is this JavaScript host's cost of the same calls.",
    "",
  );
  const rows: string[][] = [];
  for (const x of h.filters) {
    for (const [unit, c, total] of [["request", x.cost.request, x.usPerRequest], ["SSE chunk", x.cost.chunk, x.usPerChunk]] as const) {
      rows.push([x.filter, unit, f(total, 2), f(c.profiledWallUs, 2), f(c.moduleUs, 2), f(c.hostImportUs, 2), f(c.harnessUs, 2), f(c.hostCalls, 2), c.moduleUsByRound.map((v) => f(v, 1)).join(" ")]);
    }
  }
  if (pt) {
    for (const x of h.filters.filter((y) => y !== pt)) {
      rows.push([`${x.filter} − pass-through`, "request", signed(x.usPerRequest - pt.usPerRequest), signed(x.cost.request.profiledWallUs - pt.cost.request.profiledWallUs), signed(x.cost.request.moduleUs - pt.cost.request.moduleUs),
        signed(x.cost.request.hostImportUs - pt.cost.request.hostImportUs), signed(x.cost.request.harnessUs - pt.cost.request.harnessUs),
        signed(x.cost.request.hostCalls - pt.cost.request.hostCalls, 2), ""]);
      rows.push([`${x.filter} − pass-through`, "SSE chunk", signed(x.usPerChunk - pt.usPerChunk), signed(x.cost.chunk.profiledWallUs - pt.cost.chunk.profiledWallUs), signed(x.cost.chunk.moduleUs - pt.cost.chunk.moduleUs, 2),
        signed(x.cost.chunk.hostImportUs - pt.cost.chunk.hostImportUs), signed(x.cost.chunk.harnessUs - pt.cost.chunk.harnessUs),
        signed(x.cost.chunk.hostCalls - pt.cost.chunk.hostCalls, 2), ""]);
    }
  }
  out.push(table(["filter", "per", "total µs", "profiled wall µs", "inside the module µs", "in host imports µs", "harness µs", "host calls", "inside the module µs by round"], rows), "");

  // Per callback: inside-module µs per request.
  const names = [...new Set(h.filters.flatMap((x) => x.cost.request.callbacks.map((c) => c.name)))];
  const cb = (x: FilterHostResult, n: string) => x.cost.request.callbacks.find((c) => c.name === n);
  const order = names.sort((a, b) => (cb(h.filters[h.filters.length - 1]!, b)?.moduleUs ?? 0) - (cb(h.filters[h.filters.length - 1]!, a)?.moduleUs ?? 0));
  out.push("Per request by callback (µs inside the module; for each filter other than pass-through also µs in host imports and host calls made from it):", "");
  const others = h.filters.filter((x) => x !== pt);
  const importList = (x: FilterHostResult, n: string) =>
    (cb(x, n)?.imports ?? []).map((i) => `${i.name.replace(/^env\.proxy_/, "")}${i.calls === 1 ? "" : ` ×${+i.calls.toFixed(2)}`}`).join(", ");
  out.push(table(
    ["callback", ...h.filters.map((x) => `${x.filter} module µs`), ...others.flatMap((x) => [`${x.filter} host-import µs`, `${x.filter} host calls`, `${x.filter} host calls by name`])],
    order.map((n) => [n, ...h.filters.map((x) => f(cb(x, n)?.moduleUs, 2)), ...others.flatMap((x) => [f(cb(x, n)?.hostUs, 2), f(cb(x, n)?.hostCalls, 2), importList(x, n)])]),
  ), "");

  // Host calls by name.
  for (const x of others) {
    const imports = [...new Set([...x.cost.request.hostByName, ...x.cost.chunk.hostByName].map((i) => i.name))];
    const get = (list: Array<{ name: string; calls: number; us: number }>, n: string) => list.find((i) => i.name === n);
    out.push(`Host calls of ${x.filter} by name (µs: this JavaScript host's handler, not Envoy's):`, "");
    out.push(table(
      ["import", "calls / request", "µs / request", "calls / SSE chunk", "µs / SSE chunk"],
      imports.map((n) => [n, f(get(x.cost.request.hostByName, n)?.calls ?? 0, 2), f(get(x.cost.request.hostByName, n)?.us ?? 0, 2),
        f(get(x.cost.chunk.hostByName, n)?.calls ?? 0, 2), f(get(x.cost.chunk.hostByName, n)?.us ?? 0, 3)]),
    ), "");
    const malloc = x.cost.request.moduleByName.filter((m) => !x.cost.request.callbacks.some((c) => c.name === m.name));
    if (malloc.length) out.push(`Module frames called by the host inside imports, per request: ${malloc.map((m) => `${m.name} ×${f(m.calls, 1)} (${f(m.us, 2)} µs)`).join(", ")}.`, "");
  }

  if (pt) {
    out.push("### Targets (issue 13; informational)", "");
    out.push(table(
      ["filter", "target", "limit", "filter", "pass-through", "above pass-through", "verdict"],
      others.flatMap((x) => costTargets(x, pt).map((t) => [x.filter, t.target, t.limit, f(t.filter, 2), f(t.passthrough, 2), signed(t.above, 2),
        t.met ? "met" : `not met (${f(t.checked / t.max, 1)}× the limit)`])),
    ), "");
  }
  return out;
}
