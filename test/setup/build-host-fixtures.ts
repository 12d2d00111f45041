/**
 * Builds the host conformance fixtures once per test run into test/.build/host/:
 *   test/fixtures/host/*.ts      small purpose-made filters with raw imports (stub runtime, no abort)
 *   test/fixtures/host/sdk/*.ts  filters on the patched @solo-io/proxy-runtime SDK, built the way the
 *                                product is (incremental runtime, abort=abort_proc_exit) → sdk/<name>.wasm
 * Several engineers run vitest in one checkout: each module is written under a private name and
 * renamed into place (atomic), so no run loads a half-written module.
 */
import asc from "assemblyscript/asc";
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const srcDir = join(root, "test", "fixtures", "host");
const outDir = join(root, "test", ".build", "host");

async function build(src: string, out: string, flags: string[]): Promise<void> {
  const tmp = `${out}.${process.pid}.tmp.wasm`;
  let stderr = "";
  try {
    const { error } = await asc.main([src, "--outFile", tmp, ...flags], {
      stdout: { write: () => true } as never,
      stderr: { write: (s: string) => ((stderr += s), true) } as never,
    });
    if (error) throw new Error(`building host fixture ${src} failed: ${error.message}\n${stderr}`);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export default async function setup(): Promise<void> {
  mkdirSync(join(outDir, "sdk"), { recursive: true });
  for (const f of readdirSync(srcDir).filter((f) => f.endsWith(".ts"))) {
    await build(join(srcDir, f), join(outDir, f.replace(/\.ts$/, ".wasm")), [
      "--config", join(srcDir, "asconfig.json"),
      "--runtime", "stub",
      "--use", "abort=",
      "-O1",
    ]);
  }
  const sdkDir = join(srcDir, "sdk");
  for (const f of readdirSync(sdkDir).filter((f) => f.endsWith(".ts"))) {
    await build(join(sdkDir, f), join(outDir, "sdk", f.replace(/\.ts$/, ".wasm")), [
      "--baseDir", root,
      // Its own (empty) asconfig: asc would otherwise pick up the product's from the cwd.
      "--config", join(srcDir, "asconfig.json"),
      "--runtime", "incremental",
      "--use", "abort=abort_proc_exit",
      "-O1",
      "--noColors",
    ]);
  }
}
