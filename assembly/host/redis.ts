// Higress's Redis calls as non-trapping adapters. These imports exist only in Higress's proxy-wasm
// host (higress-group/proxy-wasm-cpp-host include/proxy-wasm/exports.h FOR_ALL_HOST_FUNCTIONS,
// src/exports.cc redis_init/redis_call; higress-group/envoy source/extensions/common/wasm/context.cc
// Context::redisInit/redisCall): upstream Envoy has none, and a module importing them does not
// load there. Only the Higress build (assembly/entry_higress.ts) reaches this file, so the Envoy
// build does not import them (AssemblyScript drops unused imports; test/host/build-split.test.ts).
//
//   proxy_redis_init(cluster, username, password, timeout_ms): the cluster's client config (the op
//     timeout; "?db=N" on the cluster name selects a database); closes its open connections.
//   proxy_redis_call(cluster, query, *token): `query` is one RESP-encoded command; the reply comes to
//     proxy_on_redis_call_response(root_id, token, status 0 = Ok | 1 = NetworkError, size), its raw
//     RESP bytes in buffer type 9 (RedisCallResponse).

import { BufferType, getBuffer } from "./calls";

@external("env", "proxy_redis_init")
declare function proxy_redis_init(clusterPtr: usize, clusterSize: usize, userPtr: usize, userSize: usize, passwordPtr: usize,
  passwordSize: usize, timeoutMs: u32): u32;

@external("env", "proxy_redis_call")
declare function proxy_redis_call(clusterPtr: usize, clusterSize: usize, queryPtr: usize, querySize: usize, tokenPtr: usize): u32;


/** proxy_on_redis_call_response's status: the reply arrived. Anything else: the call failed (no reply). */
export const REDIS_OK: u32 = 0;

const RET = memory.data(8);

/** Configures the client of `cluster` (password bytes are handed to the host and kept nowhere else). */
export function redisInit(cluster: string, username: string, password: string, timeoutMs: u32): u32 {
  const c = String.UTF8.encode(cluster);
  const u = String.UTF8.encode(username);
  const p = String.UTF8.encode(password);
  return proxy_redis_init(changetype<usize>(c), c.byteLength, changetype<usize>(u), u.byteLength, changetype<usize>(p), p.byteLength, timeoutMs);
}

export class RedisStart {
  result: u32 = 0;
  token: u32 = 0;
}

/** Sends one RESP command on `cluster`. Result Ok with the token; otherwise no callback comes. */
export function redisCall(cluster: string, query: Uint8Array): RedisStart {
  const c = String.UTF8.encode(cluster);
  store<u32>(RET, 0);
  const out = new RedisStart();
  out.result = proxy_redis_call(changetype<usize>(c), c.byteLength, query.dataStart, query.length, RET);
  out.token = load<u32>(RET);
  return out;
}

/** The reply's bytes inside proxy_on_redis_call_response. */
export function redisReply(size: u32): Uint8Array {
  const b = size > 0 ? getBuffer(BufferType.RedisCallResponse, 0, size) : null;
  return b !== null ? Uint8Array.wrap(b) : new Uint8Array(0);
}
