/** Shared queues; on_queue_ready goes to the registering VM's root context. */
import { WasmResult } from "../abi.ts";
import { latin1 } from "../bytes.ts";
import type { WasmVm } from "../vm.ts";

export function proxy_register_shared_queue(vm: WasmVm, namePtr: number, nameSize: number, tokenPtr: number): number {
  const name = vm.memory.read(namePtr, nameSize);
  if (!name) return WasmResult.InvalidMemoryAccess;
  const ctx = vm.context();
  const token = vm.env.process.queues.register(vm.opts.vmId, latin1(name), ctx.root().id, vm.env.queueTarget);
  return vm.memory.writeU32(tokenPtr, token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_resolve_shared_queue(vm: WasmVm, vmIdPtr: number, vmIdSize: number, namePtr: number, nameSize: number, tokenPtr: number): number {
  const vmId = vm.memory.read(vmIdPtr, vmIdSize);
  const name = vm.memory.read(namePtr, nameSize);
  if (!vmId || !name) return WasmResult.InvalidMemoryAccess;
  const id = vmId.length === 0 ? vm.opts.vmId : latin1(vmId);
  const token = vm.env.process.queues.resolve(id, latin1(name));
  if (vm.failed || token === 0) return WasmResult.NotFound;
  return vm.memory.writeU32(tokenPtr, token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}

export function proxy_enqueue_shared_queue(vm: WasmVm, token: number, dataPtr: number, dataSize: number): number {
  const data = vm.memory.read(dataPtr, dataSize);
  if (!data) return WasmResult.InvalidMemoryAccess;
  return vm.env.process.queues.enqueue(token, data);
}

export function proxy_dequeue_shared_queue(vm: WasmVm, token: number, retPtr: number, retSize: number): number {
  const r = vm.env.process.queues.dequeue(token);
  if (r.result !== WasmResult.Ok) return r.result;
  return vm.copyToPointerSize(r.data!, retPtr, retSize) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
}
