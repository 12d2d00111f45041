/**
 * What Envoy (proxy-wasm-cpp-host WasmBase::registerCallbacks) registers for a module, by
 * `module.name` with the exact wasm signature. `Word` is i32 on wasm32; int64_t/uint64_t are i64.
 *
 * The WASI set is the long-standing baseline (cpp-host before 2024); newer hosts register more
 * WASI stubs, but a module that needs them would not load on older Envoys, so the harness keeps
 * the baseline. `env.envoy_resolve_dns` (Envoy-only) is deliberately absent.
 */
import type { AbiVersion, HostFlavour } from "./abi.ts";
import type { FuncType, ValType } from "./wasm-binary.ts";

const I = "i32" as const;
const L = "i64" as const;

function sig(params: ValType[], results: ValType[] = [I]): FuncType {
  return { params, results };
}
function words(n: number): ValType[] {
  return Array.from({ length: n }, () => I);
}

/** proxy_* functions registered for every ABI version (FOR_ALL_HOST_FUNCTIONS). */
const PROXY_COMMON: Record<string, FuncType> = {
  proxy_log: sig(words(3)),
  proxy_get_status: sig(words(3)),
  proxy_set_property: sig(words(4)),
  proxy_get_property: sig(words(4)),
  proxy_send_local_response: sig(words(8)),
  proxy_get_shared_data: sig(words(5)),
  proxy_set_shared_data: sig(words(5)),
  proxy_register_shared_queue: sig(words(3)),
  proxy_resolve_shared_queue: sig(words(5)),
  proxy_dequeue_shared_queue: sig(words(3)),
  proxy_enqueue_shared_queue: sig(words(3)),
  proxy_get_header_map_value: sig(words(5)),
  proxy_add_header_map_value: sig(words(5)),
  proxy_replace_header_map_value: sig(words(5)),
  proxy_remove_header_map_value: sig(words(3)),
  proxy_get_header_map_pairs: sig(words(3)),
  proxy_set_header_map_pairs: sig(words(3)),
  proxy_get_header_map_size: sig(words(2)),
  proxy_get_buffer_status: sig(words(3)),
  proxy_get_buffer_bytes: sig(words(5)),
  proxy_set_buffer_bytes: sig(words(5)),
  proxy_http_call: sig(words(10)),
  proxy_grpc_call: sig(words(12)),
  proxy_grpc_stream: sig(words(9)),
  proxy_grpc_close: sig(words(1)),
  proxy_grpc_cancel: sig(words(1)),
  proxy_grpc_send: sig(words(4)),
  proxy_set_tick_period_milliseconds: sig(words(1)),
  proxy_get_current_time_nanoseconds: sig(words(1)),
  proxy_define_metric: sig(words(4)),
  proxy_increment_metric: sig([I, L]),
  proxy_record_metric: sig([I, L]),
  proxy_get_metric: sig(words(2)),
  proxy_set_effective_context: sig(words(1)),
  proxy_done: sig([]),
  proxy_call_foreign_function: sig(words(6)),
};

const PROXY_ABI_SPECIFIC: Record<AbiVersion, Record<string, FuncType>> = {
  "0_1_0": {
    proxy_get_configuration: sig(words(2)),
    proxy_continue_request: sig([]),
    proxy_continue_response: sig([]),
    proxy_clear_route_cache: sig([]),
  },
  "0_2_0": {
    proxy_continue_stream: sig(words(1)),
    proxy_close_stream: sig(words(1)),
  },
  "0_2_1": {
    proxy_continue_stream: sig(words(1)),
    proxy_close_stream: sig(words(1)),
    proxy_get_log_level: sig(words(1)),
  },
  // Higress's fork (WasmBase::registerCallbacks): as 0_2_1. Its own calls are in HIGRESS_ONLY.
  "0_2_100": {
    proxy_continue_stream: sig(words(1)),
    proxy_close_stream: sig(words(1)),
    proxy_get_log_level: sig(words(1)),
  },
};

/**
 * Calls only Higress's fork registers (higress-group/proxy-wasm-cpp-host exports.h
 * FOR_ALL_HOST_FUNCTIONS, so for every ABI version): the harness implements the redis pair and
 * proxy_inject_encoded_data_to_filter_chain and offers them when it plays Higress; upstream Envoy
 * has none of them, so there a module importing them fails to load ("missing import"). Its other
 * additions (proxy_get_upstream_hosts, proxy_set_upstream_override_host) are not offered.
 */
const HIGRESS_ONLY: Record<string, FuncType> = {
  proxy_redis_init: sig(words(7)),
  proxy_redis_call: sig(words(5)),
  // (body_ptr, body_size, end_stream) -> WasmResult
  proxy_inject_encoded_data_to_filter_chain: sig(words(3)),
};

const ENV_MISC: Record<string, FuncType> = {
  pthread_equal: sig(words(2)),
  emscripten_notify_memory_growth: sig([I], []),
};

/** WASI baseline (FOR_ALL_WASI_FUNCTIONS), registered under both module names. */
const WASI: Record<string, FuncType> = {
  fd_write: sig(words(4)),
  fd_read: sig(words(4)),
  fd_seek: sig([I, L, I, I]),
  fd_close: sig(words(1)),
  fd_fdstat_get: sig(words(2)),
  environ_get: sig(words(2)),
  environ_sizes_get: sig(words(2)),
  args_get: sig(words(2)),
  args_sizes_get: sig(words(2)),
  clock_time_get: sig([I, L, I]),
  random_get: sig(words(2)),
  proc_exit: sig([I], []),
  path_open: sig([I, I, I, I, I, L, L, I, I]),
  fd_prestat_get: sig(words(2)),
  fd_prestat_dir_name: sig(words(3)),
};

export const WASI_MODULES = ["wasi_unstable", "wasi_snapshot_preview1"] as const;

/** The full import table for one ABI version (and host), keyed by `module.name`. */
export function envoyImportTable(abi: AbiVersion, flavour: HostFlavour = "envoy"): Map<string, FuncType> {
  const table = new Map<string, FuncType>();
  for (const [name, t] of Object.entries(ENV_MISC)) table.set(`env.${name}`, t);
  for (const m of WASI_MODULES) for (const [name, t] of Object.entries(WASI)) table.set(`${m}.${name}`, t);
  for (const [name, t] of Object.entries(PROXY_COMMON)) table.set(`env.${name}`, t);
  for (const [name, t] of Object.entries(PROXY_ABI_SPECIFIC[abi])) table.set(`env.${name}`, t);
  if (flavour === "higress") for (const [name, t] of Object.entries(HIGRESS_ONLY)) table.set(`env.${name}`, t);
  return table;
}

/**
 * Exports the host looks up (WasmBase::getFunctions) with the signature it requires. A present
 * export with another signature fails the load ("Bad function signature for: ...").
 */
export function expectedExports(abi: AbiVersion, flavour: HostFlavour = "envoy"): Map<string, FuncType> {
  const e = new Map<string, FuncType>();
  const v = (n: number): FuncType => sig(words(n), []);
  const w = (n: number): FuncType => sig(words(n));
  e.set("_initialize", v(0));
  e.set("_start", v(0));
  e.set("main", w(2));
  e.set("__main_void", w(0));
  e.set("malloc", w(1));
  e.set("proxy_on_memory_allocate", w(1));
  e.set("proxy_validate_configuration", w(2));
  e.set("proxy_on_vm_start", w(2));
  e.set("proxy_on_configure", w(2));
  e.set("proxy_on_tick", v(1));
  e.set("proxy_on_context_create", v(2));
  e.set("proxy_on_new_connection", w(1));
  e.set("proxy_on_downstream_data", w(3));
  e.set("proxy_on_upstream_data", w(3));
  e.set("proxy_on_downstream_connection_close", v(2));
  e.set("proxy_on_upstream_connection_close", v(2));
  e.set("proxy_on_request_body", w(3));
  e.set("proxy_on_request_trailers", w(2));
  e.set("proxy_on_request_metadata", w(2));
  e.set("proxy_on_response_body", w(3));
  e.set("proxy_on_response_trailers", w(2));
  e.set("proxy_on_response_metadata", w(2));
  e.set("proxy_on_http_call_response", v(5));
  // Higress: (root_context_id, token, status, response_size), FOR_ALL_MODULE_FUNCTIONS.
  if (flavour === "higress") e.set("proxy_on_redis_call_response", v(4));
  e.set("proxy_on_grpc_receive", v(3));
  e.set("proxy_on_grpc_close", v(3));
  e.set("proxy_on_grpc_receive_initial_metadata", v(3));
  e.set("proxy_on_grpc_receive_trailing_metadata", v(3));
  e.set("proxy_on_queue_ready", v(2));
  e.set("proxy_on_done", w(1));
  e.set("proxy_on_log", v(1));
  e.set("proxy_on_delete", v(1));
  if (abi === "0_1_0") {
    e.set("proxy_on_request_headers", w(2));
    e.set("proxy_on_response_headers", w(2));
  } else {
    e.set("proxy_on_request_headers", w(3));
    e.set("proxy_on_response_headers", w(3));
    e.set("proxy_on_foreign_function", v(3));
  }
  return e;
}
