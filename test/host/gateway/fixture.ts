/**
 * Builds the gateway's AssemblyScript test filter into test/.build/gateway/ when its source is
 * newer than the module. Each process builds under its own name and renames, so parallel test
 * files never read a half-written module.
 */
import asc from "assemblyscript/asc";
import { renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const SOURCE = `${root}test/fixtures/gateway/route-by-header.ts`;
export const FIXTURE_WASM = `${root}test/.build/gateway/route-by-header.wasm`;

let built: Promise<string> | undefined;

function fresh(): boolean {
  try {
    return statSync(FIXTURE_WASM).mtimeMs >= statSync(SOURCE).mtimeMs;
  } catch {
    return false;
  }
}

export function buildFixture(): Promise<string> {
  built ??= (async () => {
    if (fresh()) return FIXTURE_WASM;
    const tmp = `test/.build/gateway/route-by-header.${process.pid}.wasm`;
    let out = "";
    const sink = { write: (c: string | Uint8Array) => ((out += String(c)), true) };
    const { error } = await asc.main(
      [
        "--baseDir", root,
        "test/fixtures/gateway/route-by-header.ts",
        "--outFile", tmp,
        "--runtime", "incremental",
        "--use", "abort=abort_proc_exit",
        "--optimizeLevel", "1",
        // Its own (empty) asconfig: asc would otherwise pick up the product's from the cwd.
        "--config", "test/fixtures/gateway/asconfig.json",
        "--noColors",
      ],
      { stdout: sink, stderr: sink },
    );
    if (error) throw new Error(`gateway fixture build failed: ${error.message}\n${out}`);
    renameSync(`${root}${tmp}`, FIXTURE_WASM);
    return FIXTURE_WASM;
  })();
  return built;
}
