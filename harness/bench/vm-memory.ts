/**
 * Linear-memory size of each worker VM of a PluginHost. The host exposes no accessor, so this
 * reads its worker slots (PluginHost.slots[i].vm.wasmMemory); it fails loudly if that changes.
 */
export function workerMemoryBytes(host: unknown): number[] {
  const slots = (host as { slots?: Array<{ vm?: { wasmMemory?: WebAssembly.Memory } }> }).slots;
  if (!Array.isArray(slots) || slots.some((s) => !(s.vm?.wasmMemory instanceof WebAssembly.Memory))) {
    throw new Error("bench: PluginHost worker slots changed shape (slots[i].vm.wasmMemory); update harness/bench/vm-memory.ts");
  }
  return slots.map((s) => s.vm!.wasmMemory!.buffer.byteLength);
}
