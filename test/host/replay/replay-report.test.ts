// The replay report page (harness/replay/html.ts) on synthetic runs, without a browser: every chart
// has marks drawn from the data, an empty run leaves the data charts empty and emptyCharts says so,
// the page needs nothing from outside; the filter's log lines become cooldown/health events; the
// CLI's errors for a wrong scenario name and a bad --target.
// The same page rendered by a real browser: replay-report-render.test.ts.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { chartMarks, emptyCharts, faultSpans, providerEvents, renderReportHtml } from "../../../harness/replay/html.ts";
import { fakeRun } from "../../support/replay-fake.ts";
import { ROOT } from "../../support/stack.ts";

const CHARTS = [
  "timeline",
  "provider:ai-failover:aoai-east-ptu", "provider:ai-failover:aoai-west-payg",
  "clients:ai-failover",
  "tokens:ai-failover:aoai-east-ptu", "tokens:ai-failover:aoai-west-payg",
];

describe("replay report page (html.ts)", () => {
  it("draws every chart from the run's data: marks per chart, counted in the markup", () => {
    const html = renderReportHtml([{ res: fakeRun() }]);
    const charts = chartMarks(html);
    expect(charts.map((c) => c.chart)).toEqual(CHARTS);
    for (const c of charts) {
      expect(c.elements, c.chart).toBeGreaterThan(0);
      expect(c.elements, c.chart).toBe(c.marks);
    }
    expect(emptyCharts(html)).toEqual([]);
    const by = Object.fromEntries(charts.map((c) => [c.chart, c.elements]));
    // Phase + outage span + 503 fault span.
    expect(by.timeline).toBe(3);
    // Tokens: PTU admitted from 0 s (window 0–6 s) and again from 6 s with the 503s not admitted.
    expect(by["tokens:ai-failover:aoai-east-ptu"]).toBe(2);
    expect(html).toContain("PASS 4/4 expectations met");
    expect(html).toContain("primary refused, then 503s, then recovered; spillover healthy throughout");
    // Health band: unhealthy from 4.2 s to 6.6 s.
    expect(html).toMatch(/data-kind="unhealthy"[^>]*><title>unhealthy 4\.20s–6\.60s/);
  });

  it("an empty run: the data charts have 0 marks and emptyCharts names each of them", () => {
    const html = renderReportHtml([{ res: fakeRun({ empty: true }) }]);
    const charts = chartMarks(html);
    expect(charts.map((c) => c.chart)).toEqual(CHARTS);
    expect(Object.fromEntries(charts.map((c) => [c.chart, c.elements]))).toEqual({
      // The scenario's phases and faults are not run data: as scheduled.
      timeline: 3,
      "provider:ai-failover:aoai-east-ptu": 0,
      "provider:ai-failover:aoai-west-payg": 0,
      "clients:ai-failover": 0,
      "tokens:ai-failover:aoai-east-ptu": 0,
      "tokens:ai-failover:aoai-west-payg": 0,
    });
    expect(emptyCharts(html)).toEqual(CHARTS.slice(1).map((c) => `chart ${c}: 0 marks in the markup (generator drew 0)`));
    expect(emptyCharts("<html><body>no svg</body></html>")).toEqual(["no charts in the page"]);
    // A browser's count wins over the markup's: drawn 0 means empty even with elements present.
    expect(emptyCharts(`<svg data-chart="x" data-marks="1" data-drawn="0"><rect class="mark"/></svg>`)).toEqual(["chart x: 0 marks drawn by the browser (generator drew 1)"]);
  });

  it("--target both: the baseline's charts beside ai-failover's, each with its own verdict", () => {
    const bad = fakeRun({ target: "baseline" });
    for (const o of bad.outcomes.slice(12, 36)) o.status = 503;
    const html = renderReportHtml([{ res: fakeRun() }, { res: bad }]);
    expect(chartMarks(html).map((c) => c.chart)).toEqual([
      "timeline",
      "provider:ai-failover:aoai-east-ptu", "provider:baseline:aoai-east-ptu",
      "provider:ai-failover:aoai-west-payg", "provider:baseline:aoai-west-payg",
      "clients:ai-failover", "clients:baseline",
      "tokens:ai-failover:aoai-east-ptu", "tokens:baseline:aoai-east-ptu",
      "tokens:ai-failover:aoai-west-payg", "tokens:baseline:aoai-west-payg",
    ]);
    expect(html).toContain(`data-verdict="ai-failover">PASS 4/4 expectations met`);
    expect(html).toContain(`data-verdict="baseline">FAIL 3/4 met — clients: 24 of 52 not 2xx (24 5xx)`);
    expect(html).toContain("(not tracked by the baseline)");
  });

  it("is self-contained: no external script, style, image, font or link", () => {
    const html = renderReportHtml([{ res: fakeRun() }, { res: fakeRun({ target: "baseline" }) }]);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/\s(?:src|href)=/i);
    expect(html).not.toMatch(/@import|url\(/i);
    // The only URL is the SVG namespace.
    expect([...html.matchAll(/https?:\/\/[^\s"')<]+/g)].map((m) => m[0]).filter((u) => u !== "http://www.w3.org/2000/svg")).toEqual([]);
  });

  it("reads cooldowns, ejections, failovers and health flips of one provider from the filter's log lines", () => {
    const ev = providerEvents(fakeRun(), "aoai-east-ptu");
    expect(ev.map((e) => [e.t, e.kind, e.forMs])).toEqual([
      [3010, "unavailable", 1000],
      [3010, "failover", undefined],
      [4200, "unhealthy", undefined],
      [6600, "healthy", undefined],
      [6700, "failover", undefined],
    ]);
    expect(providerEvents(fakeRun(), "aoai-west-payg")).toEqual([]);
  });

  it("turns a provider's timeline entries into spans (an outage until endOutage, a fault until clearFaults, a counted fault as a point)", () => {
    const sc = fakeRun().scenario;
    expect(faultSpans(sc.timeline.filter((e) => e.provider === "aoai-east-ptu"), 13_000).map((s) => [s.kind, s.start, s.end, s.label])).toEqual([
      ["outage", 3000, 6000, "outage (refused)"],
      ["fault", 6000, 9000, "fault 503"],
    ]);
    expect(
      faultSpans([{ atMs: 2000, provider: "p", action: "setFault", fault: { type: "rateLimit", retryAfterMs: 5000, count: 1 } }], 11_000).map((s) => [s.start, s.end, s.label]),
    ).toEqual([[2000, 2000, "fault 429 retry-after 5s ×1"]]);
  });
});

describe("replay CLI errors", () => {
  const cli = async (...args: string[]) => {
    try {
      const r = await promisify(execFile)(process.execPath, ["--import", "tsx", "harness/replay/cli.ts", ...args], { cwd: ROOT });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };

  it("a wrong scenario name lists the valid ones; a bad --target names the bad value; --report needs a file", async () => {
    const [name, target, report] = await Promise.all([
      cli("ptu-pyag", "--target", "both"),
      cli("outage", "--target", "ours"),
      cli("outage", "--report"),
    ]);
    expect(name.code).toBe(2);
    expect(name.err.trim()).toBe(`unknown scenario "ptu-pyag": no such file, and not one of harness/replay/scenarios: key-revoked, outage, ptu-payg, retry-after`);
    expect(target.code).toBe(2);
    expect(target.err.trim()).toBe(`--target: unknown target "ours" (expected one of: ai-failover, baseline, both)`);
    expect(report.code).toBe(2);
    expect(report.err).toContain("--report: expected a file name");
  }, 30_000);
});
