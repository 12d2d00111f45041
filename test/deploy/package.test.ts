// The npm package (issue 12): `npm pack` holds the built module, the CLI and what it reads
// (harness/, envoy/), the README and its docs/ pages, and the CLI runs from an install outside the
// repository with only its declared dependencies (tsx, yaml) — `npx ai-failover validate …` there exits 0.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, renameSync, existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/stack.ts";

const DIR = `${ROOT}test/.build/pack`;

describe("npm pack", () => {
  it("packs the built .wasm and the CLI; installed elsewhere, the CLI validates the shipped bootstrap", () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    // --ignore-scripts: prepack would rebuild build/ai-failover.wasm while other tests read it; npm test built it.
    const packed = spawnSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", DIR], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(packed.status, packed.stderr).toBe(0);
    const info = JSON.parse(packed.stdout)[0];
    const files: string[] = info.files.map((f: { path: string }) => f.path);
    expect(files).toContain("build/ai-failover.wasm");
    expect(files).toContain("bin/ai-failover.mjs");
    expect(files).toContain("envoy/local.yaml");
    // The manual: the README and the pages it links (docs/), so its links resolve in the package too.
    expect(files).toContain("README.md");
    for (const page of ["configuration", "request-handling", "operations", "cluster-limits", "deploy-envoy", "deploy-higress"]) expect(files).toContain(`docs/${page}.md`);
    expect(files.some((f) => f.startsWith("harness/cli/"))).toBe(true);
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("node_modules/") || (f.startsWith("assembly/") && !f.endsWith(".schema.json") && !f.endsWith("README.md")))).toEqual([]);

    // An install outside the repository: the package under node_modules/, its two dependencies beside it.
    const app = `${DIR}/app`;
    mkdirSync(`${app}/node_modules`, { recursive: true });
    expect(spawnSync("tar", ["-xzf", `${DIR}/${info.filename}`, "-C", `${app}/node_modules`]).status).toBe(0);
    renameSync(`${app}/node_modules/package`, `${app}/node_modules/ai-failover`);
    for (const dep of ["tsx", "yaml"]) symlinkSync(`${ROOT}node_modules/${dep}`, `${app}/node_modules/${dep}`);
    const pkg = `${app}/node_modules/ai-failover`;
    expect(existsSync(`${pkg}/assembly/plugin`)).toBe(false);
    const run = (...args: string[]) => spawnSync(process.execPath, [`${pkg}/bin/ai-failover.mjs`, ...args], { cwd: app, encoding: "utf8", timeout: 60_000 });
    const v = run("validate", `${pkg}/envoy/local.yaml`, `${pkg}/envoy/higress-wasmplugin.yaml`);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain("local.yaml: OK (Envoy bootstrap: 2 provider(s)");
    const help = run("help");
    expect(help.stdout).toContain("ai-failover validate <file>");
  }, 120_000);
});
