import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("release build", () => {
  const bytes = readFileSync(new URL("../../build/ai-failover.wasm", import.meta.url));
  const mod = new WebAssembly.Module(bytes);

  it("exports the ABI marker and the allocator", () => {
    const names = WebAssembly.Module.exports(mod).map((e) => e.name);
    expect(names).toContain("proxy_abi_version_0_2_0");
    expect(names).toContain("malloc");
  });

  it("imports only from env and WASI preview1", () => {
    const modules = new Set(WebAssembly.Module.imports(mod).map((i) => i.module));
    for (const m of modules) expect(["env", "wasi_snapshot_preview1"]).toContain(m);
  });
});
