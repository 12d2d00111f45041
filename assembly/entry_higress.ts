// The Higress build's entry (build/ai-failover-higress.wasm): everything the Envoy build exports,
// plus Higress's Redis calls for clusterLimits.redis and its response injection (a stalled stream
// ends with an SSE error event). Those imports (proxy_redis_init, proxy_redis_call,
// proxy_inject_encoded_data_to_filter_chain) exist only in Higress's proxy-wasm host: a module
// importing them does not load in upstream Envoy, so only this entry reaches them
// (test/host/build-split.test.ts checks both modules' imports).

export * from "./entry";

import { getRootContext } from "@solo-io/proxy-runtime/assembly/runtime";
import { registerRedisEngine } from "./plugin/cluster/engine";
import { RedisEngine } from "./plugin/cluster/redis_engine";
import { FailoverRoot } from "./plugin/root";
import { registerResponseInjector } from "./host/stream_end";
import { HigressInjector } from "./host/higress_inject";

// Start section: no host call, only the registrations.
registerRedisEngine(new RedisEngine());
// A stalled stream ends with an SSE error event (Higress's inject_encoded_data_to_filter_chain), not a reset.
registerResponseInjector(new HigressInjector());

/**
 * Higress: a Redis reply, or a failed call (status 1, size 0), for the root context
 * (higress-group/proxy-wasm-cpp-host src/context.cc ContextBase::onRedisCallResponse).
 */
export function proxy_on_redis_call_response(rootContextId: u32, token: u32, status: u32, responseSize: u32): void {
  const root = getRootContext(rootContextId);
  if (root instanceof FailoverRoot) changetype<FailoverRoot>(root).onRedisCallResponse(token, status, responseSize);
}
