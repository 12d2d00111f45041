// Higress's proxy_inject_encoded_data_to_filter_chain (higress-group/proxy-wasm-cpp-host
// include/proxy-wasm/exports.h FOR_ALL_HOST_FUNCTIONS, src/exports.cc): bytes into the encoder
// chain after this filter, from any context of the stream (a tick included: Higress's Envoy posts
// it to the stream's dispatcher). Upstream Envoy has no such import: only the Higress build
// (assembly/entry_higress.ts) reaches this file (test/host/build-split.test.ts).

import { ResponseInjector } from "./stream_end";

@external("env", "proxy_inject_encoded_data_to_filter_chain")
declare function proxy_inject_encoded_data_to_filter_chain(dataPtr: usize, dataSize: usize, endStream: u32): u32;

export class HigressInjector extends ResponseInjector {
  inject(data: Uint8Array, endStream: bool): bool {
    return proxy_inject_encoded_data_to_filter_chain(data.dataStart, <usize>data.length, endStream ? 1 : 0) == 0;
  }
}
