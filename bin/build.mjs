#!/usr/bin/env node
// `npm run build`: the Envoy build (build/ai-failover.wasm, asconfig.json) and the Higress build
// (build/ai-failover-higress.wasm, asconfig.higress.json: the same filter plus Higress's Redis
// calls) side by side, as two asc processes; fails when either fails. `--target debug` builds the
// Envoy debug module only.
import { spawn } from "node:child_process";

const target = process.argv.includes("--target") ? process.argv[process.argv.indexOf("--target") + 1] : "release";
const configs = target === "release" ? ["asconfig.json", "asconfig.higress.json"] : ["asconfig.json"];
const asc = new URL("../node_modules/assemblyscript/bin/asc.js", import.meta.url).pathname;

const runs = configs.map((config) => new Promise((resolve) => {
  const child = spawn(process.execPath, [asc, "--config", config, "--target", target], { stdio: "inherit" });
  child.on("exit", (code, signal) => resolve({ config, code: code ?? (signal ? 1 : 0) }));
}));
const results = await Promise.all(runs);
const failed = results.filter((r) => r.code !== 0);
for (const f of failed) console.error(`asc --config ${f.config} --target ${target}: exit ${f.code}`);
process.exit(failed.length > 0 ? 1 : 0);
