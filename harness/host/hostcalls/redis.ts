/**
 * Higress's redis hostcalls (higress-group/proxy-wasm-cpp-host include/proxy-wasm/exports.h and
 * src/exports.cc; registered by its WasmBase::registerCallbacks for every ABI version). The import
 * table offers them only when the host plays Higress (import-table.ts), so on upstream Envoy a
 * module importing them fails to load. Both act for the root context. See ../redis-callout.ts.
 *
 *   proxy_redis_init(service_ptr, service_size, username_ptr, username_size, password_ptr,
 *                    password_size, timeout_milliseconds) -> WasmResult
 *   proxy_redis_call(service_ptr, service_size, query_ptr, query_size, token_ptr) -> WasmResult
 */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_redis_init(vm: WasmVm, sp: number, ss: number, up: number, us: number, pp: number, ps: number, timeoutMs: number): number {
  const service = vm.memory.read(sp, ss);
  const username = vm.memory.read(up, us);
  const password = vm.memory.read(pp, ps);
  if (!service || !username || !password) return WasmResult.InvalidMemoryAccess;
  return vm.redis.init(latin1(service), latin1(username), latin1(password), timeoutMs | 0);
}

export function proxy_redis_call(vm: WasmVm, sp: number, ss: number, qp: number, qs: number, tokenPtr: number): number {
  const service = vm.memory.read(sp, ss);
  const query = vm.memory.read(qp, qs);
  if (!service || !query) return WasmResult.InvalidMemoryAccess;
  // Verify the token slot before starting anything asynchronous (as exports.cc does).
  if (!vm.memory.writeU32(tokenPtr, 0)) return WasmResult.InvalidMemoryAccess;
  const { result, token } = vm.redis.call(latin1(service), query.slice());
  vm.memory.writeU32(tokenPtr, token);
  return result;
}
