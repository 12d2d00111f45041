/**
 * npx tsx harness/replay/cli.ts <scenario.yaml | name> [--target ai-failover|baseline|both] [--json out.json] [--report out.html]
 *
 * Runs a scenario (harness/replay/scenarios/<name>.yaml) against ai-failover, the APIM-style
 * baseline, or both one after the other, and prints the per-phase / per-provider tables, the
 * arrivals per time slice and, for both, the comparison. `--report` also writes the report as a
 * self-contained HTML page with charts (html.ts). On a terminal a progress bar runs on stderr.
 * Exit status 2 for a bad command line (unknown scenario: the valid ones are listed), 1 when the
 * scenario file is invalid or a run fails to start.
 */
import { setMaxListeners } from "node:events";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { renderReportHtml } from "./html.ts";
import { analyze, formatComparison, formatReport, formatSlices, type Report } from "./report.ts";
import { ROOT, runScenario, type RunResult, type TargetName } from "./runner.ts";
import { loadDurationMs, loadScenario, ScenarioError, type Scenario } from "./scenario.ts";

const SCENARIO_DIR = join(ROOT, "harness/replay/scenarios");
const TARGETS = ["ai-failover", "baseline", "both"];

/** The scenario names in harness/replay/scenarios (file names without .yaml). */
function scenarioNames(): string[] {
  try {
    return readdirSync(SCENARIO_DIR).filter((f) => f.endsWith(".yaml")).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

const USAGE = `usage: npx tsx harness/replay/cli.ts <scenario.yaml | name> [--target ai-failover|baseline|both] [--json out.json] [--report out.html]
  scenarios: harness/replay/scenarios/*.yaml (${scenarioNames().join(", ")})
  --report: the report as a self-contained HTML page (charts per provider, client statuses, tokens per window)`;

/** A progress bar on stderr while a run goes (TTY only); returns the function that clears it. */
function progress(sc: Scenario, target: string): () => void {
  if (!process.stderr.isTTY) return () => {};
  const total = sc.warmupMs + loadDurationMs(sc);
  const start = Date.now();
  const draw = () => {
    const el = Date.now() - start;
    const frac = Math.min(1, el / total);
    const width = Math.max(10, Math.min(40, (process.stderr.columns || 80) - 50));
    const full = Math.round(frac * width);
    const what = el < sc.warmupMs ? "warm-up" : el < total ? "load" : "stragglers";
    process.stderr.write(`\r[${"#".repeat(full)}${".".repeat(width - full)}] ${String(Math.round(frac * 100)).padStart(3)}% ${target} ${what} ${(el / 1000).toFixed(1)}/${(total / 1000).toFixed(1)}s\x1b[K`);
  };
  draw();
  const timer = setInterval(draw, 200);
  return () => {
    clearInterval(timer);
    process.stderr.write("\r\x1b[K");
  };
}

async function main(args: string[]): Promise<number> {
  // The mocks wait on one abort signal per in-flight request: dozens under load are expected.
  setMaxListeners(200);
  let file: string | undefined;
  let target = "ai-failover";
  let json: string | undefined;
  let html: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--target") target = args[++i] ?? "";
    else if (a.startsWith("--target=")) target = a.slice(9);
    else if (a === "--json") json = args[++i];
    else if (a.startsWith("--json=")) json = a.slice(7);
    else if (a === "--report") html = args[++i];
    else if (a.startsWith("--report=")) html = a.slice(9);
    else if (a === "-h" || a === "--help") return console.log(USAGE), 0;
    else if (a.startsWith("-")) return console.error(`unknown option ${a}\n${USAGE}`), 2;
    else if (!file) file = a;
    else return console.error(`unexpected argument ${a}\n${USAGE}`), 2;
  }
  if (!file) return console.error(`no scenario given\n${USAGE}`), 2;
  if (!TARGETS.includes(target)) {
    return console.error(`--target: unknown target ${JSON.stringify(target)} (expected one of: ${TARGETS.join(", ")})`), 2;
  }
  if (json === "" || json === undefined && args.some((a) => a === "--json")) return console.error("--json: expected a file name"), 2;
  if (html === "" || html === undefined && args.some((a) => a === "--report")) return console.error("--report: expected a file name (e.g. build/replay-report.html)"), 2;
  let path = file;
  if (!existsSync(file)) {
    path = join(SCENARIO_DIR, file.endsWith(".yaml") ? file : `${file}.yaml`);
    if (file.includes("/") || !existsSync(path)) {
      return console.error(`unknown scenario ${JSON.stringify(file)}: no such file, and not one of harness/replay/scenarios: ${scenarioNames().join(", ")}`), 2;
    }
  }
  let sc;
  try {
    sc = loadScenario(path);
  } catch (e) {
    if (e instanceof ScenarioError) return console.error(e.message), 1;
    throw e;
  }
  const targets: TargetName[] = target === "both" ? ["ai-failover", "baseline"] : [target as TargetName];
  const reports: Report[] = [];
  const raw = [];
  const runs: Array<{ res: RunResult; report: Report }> = [];
  for (const t of targets) {
    console.log(`running ${sc.name} against ${t} …`);
    const done = progress(sc, t);
    let res: RunResult;
    try {
      res = await runScenario(sc, t);
    } finally {
      done();
    }
    const r = analyze(res);
    reports.push(r);
    runs.push({ res, report: r });
    raw.push({ report: r, outcomes: res.outcomes, actions: res.actions, phases: res.phases });
    console.log(formatReport(r));
    console.log(formatSlices(r, sc.sliceMs));
    if (r.failures.length) {
      console.log(`first client failures:\n  ${r.failures.slice(0, 5).map((f) => `t=${f.start}ms ${f.status} ${f.provider ?? ""} ${f.error ?? f.body ?? ""}`).join("\n  ")}`);
    }
    console.log("");
  }
  if (reports.length > 1) console.log(formatComparison(reports));
  if (json) writeFileSync(json, JSON.stringify(raw, null, 2));
  if (html) {
    mkdirSync(dirname(resolve(html)), { recursive: true });
    writeFileSync(html, renderReportHtml(runs, { generatedAt: new Date() }));
    console.log(`report: ${resolve(html)}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
