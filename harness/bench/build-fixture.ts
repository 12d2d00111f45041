/**
 * Compiles the pass-through baseline filter (fixtures/passthrough.ts) with the product's runtime
 * and optimisation settings (asconfig.json "release" + options). Its own asconfig is passed
 * explicitly: asc would otherwise load the product's from the working directory (and its json-as
 * transform).
 *
 * The result is kept in build/bench/passthrough-<hash>.wasm, the hash covering the fixture, its
 * asconfig, the compiler version and the SDK sources: a later run with the same inputs reuses it.
 *
 * The compiler runs in a short-lived child process (this file, run directly): loading
 * `assemblyscript/asc` puts ~240 MB (binaryen) on the heap, which would otherwise stay in the
 * bench process next to the load client and the mock providers and lengthen their GC pauses.
 */
import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES, ROOT } from "./paths.ts";

/** The product's runtime and release optimisation (asconfig.json). */
const BUILD_FLAGS = ["--runtime", "incremental", "--use", "abort=abort_proc_exit", "--optimizeLevel", "3", "--shrinkLevel", "0", "--noColors"];

async function compile(fixture: string, out: string): Promise<void> {
  const { default: asc } = await import("assemblyscript/asc");
  const tmp = `${out}.${process.pid}.tmp`;
  let stderr = "";
  try {
    const { error } = await asc.main([
      join(FIXTURES, `${fixture}.ts`),
      "--baseDir", ROOT,
      "--config", join(FIXTURES, "asconfig.json"),
      "--outFile", tmp,
      ...BUILD_FLAGS,
    ], {
      stdout: { write: () => true } as never,
      stderr: { write: (s: string) => ((stderr += s), true) } as never,
    });
    if (error) throw new Error(`building the ${fixture} filter failed: ${error.message}\n${stderr}`);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function inputsHash(fixture: string): string {
  const h = createHash("sha256");
  h.update(readFileSync(join(FIXTURES, `${fixture}.ts`)));
  h.update(readFileSync(join(FIXTURES, "asconfig.json")));
  h.update(readFileSync(join(ROOT, "node_modules/assemblyscript/package.json")));
  const sdk = join(ROOT, "node_modules/@solo-io/proxy-runtime/assembly");
  for (const f of readdirSync(sdk).sort()) if (f.endsWith(".ts")) h.update(f).update(readFileSync(join(sdk, f)));
  h.update(BUILD_FLAGS.join(" "));
  return h.digest("hex").slice(0, 16);
}

/**
 * The pass-through filter's module (built in a child process unless build/bench holds one built
 * from the same inputs); returns its path and bytes.
 */
export async function buildPassthrough(timeoutMs = 120_000): Promise<{ path: string; bytes: Uint8Array; cached: boolean }> {
  return buildFixture("passthrough", timeoutMs);
}

/**
 * A fixture filter of fixtures/ (`name`.ts: "passthrough", "header-edit") built the same way, kept
 * in build/bench/<name>-<hash>.wasm.
 */
export async function buildFixture(name: string, timeoutMs = 120_000): Promise<{ path: string; bytes: Uint8Array; cached: boolean }> {
  const dir = join(ROOT, "build", "bench");
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${name}-${inputsHash(name)}.wasm`);
  if (existsSync(out)) return { path: out, bytes: readFileSync(out), cached: true };
  const child = fork(fileURLToPath(import.meta.url), [name, out], { cwd: ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "pipe", "ipc"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`building the ${name} filter failed (exit ${code}):\n${stderr}`);
  const stale = new RegExp(`^${name}-[0-9a-f]+\\.wasm$`);
  for (const f of readdirSync(dir)) if (stale.test(f) && join(dir, f) !== out) rmSync(join(dir, f), { force: true });
  return { path: out, bytes: readFileSync(out), cached: false };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  compile(process.argv[2]!, process.argv[3]!).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
