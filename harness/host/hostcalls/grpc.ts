/**
 * gRPC callouts (proxy-wasm-cpp-host src/exports.cc grpc_call/grpc_stream/grpc_cancel/grpc_close/
 * grpc_send, all on the root context). Unary calls are made for real (see ../grpc-callout.ts);
 * streams are not implemented: a known cluster answers Unimplemented (logged), an unknown one
 * ParseFailure as in Envoy. Cancel/close: Ok for a pending call (no callback follows), NotFound for
 * an unknown call or stream token, BadArgument for any other id.
 */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import { startGrpcCall } from "../grpc-callout.ts";
import { decodePairs } from "../pairs.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_grpc_call(
  vm: WasmVm, sp: number, ss: number, np: number, ns: number, mp: number, ms: number, ip: number, is: number, rp: number, rs: number,
  timeoutMs: number, tokenPtr: number,
): number {
  const service = vm.memory.read(sp, ss);
  const serviceName = vm.memory.read(np, ns);
  const method = vm.memory.read(mp, ms);
  const metadata = vm.memory.read(ip, is);
  const request = vm.memory.read(rp, rs);
  if (!service || !serviceName || !method || !metadata || !request) return WasmResult.InvalidMemoryAccess;
  const { result, token } = startGrpcCall(vm, {
    service, serviceName: latin1(serviceName), method: latin1(method), metadata: decodePairs(metadata),
    message: request.slice(), timeoutMs,
  });
  if (result !== WasmResult.Ok) return result;
  // exports.cc writes the token after starting the call: a bad slot fails the hostcall, not the call.
  return vm.memory.writeU32(tokenPtr, token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_grpc_stream(vm: WasmVm, sp: number, ss: number, np: number, ns: number, mp: number, ms: number, ip: number, is: number): number {
  const service = vm.memory.read(sp, ss);
  if (!service || [[np, ns], [mp, ms], [ip, is]].some(([p, s]) => !vm.memory.read(p!, s!))) return WasmResult.InvalidMemoryAccess;
  if (!vm.opts.dispatcher?.hasCluster(latin1(service))) return WasmResult.ParseFailure;
  vm.log(4, "proxy_grpc_stream: gRPC streams are not implemented by the harness");
  return WasmResult.Unimplemented;
}

function cancelCall(vm: WasmVm, token: number): number {
  const type = token & 3;
  if (type === 1) {
    const call = vm.grpcCalls.get(token);
    if (!call) return WasmResult.NotFound;
    call.done = true;
    if (call.timer) clearTimeout(call.timer);
    call.abort.abort();
    vm.grpcCalls.delete(token);
    return WasmResult.Ok;
  }
  return type === 2 ? WasmResult.NotFound : WasmResult.BadArgument;
}

export function proxy_grpc_cancel(vm: WasmVm, token: number): number {
  return cancelCall(vm, token);
}

export function proxy_grpc_close(vm: WasmVm, token: number): number {
  return cancelCall(vm, token);
}

export function proxy_grpc_send(vm: WasmVm, token: number, ptr: number, size: number): number {
  if (!vm.memory.read(ptr, size)) return WasmResult.InvalidMemoryAccess;
  return (token & 3) === 2 ? WasmResult.NotFound : WasmResult.BadArgument;
}
