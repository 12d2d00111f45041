// Smoke test of `npm run bench`: the --quick mode completes and reports every target and workload
// with finite numbers. No timing thresholds: speed lives in the bench's ratios, not in tests.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORKLOADS } from "../../harness/bench/load.ts";
import type { BenchReport } from "../../harness/bench/report.ts";
import { REDIS } from "../support/redis.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TARGETS = ["direct", "passthrough", "ai-failover"];

describe("npm run bench -- --quick", () => {
  const out = mkdtempSync(join(os.tmpdir(), "bench-test-"));
  let run: { code: number | null; stdout: string; stderr: string };
  let report: BenchReport;
  let markdown: string;

  beforeAll(async () => {
    run = await new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--expose-gc", "--import", "tsx", "harness/bench/main.ts", "--quick", "--out-dir", out],
        { cwd: ROOT, timeout: 170_000, maxBuffer: 16 * 1024 * 1024, killSignal: "SIGKILL" },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    if (run.code === 0) {
      report = JSON.parse(readFileSync(join(out, "bench-report.json"), "utf8"));
      markdown = readFileSync(join(out, "bench-report.md"), "utf8");
    }
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("completes and prints the Markdown report it wrote", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(markdown.trim());
  });

  it("has a table for every workload with a row for every target", () => {
    expect(report.workloads.map((w) => w.id)).toEqual(WORKLOADS.map((w) => w.id));
    for (const w of report.workloads) {
      const section = markdown.split(`## ${w.id}:`)[1]!.split("\n## ")[0]!;
      const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| target"));
      expect(rows, w.id).toHaveLength(3);
      expect(rows.join("\n"), w.id).not.toContain("n/a");
      expect(w.targets.map((t) => t.target)).toEqual(TARGETS);
    }
  });

  it("reports finite numbers for every target, workload and baseline ratio", () => {
    const finite = (label: string, n: number | undefined) => expect(Number.isFinite(n), `${label} = ${n}`).toBe(true);
    for (const w of report.workloads) {
      for (const t of w.targets) {
        const at = `${w.id}/${t.target}`;
        expect(t.requests, at).toBeGreaterThan(0);
        finite(`${at} req/s`, t.reqPerS);
        finite(`${at} p50`, t.latencyMs.p50);
        finite(`${at} p99`, t.latencyMs.p99);
        for (const [base, c] of [["direct", t.vsDirect], ["pass-through", t.vsPassthrough]] as const) {
          finite(`${at} req/s ÷ ${base}`, c.reqPerSRatio);
          finite(`${at} p50 vs ${base}`, c.addedP50Ms);
          finite(`${at} p99 vs ${base}`, c.addedP99Ms);
          if (w.stream) {
            finite(`${at} TTFB p50 vs ${base}`, c.addedTtfbP50Ms);
            finite(`${at} chunk p50 vs ${base}`, c.addedChunkP50Ms);
            finite(`${at} chunk p99 vs ${base}`, c.addedChunkP99Ms);
          }
        }
        if (w.stream) {
          finite(`${at} TTFB p50`, t.ttfbMs?.p50);
          finite(`${at} chunk p50`, t.chunkMs?.p50);
        }
      }
    }
  });

  it("reports the filter cost and memory inside the host for both filters", () => {
    expect(report.host.filters.map((f) => f.filter)).toEqual(["pass-through", "ai-failover"]);
    for (const f of report.host.filters) {
      for (const k of ["usPerRequest", "usPerChunk", "growthPerRequest", "growthPerChunk", "hostCallsPerRequest", "hostCallsPerChunk"] as const) {
        expect(Number.isFinite(f[k]), `${f.filter} ${k} = ${f[k]}`).toBe(true);
      }
      expect(f.memoryAfterChunks.length).toBe(2);
      expect(f.localReplies, f.filter).toBe(0);
    }
    expect(markdown).toContain("## Filter cost inside the host");
    expect(markdown).toContain("## Memory");
  });

  it("separates time inside the module from time in host imports, per request and per chunk, with the targets", () => {
    for (const f of report.host.filters) {
      for (const [unit, c] of [["request", f.cost.request], ["chunk", f.cost.chunk]] as const) {
        for (const k of ["moduleUs", "moduleUsMin", "hostImportUs", "harnessUs", "profiledWallUs", "hostCalls"] as const) {
          expect(Number.isFinite(c[k]), `${f.filter} ${unit} ${k} = ${c[k]}`).toBe(true);
        }
        expect(c.moduleUsByRound.length).toBe(f.cost.rounds);
      }
      // Deterministic: the profiled hosts see the same host calls the traced one counted.
      expect(f.cost.request.hostCalls).toBeCloseTo(f.hostCallsPerRequest, 6);
      expect(f.cost.request.hostByName.reduce((n, h) => n + h.calls, 0)).toBeCloseTo(f.cost.request.hostCalls, 6);
      expect(f.cost.request.callbacks.map((c) => c.name)).toEqual(expect.arrayContaining(["proxy_on_request_headers", "proxy_on_response_body", "proxy_on_log"]));
    }
    const af = report.host.filters.find((f) => f.filter === "ai-failover")!;
    expect(af.cost.request.hostCalls).toBeGreaterThan(0);
    expect(af.cost.request.moduleUs).toBeGreaterThan(0);
    expect(markdown).toContain("### Inside the module vs in host imports");
    const targets = markdown.split("### Targets")[1]!.split("\n## ")[0]!;
    expect(targets.split("\n").filter((l) => l.startsWith("| ai-failover"))).toHaveLength(3);
  });

  it("has the cluster-wide limits table (off / per request / leased for both engines), or says why it was skipped", () => {
    const section = markdown.split("## Cluster-wide limits: added latency per engine")[1];
    expect(section, "no cluster-limits section").toBeDefined();
    const cl = report.clusterLimits!;
    if (!REDIS.ok) {
      expect(cl.skipped).toBe(REDIS.reason);
      expect(section).toContain(`Skipped: ${REDIS.reason}`);
      return;
    }
    expect(cl.skipped).toBeUndefined();
    expect(cl.rows.map((r) => r.mode)).toEqual(["off", "RLS per request", "RLS lease 5000", "off (Higress build)", "redis per request", "redis lease 5000"]);
    for (const r of cl.rows) {
      for (const k of ["p50", "p99", "addedP50", "addedP99", "callsPerRequest"] as const) expect(Number.isFinite(r[k]), `${r.mode} ${k} = ${r[k]}`).toBe(true);
    }
    // Per request: about one engine call per request; leased: far fewer.
    for (const mode of ["RLS per request", "redis per request"]) expect(cl.rows.find((r) => r.mode === mode)!.callsPerRequest).toBeGreaterThanOrEqual(1);
    for (const mode of ["RLS lease 5000", "redis lease 5000"]) expect(cl.rows.find((r) => r.mode === mode)!.callsPerRequest).toBeLessThan(0.5);
    expect(section!.split("\n").filter((l) => /^\| (off|RLS|redis)/.test(l))).toHaveLength(6);
  });

  it("has the large-bodies memory table: bodies held at once, a second round reusing the memory, large failover answers", () => {
    const section = markdown.split("## Large bodies: worker VM memory")[1]?.split("\n## ")[0];
    expect(section, "no large-bodies section").toBeDefined();
    const h = report.heldBodies!;
    expect(h.roundStatuses).toEqual({ "200": 2 * h.concurrency });
    expect(h.failoverStatuses).toEqual({ "200": h.failovers });
    expect(h.failoverAnswerBytes).toBeGreaterThan(h.answerBytes * 0.9);
    // Each worker held its share of the bodies at once (2 workers, round robin)…
    for (const [i, p] of h.peak.entries()) expect(p - h.warm[i]!).toBeGreaterThanOrEqual((h.concurrency / 2) * h.bodyBytes * 0.9);
    // …and the second round reused that memory.
    for (const [i, b] of h.afterSecond.entries()) expect(b).toBeLessThanOrEqual(h.afterFirst[i]!);
    expect(section!.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| when"))).toHaveLength(6);
  });
});
