/**
 * Continue / close / local reply. The effects are deferred by the stream until the current VM
 * call returns; send_local_response also turns the current callback's status into a stop.
 */
import { StreamType, WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import { decodePairs } from "../pairs.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_continue_stream(vm: WasmVm, type: number): number {
  if (type > StreamType.MAX) return WasmResult.BadArgument;
  return vm.context().continueStream(type);
}

export function proxy_close_stream(vm: WasmVm, type: number): number {
  if (type > StreamType.MAX) return WasmResult.BadArgument;
  return vm.context().closeStream(type);
}

/**
 * Higress only (offered when the host plays Higress, import-table.ts):
 * proxy_inject_encoded_data_to_filter_chain(body_ptr, body_size, end_stream). higress-group/
 * proxy-wasm-cpp-host src/exports.cc reads the bytes (InvalidMemoryAccess if it cannot), hands
 * them to the context (current or effective) and answers Ok whatever the context does with them.
 */
export function proxy_inject_encoded_data_to_filter_chain(vm: WasmVm, bodyPtr: number, bodySize: number, endStream: number): number {
  const body = vm.memory.read(bodyPtr, bodySize);
  if (!body) return WasmResult.InvalidMemoryAccess;
  vm.context().injectEncodedData(body.slice(), endStream !== 0);
  return WasmResult.Ok;
}

export function proxy_continue_request(vm: WasmVm): number {
  return vm.context().continueStream(StreamType.Request);
}

export function proxy_continue_response(vm: WasmVm): number {
  return vm.context().continueStream(StreamType.Response);
}

export function proxy_clear_route_cache(vm: WasmVm): number {
  vm.context().clearRouteCache();
  return WasmResult.Ok;
}

export function proxy_get_configuration(vm: WasmVm, retPtr: number, retSize: number): number {
  const ctx = vm.context().root();
  const data = ctx.configWindow ? vm.opts.configuration : vm.opts.vmConfiguration;
  return vm.copyToPointerSize(data, retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_send_local_response(
  vm: WasmVm,
  code: number,
  detailsPtr: number,
  detailsSize: number,
  bodyPtr: number,
  bodySize: number,
  pairsPtr: number,
  pairsSize: number,
  grpcStatus: number,
): number {
  const details = vm.memory.read(detailsPtr, detailsSize);
  const body = vm.memory.read(bodyPtr, bodySize);
  const pairs = vm.memory.read(pairsPtr, pairsSize);
  if (!details || !body || !pairs) return WasmResult.InvalidMemoryAccess;
  vm.context().sendLocalResponse({
    code,
    body,
    headers: decodePairs(pairs),
    grpcStatus: grpcStatus | 0,
    // Envoy: StringUtil::replaceAllEmptySpace.
    details: latin1(details).replace(/\s/g, "_"),
  });
  vm.stopNextIteration = true;
  return WasmResult.Ok;
}
