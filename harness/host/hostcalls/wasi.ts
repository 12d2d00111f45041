/**
 * The WASI baseline Envoy registers (proxy-wasm-cpp-host src/exports.cc), served under both
 * wasi_unstable and wasi_snapshot_preview1. fd_write goes to the log (fd 1 info, fd 2 error,
 * one record per call, one trailing newline removed); environ_* serve only
 * vm_config.environment_variables; proc_exit logs and returns.
 */
import { WASI_RANDOM_GET_MAX_BYTES, WasiErrno } from "../abi.ts";
import { concatBytes, EMPTY, utf8 } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

function writev(vm: WasmVm, fd: number, iovs: number, iovsLen: number): { errno: number; written: number } {
  let level: 2 | 4;
  if (fd === 1) level = 2;
  else if (fd === 2) level = 4;
  else return { errno: WasiErrno.BADF, written: 0 };
  let data: Uint8Array = EMPTY;
  for (let i = 0; i < iovsLen; i++) {
    const buf = vm.memory.readU32(iovs + i * 8);
    const len = vm.memory.readU32(iovs + i * 8 + 4);
    if (buf === null || len === null) return { errno: WasiErrno.FAULT, written: 0 };
    if (len === 0) continue;
    const chunk = vm.memory.read(buf, len);
    if (!chunk) return { errno: WasiErrno.FAULT, written: 0 };
    data = concatBytes(data, chunk);
  }
  if (data.length > 0) {
    const end = data[data.length - 1] === 0x0a ? data.length - 1 : data.length;
    vm.log(level, utf8(data.subarray(0, end)));
  }
  return { errno: WasiErrno.SUCCESS, written: data.length };
}

export function fd_write(vm: WasmVm, fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
  const r = writev(vm, fd, iovs, iovsLen);
  if (r.errno !== WasiErrno.SUCCESS) return r.errno;
  return vm.memory.writeU32(nwrittenPtr, r.written) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
}

export function fd_read(): number {
  return WasiErrno.NOSYS;
}

export function fd_seek(vm: WasmVm): number {
  vm.log(0, "wasi_unstable fd_seek");
  return WasiErrno.SUCCESS;
}

export function fd_close(vm: WasmVm): number {
  vm.log(0, "wasi_unstable fd_close");
  return WasiErrno.SUCCESS;
}

export function fd_fdstat_get(vm: WasmVm, fd: number, statPtr: number): number {
  if (fd !== 1 && fd !== 2) return WasiErrno.BADF;
  // 24 bytes, fs_rights_base = FD_WRITE (64); Envoy ignores a failed write here.
  const stat = new Uint8Array(24);
  new DataView(stat.buffer).setBigUint64(8, 64n, true);
  vm.memory.write(statPtr, stat);
  return WasiErrno.SUCCESS;
}

function envEntries(vm: WasmVm): Uint8Array[] {
  return vm.opts.environment.map(([k, v]) => new Uint8Array(Buffer.from(`${k}=${v}\u0000`, "utf8")));
}

export function environ_get(vm: WasmVm, arrayPtr: number, bufPtr: number): number {
  for (const e of envEntries(vm)) {
    if (!vm.memory.writeU32(arrayPtr, bufPtr)) return WasiErrno.FAULT;
    if (!vm.memory.write(bufPtr, e)) return WasiErrno.FAULT;
    bufPtr += e.length;
    arrayPtr += 4;
  }
  return WasiErrno.SUCCESS;
}

export function environ_sizes_get(vm: WasmVm, countPtr: number, sizePtr: number): number {
  const entries = envEntries(vm);
  if (!vm.memory.writeU32(countPtr, entries.length)) return WasiErrno.FAULT;
  const size = entries.reduce((n, e) => n + e.length, 0);
  return vm.memory.writeU32(sizePtr, size) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
}

export function args_get(): number {
  return WasiErrno.SUCCESS;
}

export function args_sizes_get(vm: WasmVm, argcPtr: number, sizePtr: number): number {
  if (!vm.memory.writeU32(argcPtr, 0)) return WasiErrno.FAULT;
  return vm.memory.writeU32(sizePtr, 0) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
}

export function clock_time_get(vm: WasmVm, clockId: number, _precision: bigint, resultPtr: number): number {
  let t: bigint;
  if (clockId === 0) t = vm.opts.clockNs();
  else if (clockId === 1) t = vm.opts.monotonicNs();
  else return WasiErrno.NOTSUP;
  return vm.memory.writeU64(resultPtr, t) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
}

export function random_get(vm: WasmVm, ptr: number, len: number): number {
  if (len > WASI_RANDOM_GET_MAX_BYTES) return WasiErrno.INVAL;
  if (len === 0) return WasiErrno.SUCCESS;
  const buf = new Uint8Array(len);
  vm.opts.random(buf);
  return vm.memory.write(ptr, buf) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
}

export function proc_exit(vm: WasmVm, code: number): void {
  vm.log(4, `wasi_unstable proc_exit (${code})`);
}

export function path_open(): number {
  return WasiErrno.NOENT;
}

export function fd_prestat_get(): number {
  return WasiErrno.BADF;
}

export function fd_prestat_dir_name(): number {
  return WasiErrno.NOSYS;
}
