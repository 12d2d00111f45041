#!/usr/bin/env node
// `npm run build`: the Envoy build (build/ai-failover.wasm, asconfig.json) and the Higress build
// (build/ai-failover-higress.wasm, asconfig.higress.json: the same filter plus Higress's Redis
// calls) side by side, as two asc processes; fails when either fails. `--target debug` builds the
// Envoy debug module only. `--if-stale`: nothing to do when both modules are newer than every
// file they are built from (assembly/, the asconfig files, the SDK patch) — the fast test tier's
// edit–test loop.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";

const target = process.argv.includes("--target") ? process.argv[process.argv.indexOf("--target") + 1] : "release";
const configs = target === "release" ? ["asconfig.json", "asconfig.higress.json"] : ["asconfig.json"];
const asc = new URL("../node_modules/assemblyscript/bin/asc.js", import.meta.url).pathname;

if (process.argv.includes("--if-stale") && target === "release") {
  const root = new URL("..", import.meta.url).pathname;
  const outputs = ["build/ai-failover.wasm", "build/ai-failover-higress.wasm"].map((f) => root + f);
  const inputs = [...readdirSync(root + "assembly", { recursive: true }).map((f) => root + "assembly/" + f),
    ...configs.map((c) => root + c), ...readdirSync(root + "patches").map((f) => root + "patches/" + f)];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  if (outputs.every((f) => existsSync(f) && statSync(f).mtimeMs > newest)) process.exit(0);
}

const runs = configs.map((config) => new Promise((resolve) => {
  const child = spawn(process.execPath, [asc, "--config", config, "--target", target], { stdio: "inherit" });
  child.on("exit", (code, signal) => resolve({ config, code: code ?? (signal ? 1 : 0) }));
}));
const results = await Promise.all(runs);
const failed = results.filter((r) => r.code !== 0);
for (const f of failed) console.error(`asc --config ${f.config} --target ${target}: exit ${f.code}`);
process.exit(failed.length > 0 ? 1 : 0);
