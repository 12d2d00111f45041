/** The host's public surface (see types.ts). */
export * from "./types.ts";
export { PluginHost, compilePluginModule } from "./plugin-host.ts";
export { ProcessState, type SharedStore } from "./process-state.ts";
export { CallProfiler, ProfileSink, type ProfileSummary, type RootStat, type FrameStat, type Calibration } from "./profile.ts";
export { SabSharedData } from "./shared-data-sab.ts";
export { PluginLoadError } from "./errors.ts";
export { envoyImportTable, expectedExports, WASI_MODULES } from "./import-table.ts";
export { checkModule } from "./link.ts";
export { parseWasm } from "./wasm-binary.ts";
export { encodePairs, decodePairs } from "./pairs.ts";
export type { AbiVersion, HostFlavour } from "./abi.ts";
export { WasmResult } from "./abi.ts";
