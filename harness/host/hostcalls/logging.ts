/** proxy_log and proxy_get_log_level. */
import { LOG_LEVEL_MAX, WasmResult } from "../abi.ts";
import { utf8 } from "../bytes.ts";
import type { LogLevel } from "../types.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_log(vm: WasmVm, level: number, ptr: number, size: number): number {
  if (level > LOG_LEVEL_MAX) return WasmResult.BadArgument;
  const msg = vm.memory.read(ptr, size);
  if (!msg) return WasmResult.InvalidMemoryAccess;
  vm.log(level as LogLevel, utf8(msg));
  return WasmResult.Ok;
}

export function proxy_get_log_level(vm: WasmVm, retPtr: number): number {
  return vm.memory.writeU32(retPtr, vm.opts.logLevel) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}
