/** proxy_http_call: made on behalf of the root context of the calling VM. */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import { startHttpCall } from "../http-callout.ts";
import { decodePairs } from "../pairs.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_http_call(
  vm: WasmVm,
  upPtr: number,
  upSize: number,
  hdrPtr: number,
  hdrSize: number,
  bodyPtr: number,
  bodySize: number,
  trlPtr: number,
  trlSize: number,
  timeoutMs: number,
  tokenPtr: number,
): number {
  const upstream = vm.memory.read(upPtr, upSize);
  const body = vm.memory.read(bodyPtr, bodySize);
  const headers = vm.memory.read(hdrPtr, hdrSize);
  const trailers = vm.memory.read(trlPtr, trlSize);
  if (!upstream || !body || !headers || !trailers) return WasmResult.InvalidMemoryAccess;
  // Verify the token address before starting anything asynchronous.
  if (!vm.memory.writeU32(tokenPtr, 0)) return WasmResult.InvalidMemoryAccess;
  const { result, token } = startHttpCall(vm, latin1(upstream), decodePairs(headers), body, decodePairs(trailers), timeoutMs);
  vm.memory.writeU32(tokenPtr, token);
  return result;
}
