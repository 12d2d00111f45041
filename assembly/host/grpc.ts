// gRPC callouts (proxy_grpc_call) and the calls around them, as non-trapping adapters. The SDK's
// own declaration of proxy_grpc_call lacks the initial-metadata pair (10 parameters instead of
// the ABI's 12) and would not link, so it is declared here.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";
import { BufferType, getBuffer } from "./calls";

@external("env", "proxy_grpc_call")
declare function proxy_grpc_call(servicePtr: usize, serviceSize: usize, serviceNamePtr: usize, serviceNameSize: usize,
  methodPtr: usize, methodSize: usize, metadataPtr: usize, metadataSize: usize, requestPtr: usize, requestSize: usize,
  timeoutMs: u32, tokenPtr: usize): u32;


const RET = memory.data(16);

/** An empty pairs map (count 0): no initial metadata. */
const NO_METADATA = memory.data(4);

export class GrpcStart {
  result: u32 = 0;
  token: u32 = 0;
}

/**
 * Starts a unary call on `cluster` (a cluster name: Envoy reads it as a serialized GrpcService
 * first, so the configuration refuses names that parse as one). Result Ok with the token; any
 * other result means no callback will come for it (though a close may still arrive for a token
 * never handed out — ignored as unknown).
 */
export function grpcCall(cluster: string, service: string, method: string, message: Uint8Array, timeoutMs: u32): GrpcStart {
  const c = String.UTF8.encode(cluster);
  const s = String.UTF8.encode(service);
  const m = String.UTF8.encode(method);
  store<u32>(NO_METADATA, 0);
  store<u32>(RET, 0);
  const out = new GrpcStart();
  out.result = proxy_grpc_call(changetype<usize>(c), c.byteLength, changetype<usize>(s), s.byteLength,
    changetype<usize>(m), m.byteLength, NO_METADATA, 4, message.dataStart, message.length, timeoutMs, RET);
  out.token = load<u32>(RET);
  return out;
}

/** The answer's message inside proxy_on_grpc_receive. */
export function grpcMessage(size: u32): Uint8Array {
  const b = size > 0 ? getBuffer(BufferType.GrpcReceiveBuffer, 0, size) : null;
  return b !== null ? Uint8Array.wrap(b) : new Uint8Array(0);
}

/** proxy_get_status's message inside proxy_on_grpc_close ("" when none). */
export function grpcStatusMessage(): string {
  store<u64>(RET, 0);
  store<u32>(RET + 8, 0);
  const r = imp.proxy_get_status(RET + 8, RET, RET + 4);
  const ptr = load<u32>(RET);
  const n = load<u32>(RET + 4);
  if (r != 0 || ptr == 0 || n == 0) return "";
  const buf = changetype<ArrayBuffer>(<usize>ptr);
  __unpin(<usize>ptr);
  return String.UTF8.decode(buf);
}

/** Lets a held request go on (proxy_continue_stream(Request)). */
export function continueRequest(): u32 {
  return imp.proxy_continue_stream(0);
}
