/**
 * Builds the host conformance fixtures (test/fixtures/host/*.ts, small purpose-made filters with
 * raw imports) once per test run into test/.build/host/.
 */
import asc from "assemblyscript/asc";
import { mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const srcDir = join(root, "test", "fixtures", "host");
const outDir = join(root, "test", ".build", "host");

export default async function setup(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));
  for (const f of files) {
    let stderr = "";
    const { error } = await asc.main(
      [
        join(srcDir, f),
        "--config", join(srcDir, "asconfig.json"),
        "--outFile", join(outDir, f.replace(/\.ts$/, ".wasm")),
        "--runtime", "stub",
        "--use", "abort=",
        "-O1",
      ],
      {
        stdout: { write: () => true } as never,
        stderr: { write: (s: string) => ((stderr += s), true) } as never,
      },
    );
    if (error) throw new Error(`building host fixture ${f} failed: ${error.message}\n${stderr}`);
  }
}
