/** Host function implementations by `module.name`; the link step guarantees names and signatures. */
import { WASI_MODULES } from "../import-table.ts";
import type { WasmVm } from "../vm.ts";
import * as buffers from "./buffers.ts";
import * as grpc from "./grpc.ts";
import * as headerMaps from "./header-maps.ts";
import * as httpCall from "./http-call.ts";
import * as logging from "./logging.ts";
import * as metrics from "./metrics.ts";
import * as properties from "./properties.ts";
import * as redis from "./redis.ts";
import * as sharedData from "./shared-data.ts";
import * as sharedQueue from "./shared-queue.ts";
import * as streamControl from "./stream-control.ts";
import * as system from "./system.ts";
import * as wasi from "./wasi.ts";

// Host functions receive u32-normalised i32 args and bigint i64 args.
export type Hostcall = (vm: WasmVm, ...args: never[]) => number | void;

export const HOSTCALLS = new Map<string, Hostcall>();

for (const mod of [buffers, grpc, headerMaps, httpCall, logging, metrics, properties, redis, sharedData, sharedQueue, streamControl, system]) {
  for (const [name, fn] of Object.entries(mod)) {
    if (typeof fn === "function" && (name.startsWith("proxy_") || name === "pthread_equal" || name === "emscripten_notify_memory_growth")) {
      HOSTCALLS.set(`env.${name}`, fn as Hostcall);
    }
  }
}
for (const m of WASI_MODULES) {
  for (const [name, fn] of Object.entries(wasi)) HOSTCALLS.set(`${m}.${name}`, fn as Hostcall);
}
