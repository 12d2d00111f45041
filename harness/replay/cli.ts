/**
 * npx tsx harness/replay/cli.ts <scenario.yaml | name> [--target ai-failover|baseline|both] [--json out.json]
 *
 * Runs a scenario (harness/replay/scenarios/<name>.yaml) against ai-failover, the APIM-style
 * baseline, or both one after the other, and prints the per-phase / per-provider tables, the
 * arrivals per time slice and, for both, the comparison. Exit status 1 when the scenario file is
 * invalid or a run fails to start.
 */
import { setMaxListeners } from "node:events";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { analyze, formatComparison, formatReport, formatSlices, type Report } from "./report.ts";
import { ROOT, runScenario, type TargetName } from "./runner.ts";
import { loadScenario, ScenarioError } from "./scenario.ts";

const USAGE = `usage: npx tsx harness/replay/cli.ts <scenario.yaml | name> [--target ai-failover|baseline|both] [--json out.json]
  scenarios: harness/replay/scenarios/*.yaml (ptu-payg, outage, retry-after, key-revoked)`;

async function main(args: string[]): Promise<number> {
  // The mocks wait on one abort signal per in-flight request: dozens under load are expected.
  setMaxListeners(200);
  let file: string | undefined;
  let target = "ai-failover";
  let json: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--target") target = args[++i] ?? "";
    else if (a.startsWith("--target=")) target = a.slice(9);
    else if (a === "--json") json = args[++i];
    else if (a === "-h" || a === "--help") return console.log(USAGE), 0;
    else if (!file) file = a;
    else return console.error(`unexpected argument ${a}\n${USAGE}`), 2;
  }
  if (!file || !["ai-failover", "baseline", "both"].includes(target)) return console.error(USAGE), 2;
  const path = existsSync(file) ? file : join(ROOT, "harness/replay/scenarios", file.endsWith(".yaml") ? file : `${file}.yaml`);
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
  for (const t of targets) {
    console.log(`running ${sc.name} against ${t} …`);
    const res = await runScenario(sc, t);
    const r = analyze(res);
    reports.push(r);
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
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
