/**
 * Metrics (Envoy Context::defineMetric/incrementMetric/recordMetric/getMetric): ids per VM with
 * the type in the low two bits (counters 4, 8, …; gauges 5, 9, …; histograms 6, 10, …); values
 * process-wide by name. Counters only increase: increment with offset ≤ 0 is BadArgument.
 * record: counters add, gauges set, histograms record one observation (value as u64).
 * Histograms cannot be incremented or read back (BadArgument), as in Envoy.
 */
import { MetricType, WasmResult } from "../abi.ts";
import { utf8 } from "../bytes.ts";
import { observe } from "../stats.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_define_metric(vm: WasmVm, type: number, namePtr: number, nameSize: number, idPtr: number): number {
  const name = vm.memory.read(namePtr, nameSize);
  if (!name) return WasmResult.InvalidMemoryAccess;
  if (type > MetricType.MAX) return WasmResult.BadArgument;
  const kind = type === 0 ? "counter" : type === 1 ? "gauge" : "histogram";
  const id = vm.nextMetricId(type as 0 | 1 | 2);
  vm.metrics.set(id, vm.env.process.stats.stat(kind, utf8(name)));
  return vm.memory.writeU32(idPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_increment_metric(vm: WasmVm, id: number, offset: bigint): number {
  const type = id & 3;
  const stat = vm.metrics.get(id);
  if (type === MetricType.Counter) {
    if (!stat) return WasmResult.NotFound;
    if (offset <= 0n) return WasmResult.BadArgument;
    stat.value = BigInt.asUintN(64, stat.value + offset);
    return WasmResult.Ok;
  }
  if (type === MetricType.Gauge) {
    if (!stat) return WasmResult.NotFound;
    stat.value = BigInt.asUintN(64, stat.value + offset);
    return WasmResult.Ok;
  }
  return WasmResult.BadArgument;
}

export function proxy_record_metric(vm: WasmVm, id: number, value: bigint): number {
  const stat = vm.metrics.get(id);
  if (!stat) return WasmResult.NotFound;
  const v = BigInt.asUintN(64, value);
  if (stat.type === "counter") stat.value = BigInt.asUintN(64, stat.value + v);
  else if (stat.type === "gauge") stat.value = v;
  else observe(stat, v);
  return WasmResult.Ok;
}

export function proxy_get_metric(vm: WasmVm, id: number, retPtr: number): number {
  const type = id & 3;
  if (type !== MetricType.Counter && type !== MetricType.Gauge) return WasmResult.BadArgument;
  const stat = vm.metrics.get(id);
  if (!stat) return WasmResult.NotFound;
  return vm.memory.writeU64(retPtr, stat.value) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}
