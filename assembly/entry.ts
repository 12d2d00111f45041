// The module's entry: the proxy-wasm ABI exports and the root context registration.
// Top-level code runs in the wasm start section, before any context exists: it may only
// register root contexts (a host call here would crash Envoy).
// (This file must not be named assembly/index.ts: json-as's transform treats that path as
// a library and the module would come out empty.)

// The ABI markers, in this order: hosts take the first marker they know (BytecodeUtil::getAbiVersion,
// src/bytecode_util.cc). Higress's proxy-wasm fork knows 0_2_100 and then passes a headers
// StopIteration through (body mode works there); upstream Envoy does not know it, skips it and
// reads 0_2_0 (body mode needs allow_on_headers_stop_iteration). The callbacks are the same for
// both. test/host/abi-markers.test.ts pins the order.
export function proxy_abi_version_0_2_100(): void {}

export {
  proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_on_configure, proxy_on_tick, proxy_on_queue_ready,
  proxy_on_context_create, proxy_on_request_headers, proxy_on_request_body, proxy_on_request_trailers,
  proxy_on_response_headers, proxy_on_response_body, proxy_on_response_trailers,
  proxy_on_http_call_response, proxy_on_done, proxy_on_log, proxy_on_delete, malloc,
} from "@solo-io/proxy-runtime/assembly/proxy";
// gRPC answers (the rate limit service of clusterLimits).
export { proxy_on_grpc_receive, proxy_on_grpc_close } from "@solo-io/proxy-runtime/assembly/exports";
import { registerRootContext, RootContext } from "@solo-io/proxy-runtime/assembly";
import { FailoverRoot } from "./plugin/root";

function create(id: u32): RootContext {
  return new FailoverRoot(id);
}
registerRootContext(create, "ai-failover");
// Envoy passes root_id "" when the filter config names none.
registerRootContext(create, "");
