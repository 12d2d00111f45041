/** Time, ticks, effective context, proxy_done, proxy_get_status, foreign functions, emscripten bits. */
import { WasmResult } from "../abi.ts";
import { latin1, toBytes } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_get_current_time_nanoseconds(vm: WasmVm, retPtr: number): number {
  return vm.memory.writeU64(retPtr, vm.opts.clockNs()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

/** The timer belongs to the VM's root context; ticks arrive later, never inline. */
export function proxy_set_tick_period_milliseconds(vm: WasmVm, ms: number): number {
  vm.setTickPeriod(ms);
  return WasmResult.Ok;
}

export function proxy_set_effective_context(vm: WasmVm, id: number): number {
  return vm.setEffectiveContext(id);
}

export function proxy_done(vm: WasmVm): number {
  if (!vm.pendingDone || vm.context().root() !== vm.root) return WasmResult.NotFound;
  vm.pendingDone = false;
  vm.doneCalled = true;
  return WasmResult.Ok;
}

export function proxy_get_status(vm: WasmVm, codePtr: number, msgPtr: number, msgSize: number): number {
  const root = vm.context().root();
  if (!vm.memory.writeU32(codePtr, root.statusCode)) return WasmResult.InvalidMemoryAccess;
  return vm.copyToPointerSize(toBytes(root.statusMessage), msgPtr, msgSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

/** Foreign functions Envoy registers; the harness implements none of them. */
const ENVOY_FOREIGN = new Set([
  "compress", "uncompress", "expr_create", "expr_evaluate", "expr_delete", "declare_property",
  "set_envoy_filter_state", "clear_route_cache", "get_metadata", "set_metadata",
]);

export function proxy_call_foreign_function(vm: WasmVm, namePtr: number, nameSize: number, argsPtr: number, argsSize: number, _retPtr: number, _retSize: number): number {
  const name = vm.memory.read(namePtr, nameSize);
  if (!name) return WasmResult.InvalidMemoryAccess;
  if (!vm.memory.read(argsPtr, argsSize)) return WasmResult.InvalidMemoryAccess;
  const fn = latin1(name);
  if (!ENVOY_FOREIGN.has(fn)) return WasmResult.NotFound;
  vm.log(4, `foreign function ${fn} is not implemented by the harness`);
  return WasmResult.Unimplemented;
}

export function pthread_equal(_vm: WasmVm, a: number, b: number): number {
  return a === b ? 1 : 0;
}

export function emscripten_notify_memory_growth(): void {}
