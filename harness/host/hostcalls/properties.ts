/**
 * proxy_get_property / proxy_set_property. Paths are segments joined by NUL. Lookup order:
 * plugin_* tokens, the stream's properties (stream info set by the gateway, filter state set by
 * the module), then plugin-level properties from PluginOptions. Anything else is NotFound.
 */
import { WasmResult } from "../abi.ts";
import { latin1, toBytes } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function lookupProperty(vm: WasmVm, path: string): Uint8Array | undefined {
  switch (path) {
    case "plugin_root_id":
      return toBytes(vm.opts.rootId);
    case "plugin_name":
      return toBytes(vm.opts.pluginName);
    case "plugin_vm_id":
      return toBytes(vm.opts.vmId);
  }
  return vm.context().streamProperty(path) ?? vm.opts.properties.get(path);
}

export function proxy_get_property(vm: WasmVm, pathPtr: number, pathSize: number, retPtr: number, retSize: number): number {
  const path = vm.memory.read(pathPtr, pathSize);
  if (!path) return WasmResult.InvalidMemoryAccess;
  // A trailing NUL ends the path (Envoy splits on NUL and stops at the end).
  let p = latin1(path);
  if (p.endsWith("\u0000")) p = p.slice(0, -1);
  const value = lookupProperty(vm, p);
  if (value === undefined) return WasmResult.NotFound;
  return vm.copyToPointerSize(value, retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_set_property(vm: WasmVm, pathPtr: number, pathSize: number, valPtr: number, valSize: number): number {
  const path = vm.memory.read(pathPtr, pathSize);
  const value = vm.memory.read(valPtr, valSize);
  if (!path || !value) return WasmResult.InvalidMemoryAccess;
  return vm.context().setFilterState(latin1(path), value);
}
