/** proxy_get_shared_data / proxy_set_shared_data: process-wide, keyed by vm_id, global CAS. */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_get_shared_data(vm: WasmVm, keyPtr: number, keySize: number, retPtr: number, retSize: number, casPtr: number): number {
  const key = vm.memory.read(keyPtr, keySize);
  if (!key) return WasmResult.InvalidMemoryAccess;
  const shared = vm.env.process.sharedData;
  const name = latin1(key);
  const entry = shared.get(vm.opts.vmId, name);
  shared.interleave?.(vm.opts.vmId, name, entry !== undefined);
  if (!entry) return WasmResult.NotFound;
  if (!vm.copyToPointerSize(entry.value, retPtr, retSize)) return WasmResult.InvalidMemoryAccess;
  return vm.memory.writeU32(casPtr, entry.cas) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_set_shared_data(vm: WasmVm, keyPtr: number, keySize: number, valPtr: number, valSize: number, cas: number): number {
  const key = vm.memory.read(keyPtr, keySize);
  const value = vm.memory.read(valPtr, valSize);
  if (!key || !value) return WasmResult.InvalidMemoryAccess;
  return vm.env.process.sharedData.set(vm.opts.vmId, latin1(key), value, cas);
}
