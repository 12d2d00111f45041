/**
 * `npm run bench -- --fuzz [--cases N] [--seed S]`: the standing fuzz properties of
 * harness/fuzz/ (the same code `npm test` runs with 500 cases per class) with N cases per
 * class (default 10,000), every case run and failures counted, then the linear-work checks.
 * Prints a table per part; exit status 1 if any case or check failed.
 */
import { bodiesLinear, fuzzBodies } from "../fuzz/bodies.ts";
import type { ClassResult } from "../fuzz/common.ts";
import { fuzzMultipart, multipartLinear } from "../fuzz/multipart.ts";
import { batchesLinear, fuzzBatches } from "../fuzz/batches.ts";
import { configsLinear, fuzzConfigs } from "../fuzz/configs.ts";
import { fuzzHeaders, headersLinear } from "../fuzz/headers.ts";
import { fuzzSse, sseLinear } from "../fuzz/sse.ts";
import { fuzzUpstream, upstreamLinear } from "../fuzz/upstream.ts";

type Runner = (n: number, mode: "count", seed?: number) => Promise<ClassResult>;
const CLASSES: Array<[string, Runner]> = [
  ["plugin configurations", fuzzConfigs],
  ["request bodies", fuzzBodies],
  ["multipart bodies", fuzzMultipart],
  ["batch files", fuzzBatches],
  ["request headers", fuzzHeaders],
  ["upstream SSE", fuzzSse],
  ["upstream headers + error bodies", fuzzUpstream],
];

const pad = (s: string, n: number) => s + " ".repeat(Math.max(0, n - s.length));

export async function runFuzz(cases: number, seed: number | undefined, progress: (m: string) => void): Promise<number> {
  const rows: ClassResult[] = [];
  for (const [name, run] of CLASSES) {
    progress(`fuzz: ${name}, ${cases} cases`);
    try {
      rows.push(await run(cases, "count", seed));
    } catch (e) {
      rows.push({ name, cases: 0, failures: 1, seconds: 0, firstFailure: `the run itself failed: ${(e as Error).stack ?? e}` });
    }
  }
  let out = `\n## Fuzz (${cases} cases per class${seed !== undefined ? `, seed ${seed}` : ""})\n\n| class | cases | failures | seconds |\n|---|---:|---:|---:|\n`;
  for (const r of rows) out += `| ${pad(r.name, 31)} | ${r.cases} | ${r.failures} | ${r.seconds.toFixed(1)} |\n`;
  for (const r of rows) if (r.firstFailure) out += `\nfirst failure of ${r.name}:\n${r.firstFailure}\n`;

  progress("fuzz: linear-work checks (best of 5, input ×1 and ×8)");
  const lin: Array<[string, () => Promise<unknown>]> = [
    ["configuration (rules)", configsLinear], ["request body", bodiesLinear], ["multipart body", multipartLinear], ["batch file", batchesLinear],
    ["request headers", headersLinear],
    ["upstream SSE", sseLinear], ["upstream error answer", upstreamLinear],
  ];
  out += "\n| input | ×1 ms | ×8 ms | ratio | result |\n|---|---:|---:|---:|---|\n";
  let linFailed = 0;
  for (const [name, run] of lin) {
    try {
      const res = await run();
      const list = Array.isArray(res) ? (res as Array<{ what: string; small: number; big: number }>) : [{ what: "", ...(res as { small: number; big: number }) }];
      for (const t of list) out += `| ${name}${t.what ? ` (${t.what})` : ""} | ${t.small.toFixed(2)} | ${t.big.toFixed(2)} | ${(t.big / t.small).toFixed(1)} | ok |\n`;
    } catch (e) {
      linFailed++;
      out += `| ${name} | | | | FAILED: ${(e as Error).message} |\n`;
    }
  }
  process.stdout.write(out + "\n");
  const failed = rows.reduce((n, r) => n + r.failures, 0) + linFailed;
  return failed === 0 ? 0 : 1;
}
