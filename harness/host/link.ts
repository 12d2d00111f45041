/**
 * Load-time checks, in the order Envoy applies them (WasmBase::load, V8::link,
 * WasmBase::getFunctions), with the same messages.
 */
import type { AbiVersion, HostFlavour } from "./abi.ts";
import { envoyImportTable, expectedExports } from "./import-table.ts";
import { parseWasm, printValTypes, sameTypes, WasmParseError, type WasmImport, type WasmModuleInfo } from "./wasm-binary.ts";

export interface LinkedModule {
  abi: AbiVersion;
  info: WasmModuleInfo;
  /** "malloc" or "proxy_on_memory_allocate". */
  allocator: string;
  /** Names of exported functions the host may call (right signature). */
  functions: Set<string>;
  memoryImport?: WasmImport;
}

export type LinkResult = { ok: true; module: LinkedModule } | { ok: false; message: string };

const ABI_MARKERS: Record<string, AbiVersion> = {
  proxy_abi_version_0_1_0: "0_1_0",
  proxy_abi_version_0_2_0: "0_2_0",
  proxy_abi_version_0_2_1: "0_2_1",
};

/** Higress's fork knows one more (src/bytecode_util.cc of higress-group/proxy-wasm-cpp-host). */
const HIGRESS_ABI_MARKERS: Record<string, AbiVersion> = { ...ABI_MARKERS, proxy_abi_version_0_2_100: "0_2_100" };

export function checkModule(bytes: Uint8Array, flavour: HostFlavour = "envoy"): LinkResult {
  let info: WasmModuleInfo;
  try {
    info = parseWasm(bytes);
  } catch (e) {
    if (e instanceof WasmParseError) return { ok: false, message: "Failed to parse corrupted Wasm module" };
    throw e;
  }
  // ABI version: the first function export, in export-section order, named like a marker this
  // host knows; unknown markers are skipped (BytecodeUtil::getAbiVersion, src/bytecode_util.cc,
  // in both proxy-wasm-cpp-host and Higress's fork). So a module exporting 0_2_100 before 0_2_0
  // is 0_2_100 on Higress and 0_2_0 on upstream Envoy.
  const markers = flavour === "higress" ? HIGRESS_ABI_MARKERS : ABI_MARKERS;
  let abi: AbiVersion | undefined;
  for (const e of info.exports) {
    if (e.kind === "function" && markers[e.name]) {
      abi = markers[e.name];
      break;
    }
  }
  if (!abi) return { ok: false, message: "Missing or unknown Proxy-Wasm ABI version" };

  const table = envoyImportTable(abi, flavour);
  let memoryImport: WasmImport | undefined;
  for (const imp of info.imports) {
    const key = `${imp.module}.${imp.name}`;
    if (imp.kind === "function") {
      const host = table.get(key);
      if (!host) return { ok: false, message: `Failed to load Wasm module due to a missing import: ${key}` };
      const want = imp.type!;
      if (!sameTypes(want.params, host.params) || !sameTypes(want.results, host.results)) {
        return {
          ok: false,
          message:
            `Failed to load Wasm module due to an import type mismatch: ${key}, want: ` +
            `${printValTypes(want.params)} -> ${printValTypes(want.results)}, but host exports: ` +
            `${printValTypes(host.params)} -> ${printValTypes(host.results)}`,
        };
      }
    } else if (imp.kind === "global" || imp.kind === "tag") {
      // V8::link: imported globals are not supported.
      return { ok: false, message: `Failed to load Wasm module due to a missing import: ${key}` };
    } else if (imp.kind === "memory") {
      memoryImport = imp;
    }
  }

  const expected = expectedExports(abi, flavour);
  const functions = new Set<string>();
  let allocator: string | undefined;
  const byName = new Map(info.exports.filter((e) => e.kind === "function").map((e) => [e.name, e]));
  const check = (name: string): string | null => {
    const exp = byName.get(name);
    const want = expected.get(name);
    if (!exp || !want) return null;
    const got = exp.type!;
    if (!sameTypes(got.params, want.params) || !sameTypes(got.results, want.results)) {
      return (
        `Bad function signature for: ${name}, want: ${printValTypes(want.params)} -> ` +
        `${printValTypes(want.results)}, but the module exports: ${printValTypes(got.params)} -> ` +
        `${printValTypes(got.results)}`
      );
    }
    functions.add(name);
    return null;
  };
  // getFunctions order: WASI entry points, allocator, then the proxy_on_* callbacks.
  const entry = byName.has("_initialize") ? ["_initialize", "main", "__main_void"] : ["_start"];
  for (const n of entry) {
    const err = check(n);
    if (err) return { ok: false, message: err };
  }
  for (const n of ["malloc", "proxy_on_memory_allocate"]) {
    const err = check(n);
    if (err) return { ok: false, message: err };
    if (!allocator && functions.has(n)) allocator = n;
  }
  if (!allocator) return { ok: false, message: "Wasm module is missing malloc function." };
  for (const n of expected.keys()) {
    if (n.startsWith("proxy_on_") || n === "proxy_validate_configuration") {
      if (n === "proxy_on_memory_allocate") continue;
      const err = check(n);
      if (err) return { ok: false, message: err };
    }
  }
  return { ok: true, module: { abi, info, allocator, functions, memoryImport } };
}
