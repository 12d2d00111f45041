// Checklist 1-3: strict loading and linking, with Envoy's messages.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { PluginHost, PluginLoadError } from "../../harness/host/index.ts";
import { fixtureWasm } from "../../harness/rig/host-rig.ts";

function wat(text: string): Uint8Array {
  const m = binaryen.parseText(text);
  const out = m.emitBinary();
  m.dispose();
  return out;
}

const MARKER_AND_MALLOC = `
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))`;

async function loadError(wasm: Uint8Array): Promise<PluginLoadError> {
  try {
    await PluginHost.create({ wasm, rootId: "r", configuration: "" });
  } catch (e) {
    expect(e).toBeInstanceOf(PluginLoadError);
    return e as PluginLoadError;
  }
  throw new Error("module loaded but should have been rejected");
}

describe("loading and linking (checklist 1, 2, 3)", () => {
  it("rejects a module without an ABI marker", async () => {
    expect((await loadError(fixtureWasm("no-abi"))).message).toBe("Missing or unknown Proxy-Wasm ABI version");
  });

  it("rejects corrupted bytes", async () => {
    expect((await loadError(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 7, 200]))).message).toBe("Failed to parse corrupted Wasm module");
  });

  it("rejects a missing import at load time, naming module.name", async () => {
    const bytes = wat(`(module (import "env" "proxy_does_not_exist" (func (result i32))) ${MARKER_AND_MALLOC})`);
    expect((await loadError(bytes)).message).toBe("Failed to load Wasm module due to a missing import: env.proxy_does_not_exist");
  });

  it("rejects an import with the wrong signature (read from the binary, not by name)", async () => {
    expect((await loadError(fixtureWasm("mistyped-import"))).message).toBe(
      "Failed to load Wasm module due to an import type mismatch: env.proxy_log, want: i32 i32 -> i32, but host exports: i32 i32 i32 -> i32",
    );
  });

  it("rejects an i64/i32 mix-up in an import", async () => {
    const bytes = wat(`(module (import "env" "proxy_increment_metric" (func (param i32 i32) (result i32))) ${MARKER_AND_MALLOC})`);
    expect((await loadError(bytes)).message).toContain("import type mismatch: env.proxy_increment_metric, want: i32 i32 -> i32, but host exports: i32 i64 -> i32");
  });

  it("rejects an imported global", async () => {
    const bytes = wat(`(module (import "env" "some_global" (global i32)) ${MARKER_AND_MALLOC})`);
    expect((await loadError(bytes)).message).toBe("Failed to load Wasm module due to a missing import: env.some_global");
  });

  it("rejects a mistyped proxy_on_* export", async () => {
    expect((await loadError(fixtureWasm("mistyped-export"))).message).toBe(
      "Bad function signature for: proxy_on_tick, want: i32 -> void, but the module exports: i32 i32 -> void",
    );
  });

  it("rejects a module without an allocator, accepts proxy_on_memory_allocate instead of malloc", async () => {
    expect((await loadError(fixtureWasm("no-malloc"))).message).toBe("Wasm module is missing malloc function.");
    const alt = wat(`(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_0"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024)))`);
    const host = await PluginHost.create({ wasm: alt, rootId: "r", configuration: "", workers: 1 });
    expect(host.workerCount).toBe(1);
    await host.close();
  });

  it("applies ABI gating: clear_route_cache is 0.1.0-only, get_log_level 0.2.1-only", async () => {
    expect((await loadError(fixtureWasm("gated-import"))).message).toBe("Failed to load Wasm module due to a missing import: env.proxy_clear_route_cache");
    expect((await loadError(fixtureWasm("log-level-020"))).message).toBe("Failed to load Wasm module due to a missing import: env.proxy_get_log_level");
    const lines: string[] = [];
    const host = await PluginHost.create({ wasm: fixtureWasm("log-level-021"), rootId: "r", configuration: "", workers: 1, logLevel: 2, logger: (l) => lines.push(l.message) });
    await host.close();
    // The 0.2.1 module loaded and proxy_get_log_level wrote the host level (canary + 1 worker).
    expect(lines.filter((l) => l === "log level rc=0 level=2")).toHaveLength(2);
  });

  it("registers the WASI baseline under both module names, and nothing beyond it", async () => {
    const ok = wat(`(module
      (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
      ${MARKER_AND_MALLOC})`);
    const host = await PluginHost.create({ wasm: ok, rootId: "r", configuration: "", workers: 1 });
    await host.close();
    const extra = wat(`(module (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32))) ${MARKER_AND_MALLOC})`);
    expect((await loadError(extra)).message).toBe("Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.sock_accept");
  });

  it("treats any host call from the start section as fatal", async () => {
    const err = await loadError(fixtureWasm("start-hostcall"));
    expect(err.message).toContain("called env.proxy_log during instantiation (start section)");
  });

  it("checks every import before running anything (unknown import fails at load, not at call)", async () => {
    // The import is never called, yet the module is rejected.
    const bytes = wat(`(module (import "env" "proxy_never_called" (func)) ${MARKER_AND_MALLOC}
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1)))`);
    expect((await loadError(bytes)).message).toContain("missing import: env.proxy_never_called");
  });
});
