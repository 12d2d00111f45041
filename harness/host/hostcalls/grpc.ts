/**
 * gRPC callouts. Envoy registers them; the harness has no gRPC client. Unknown clusters answer
 * like Envoy (ParseFailure); known ones Unimplemented (logged). Cancel/close/send on unknown
 * tokens answer like Envoy (BadArgument for non-gRPC ids, NotFound otherwise).
 */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

function callLike(vm: WasmVm, servicePtr: number, serviceSize: number, ptrs: Array<[number, number]>): number {
  const service = vm.memory.read(servicePtr, serviceSize);
  if (!service || ptrs.some(([p, s]) => !vm.memory.read(p, s))) return WasmResult.InvalidMemoryAccess;
  if (!vm.opts.dispatcher?.hasCluster(latin1(service))) return WasmResult.ParseFailure;
  vm.log(4, "proxy_grpc_call/proxy_grpc_stream: gRPC callouts are not implemented by the harness");
  return WasmResult.Unimplemented;
}

export function proxy_grpc_call(vm: WasmVm, sp: number, ss: number, np: number, ns: number, mp: number, ms: number, ip: number, is: number, rp: number, rs: number): number {
  return callLike(vm, sp, ss, [[np, ns], [mp, ms], [ip, is], [rp, rs]]);
}

export function proxy_grpc_stream(vm: WasmVm, sp: number, ss: number, np: number, ns: number, mp: number, ms: number, ip: number, is: number): number {
  return callLike(vm, sp, ss, [[np, ns], [mp, ms], [ip, is]]);
}

function tokenResult(token: number): number {
  const type = token & 3;
  return type === 1 || type === 2 ? WasmResult.NotFound : WasmResult.BadArgument;
}

export function proxy_grpc_cancel(_vm: WasmVm, token: number): number {
  return tokenResult(token);
}

export function proxy_grpc_close(_vm: WasmVm, token: number): number {
  return tokenResult(token);
}

export function proxy_grpc_send(vm: WasmVm, token: number, ptr: number, size: number): number {
  if (!vm.memory.read(ptr, size)) return WasmResult.InvalidMemoryAccess;
  return (token & 3) === 2 ? WasmResult.NotFound : WasmResult.BadArgument;
}
