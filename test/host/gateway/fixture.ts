/**
 * Builds the gateway's AssemblyScript test filter into test/.build/gateway/ when its source is
 * newer than the module. Each process builds under its own name and renames, so parallel test
 * files never read a half-written module.
 */
import asc from "assemblyscript/asc";
import { renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));
export const FIXTURE_WASM = `${root}test/.build/gateway/route-by-header.wasm`;

const built = new Map<string, Promise<string>>();

function fresh(source: string, wasm: string): boolean {
  try {
    return statSync(wasm).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    return false;
  }
}

/** The route-by-header test filter (test/fixtures/gateway/route-by-header.ts). */
export function buildFixture(): Promise<string> {
  return buildGatewayFixture("route-by-header");
}

/** A test filter of test/fixtures/gateway/<name>.ts, built into test/.build/gateway/<name>.wasm. */
export function buildGatewayFixture(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) built.set(name, (p = build(name)));
  return p;
}

async function build(name: string): Promise<string> {
  const source = `${root}test/fixtures/gateway/${name}.ts`;
  const wasm = `${root}test/.build/gateway/${name}.wasm`;
  if (fresh(source, wasm)) return wasm;
  const tmp = `test/.build/gateway/${name}.${process.pid}.wasm`;
  let out = "";
  const sink = { write: (c: string | Uint8Array) => ((out += String(c)), true) };
  const { error } = await asc.main(
    [
      "--baseDir", root,
      `test/fixtures/gateway/${name}.ts`,
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
  if (error) throw new Error(`gateway fixture ${name} build failed: ${error.message}\n${out}`);
  renameSync(`${root}${tmp}`, wasm);
  return wasm;
}
