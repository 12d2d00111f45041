/**
 * proxy_get_property / proxy_set_property. Paths are segments joined by NUL. Lookup (Envoy
 * Context::findValue, source/extensions/common/wasm/context.cc): plugin_* tokens, then the
 * stream's properties — stream info under Envoy's top-level names only (request, response,
 * connection, upstream, source, destination, metadata, filter_state, xds, upstream_filter_state),
 * `connection_id`, or filter state set by the module — then plugin-level properties from
 * PluginOptions (same top-level names; on a root context, which has no stream info, only `xds`).
 * Anything else is NotFound: Envoy 1.33 removed the legacy top-level `route_name`, `cluster_name`,
 * `node`, … (use `xds.route_name`, …).
 */
import { ENVOY_ACTIVATION_TOKENS, WasmResult } from "../abi.ts";
import { latin1, toBytes } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function lookupProperty(vm: WasmVm, path: string): Uint8Array | undefined {
  switch (path) {
    case "plugin_root_id":
      return toBytes(vm.opts.rootId);
    case "plugin_name":
      return toBytes(vm.opts.pluginName);
    case "plugin_vm_id":
      return toBytes(vm.opts.vmId);
  }
  // Higress's Envoy (1.27) still answers the legacy top-level names; `node` is the bootstrap's
  // node, from the root context too (Context::findValue NODE: root_local_info_ or the plugin's
  // local info). Only its `id` is played here (empty: the harness has no node id).
  if (vm.opts.flavour === "higress" && path === "node\u0000id") return new Uint8Array(0);
  const ctx = vm.context();
  const fromStream = ctx.streamProperty(path);
  if (fromStream !== undefined) return fromStream;
  const top = path.split("\u0000")[0]!;
  if (!ENVOY_ACTIVATION_TOKENS.has(top) || (ctx.isRoot() && top !== "xds")) return undefined;
  return vm.opts.properties.get(path);
}

export function proxy_get_property(vm: WasmVm, pathPtr: number, pathSize: number, retPtr: number, retSize: number): number {
  const path = vm.memory.read(pathPtr, pathSize);
  if (!path) return WasmResult.InvalidMemoryAccess;
  // A trailing NUL ends the path (Envoy splits on NUL and stops at the end).
  let p = latin1(path);
  if (p.endsWith("\u0000")) p = p.slice(0, -1);
  const value = lookupProperty(vm, p);
  if (value === undefined) return WasmResult.NotFound;
  return vm.copyToPointerSize(value, retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_set_property(vm: WasmVm, pathPtr: number, pathSize: number, valPtr: number, valSize: number): number {
  const path = vm.memory.read(pathPtr, pathSize);
  const value = vm.memory.read(valPtr, valSize);
  if (!path || !value) return WasmResult.InvalidMemoryAccess;
  return vm.context().setFilterState(latin1(path), value);
}
