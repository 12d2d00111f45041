/**
 * Header/trailer map host calls (exports.cc + Envoy Context): the map-type range is checked
 * before memory; unavailable maps answer BadArgument (NotFound during on_log) and read as an
 * empty pair list; keys are lower-cased; request-header mutations clear the route cache.
 */
import { HeaderMapType, WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import { decodePairs, encodePairs } from "../pairs.ts";
import type { WasmVm } from "../vm.ts";

function validType(type: number): boolean {
  return type <= HeaderMapType.MAX;
}

export function proxy_get_header_map_value(vm: WasmVm, type: number, keyPtr: number, keySize: number, retPtr: number, retSize: number): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const ctx = vm.context();
  const key = vm.memory.read(keyPtr, keySize);
  if (!key) return WasmResult.InvalidMemoryAccess;
  const map = ctx.constMap(type);
  if (!map) {
    if (ctx.inAccessLogPhase()) {
      if (vm.linked.abi === "0_1_0") return vm.copyToPointerSize(new Uint8Array(0), retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      return WasmResult.NotFound;
    }
    return WasmResult.BadArgument;
  }
  const value = map.get(latin1(key));
  if (value === undefined) {
    if (vm.linked.abi === "0_1_0") return vm.copyToPointerSize(new Uint8Array(0), retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    return WasmResult.NotFound;
  }
  return vm.copyToPointerSize(new Uint8Array(Buffer.from(value, "latin1")), retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

/** add and replace differ only in the map operation: same checks, same route-cache effect. */
function writeHeader(vm: WasmVm, type: number, keyPtr: number, keySize: number, valPtr: number, valSize: number, op: "add" | "replace"): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const ctx = vm.context();
  const key = vm.memory.read(keyPtr, keySize);
  const value = vm.memory.read(valPtr, valSize);
  if (!key || !value) return WasmResult.InvalidMemoryAccess;
  const map = ctx.mutableMap(type);
  if (!map) return WasmResult.BadArgument;
  map[op](latin1(key), latin1(value));
  ctx.headersModified(type);
  return WasmResult.Ok;
}

export function proxy_add_header_map_value(vm: WasmVm, type: number, keyPtr: number, keySize: number, valPtr: number, valSize: number): number {
  return writeHeader(vm, type, keyPtr, keySize, valPtr, valSize, "add");
}

export function proxy_replace_header_map_value(vm: WasmVm, type: number, keyPtr: number, keySize: number, valPtr: number, valSize: number): number {
  return writeHeader(vm, type, keyPtr, keySize, valPtr, valSize, "replace");
}

export function proxy_remove_header_map_value(vm: WasmVm, type: number, keyPtr: number, keySize: number): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const ctx = vm.context();
  const key = vm.memory.read(keyPtr, keySize);
  if (!key) return WasmResult.InvalidMemoryAccess;
  const map = ctx.mutableMap(type);
  if (!map) return WasmResult.BadArgument;
  map.remove(latin1(key));
  ctx.headersModified(type);
  return WasmResult.Ok;
}

export function proxy_get_header_map_pairs(vm: WasmVm, type: number, retPtr: number, retSize: number): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const map = vm.context().constMap(type);
  const pairs = map ? map.toList() : [];
  if (pairs.length === 0) {
    return vm.copyToPointerSize(new Uint8Array(0), retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
  }
  return vm.copyToPointerSize(encodePairs(pairs), retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_set_header_map_pairs(vm: WasmVm, type: number, ptr: number, size: number): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const ctx = vm.context();
  const data = vm.memory.read(ptr, size);
  if (!data) return WasmResult.InvalidMemoryAccess;
  const map = ctx.mutableMap(type);
  if (!map) return WasmResult.BadArgument;
  map.setAll(decodePairs(data));
  ctx.headersModified(type);
  return WasmResult.Ok;
}

export function proxy_get_header_map_size(vm: WasmVm, type: number, retPtr: number): number {
  if (!validType(type)) return WasmResult.BadArgument;
  const map = vm.context().mutableMap(type);
  if (!map) return WasmResult.BadArgument;
  return vm.memory.writeU32(retPtr, map.byteSize()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}
