// Builds the unit-test module (assembly/testing/unit.ts → test/.build/unit/unit.{wasm,js})
// once per vitest run. Pure AssemblyScript logic only: the module never imports proxy-runtime.
// Its own asconfig (asc would otherwise load the product's asconfig.json from the cwd) sets the
// incremental runtime, the json-as transform and ESM bindings, and keeps the default `abort`
// import: a trap surfaces in JS as a thrown Error.
// Several engineers run vitest in one checkout: build into a private directory, then rename
// the files into place (each rename is atomic), so no run imports a half-written module.
import asc from "assemblyscript/asc";
import { mkdir, rename, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outDir = join(root, "test/.build/unit");

export default async function setup(): Promise<void> {
  const tmpRel = `test/.build/unit-tmp-${process.pid}-${Date.now()}`;
  const tmpDir = join(root, tmpRel);
  let log = "";
  const sink = {
    write(chunk: string | Uint8Array): boolean {
      log += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      return true;
    },
  };
  try {
    const { error } = await asc.main(
      [
        "--baseDir", root,
        "assembly/testing/unit.ts",
        "--config", "assembly/testing/asconfig.unit.json",
        "--outFile", `${tmpRel}/unit.wasm`,
        "--noColors",
      ],
      { stdout: sink, stderr: sink },
    );
    if (error) throw new Error(`unit build failed: ${error.message}\n${log}`);
    await mkdir(outDir, { recursive: true });
    for (const f of ["unit.wasm", "unit.d.ts", "unit.js"]) await rename(join(tmpDir, f), join(outDir, f));
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
