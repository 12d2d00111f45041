/** proxy_get_buffer_bytes / proxy_get_buffer_status / proxy_set_buffer_bytes (exports.cc + Envoy Buffer). */
import { bufferTypeMax, WasmResult } from "../abi.ts";
import type { HostBuffer } from "../context.ts";
import type { WasmVm } from "../vm.ts";

function bufferOf(vm: WasmVm, type: number): HostBuffer | null {
  return vm.context().buffer(type, vm.opts.vmConfiguration, vm.opts.configuration);
}

export function proxy_get_buffer_bytes(vm: WasmVm, type: number, start: number, length: number, retPtr: number, retSize: number): number {
  if (type > bufferTypeMax(vm.opts.flavour)) return WasmResult.BadArgument;
  const buffer = bufferOf(vm, type);
  if (!buffer) return WasmResult.NotFound;
  // Overflow of start + length in 32 bits.
  if (start + length > 0xffffffff) return WasmResult.BadArgument;
  const size = buffer.size();
  if (start > size) length = 0;
  else if (start + length > size) length = size - start;
  if (length === 0) {
    if (!vm.memory.writeU32(retPtr, 0)) return WasmResult.InvalidMemoryAccess;
    if (!vm.memory.writeU32(retSize, 0)) return WasmResult.InvalidMemoryAccess;
    return WasmResult.Ok;
  }
  const data = buffer.bytes().slice(start, start + length);
  return vm.copyToPointerSize(data, retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_get_buffer_status(vm: WasmVm, type: number, lenPtr: number, flagsPtr: number): number {
  if (type > bufferTypeMax(vm.opts.flavour)) return WasmResult.BadArgument;
  const buffer = bufferOf(vm, type);
  if (!buffer) return WasmResult.NotFound;
  if (!vm.memory.writeU32(lenPtr, buffer.size())) return WasmResult.InvalidMemoryAccess;
  if (!vm.memory.writeU32(flagsPtr, 0)) return WasmResult.InvalidMemoryAccess;
  return WasmResult.Ok;
}

export function proxy_set_buffer_bytes(vm: WasmVm, type: number, start: number, length: number, dataPtr: number, dataSize: number): number {
  if (type > bufferTypeMax(vm.opts.flavour)) return WasmResult.BadArgument;
  const buffer = bufferOf(vm, type);
  if (!buffer) return WasmResult.NotFound;
  const data = vm.memory.read(dataPtr, dataSize);
  if (!data) return WasmResult.InvalidMemoryAccess;
  return buffer.copyFrom(start, length, data);
}
