// The replay report page (`replay … --report out.html`) rendered by a real headless browser:
// Debian's `chromium` (or $CHROMIUM_BIN, or Playwright's Chromium when installed), driven with its
// own command line (--screenshot, --dump-dom). The outage scenario is replayed through the CLI with
// --target both; every chart must have marks the browser actually drew (the page's script counts
// the marks with a non-empty rendered box into data-drawn), and a chart may be empty only where
// the run's own numbers (--json) say there was nothing to draw. The screenshot is saved as
// build/replay-report.png and checked: its size, and the chart colours in its pixels.
// Without a browser the tests are reported as skipped, with the reason.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { chartMarks, emptyCharts, renderReportHtml } from "../../../harness/replay/html.ts";
import type { Report } from "../../../harness/replay/report.ts";
import { countColour, decodePng, distinctColours } from "../../support/png.ts";
import { fakeRun } from "../../support/replay-fake.ts";
import { ROOT } from "../../support/stack.ts";

const run = promisify(execFile);
const BUILD = join(ROOT, "build");
const WIDTH = 1400;
const HEIGHT = 2600;

/** A Chromium that answers --version, or why there is none. */
function findBrowser(): { path?: string; reason: string } {
  const pw = join(homedir(), ".cache/ms-playwright");
  const playwright = existsSync(pw)
    ? readdirSync(pw).filter((d) => d.startsWith("chromium")).map((d) => join(pw, d, "chrome-linux/chrome"))
    : [];
  const candidates = [process.env.CHROMIUM_BIN, "chromium", "chromium-browser", "google-chrome", ...playwright].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ["--version"], { encoding: "utf8", timeout: 20_000 });
    if (r.status === 0 && /chrom/i.test(r.stdout)) return { path: c, reason: r.stdout.trim() };
  }
  return { reason: `no headless browser: none of ${candidates.join(", ")} runs (.ci/run installs Debian's chromium with apt where it can)` };
}

const browser = findBrowser();
if (!browser.path) console.log(`replay-report-render: SKIPPED — ${browser.reason}`);
const skipNote = browser.path ? "" : ` [skipped: ${browser.reason}]`;

async function chromium(args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), "replay-report-chromium-"));
  try {
    const r = await run(
      browser.path!,
      ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", `--user-data-dir=${profile}`, ...args],
      { timeout: 90_000, maxBuffer: 64 << 20 },
    );
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

const ms = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)}s`;

describe("replay report rendered in a headless browser", () => {
  it.skipIf(!browser.path)(`outage --target both: every chart drawn, the screenshot shows them${skipNote}`, async () => {
    mkdirSync(BUILD, { recursive: true });
    const html = join(BUILD, "replay-report.html");
    const json = join(BUILD, "replay-report.json");
    const png = join(BUILD, "replay-report.png");
    for (const f of [html, json, png]) rmSync(f, { force: true });

    let t = performance.now();
    const out = await run(process.execPath, ["--import", "tsx", "harness/replay/cli.ts", "outage", "--target", "both", "--report", html, "--json", json], {
      cwd: ROOT,
      timeout: 150_000,
      maxBuffer: 16 << 20,
    });
    expect(out.stdout).toContain(`report: ${html}`);
    const replayTime = ms(t);

    t = performance.now();
    const dom = await chromium(["--dump-dom", `file://${html}`]);
    await chromium([`--screenshot=${png}`, `--window-size=${WIDTH},${HEIGHT}`, `file://${html}`]);
    console.log(`replay-report-render: ${browser.reason}; replay ${replayTime}, browser (dump-dom + screenshot) ${ms(t)}; screenshot ${png}`);

    // Charts a run's own numbers say are empty (e.g. the baseline never spills to PAYG: it passes
    // the 503s through): only those may be empty.
    const raw = JSON.parse(readFileSync(json, "utf8")) as Array<{ report: Report }>;
    const mayBeEmpty: string[] = [];
    for (const { report: r } of raw) {
      for (const p of r.providers) {
        if (p.chat === 0) mayBeEmpty.push(`provider:${r.target}:${p.name}`);
        if (p.windows.length === 0) mayBeEmpty.push(`tokens:${r.target}:${p.name}`);
      }
      if (r.phases.every((p) => p.requests === 0)) mayBeEmpty.push(`clients:${r.target}`);
    }
    expect(mayBeEmpty.filter((c) => c.includes(":ai-failover")), "ai-failover used both providers").toEqual([]);

    const charts = chartMarks(dom);
    expect(charts.map((c) => c.chart).sort()).toEqual(
      ["timeline", ...["ai-failover", "baseline"].flatMap((tg) => [`clients:${tg}`, ...["aoai-east-ptu", "aoai-west-payg"].flatMap((p) => [`provider:${tg}:${p}`, `tokens:${tg}:${p}`])])].sort(),
    );
    for (const c of charts) {
      // The browser ran the page's script and drew every mark the generator emitted.
      expect(c.drawn, `${c.chart}: data-drawn set by the browser`).toBeDefined();
      expect(c.drawn, `${c.chart}: marks drawn by the browser`).toBe(c.marks);
    }
    console.log(`replay-report-render: marks drawn per chart: ${charts.map((c) => `${c.chart}=${c.drawn}`).join(" ")}`);
    const empty = emptyCharts(dom);
    expect(empty).toEqual(charts.filter((c) => mayBeEmpty.includes(c.chart)).map((c) => `chart ${c.chart}: 0 marks drawn by the browser (generator drew 0)`));
    expect(/data-empty-charts="([^"]*)"/.exec(dom)?.[1]).toBe(charts.filter((c) => c.drawn === 0).map((c) => c.chart).join(" "));

    // The screenshot: a PNG of the window's size, many colours, and the charts' own colours.
    expect(statSync(png).size).toBeGreaterThan(50_000);
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).toEqual([WIDTH, HEIGHT]);
    expect(distinctColours(img)).toBeGreaterThan(50);
    const green = countColour(img, "#2e9d4f", 6); // 2xx bars (and the healthy band is paler)
    const red = countColour(img, "#d62828", 6); // 5xx bars of the baseline, 503s on the PTU
    console.log(`replay-report-render: screenshot ${img.width}×${img.height}, ${distinctColours(img)} colours, ${green} px of 2xx green, ${red} px of 5xx red`);
    expect(green).toBeGreaterThan(20_000);
    expect(red).toBeGreaterThan(5_000);
  }, 240_000);

  it.skipIf(!browser.path)(`an empty run: the browser draws no mark in the data charts and the check names each${skipNote}`, async () => {
    mkdirSync(BUILD, { recursive: true });
    const html = join(BUILD, "replay-report-empty.html");
    writeFileSync(html, renderReportHtml([{ res: fakeRun({ empty: true }) }]));
    const dom = await chromium(["--dump-dom", `file://${html}`]);
    const charts = chartMarks(dom);
    expect(charts.every((c) => c.drawn !== undefined)).toBe(true);
    const dataCharts = charts.filter((c) => c.chart !== "timeline").map((c) => c.chart);
    expect(dataCharts.length).toBe(5);
    expect(emptyCharts(dom)).toEqual(dataCharts.map((c) => `chart ${c}: 0 marks drawn by the browser (generator drew 0)`));
    expect(/data-empty-charts="([^"]*)"/.exec(dom)?.[1]).toBe(dataCharts.join(" "));
  }, 120_000);
});
