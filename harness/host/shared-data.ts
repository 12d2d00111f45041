/**
 * Process-wide shared data (proxy-wasm-cpp-host src/shared_data.cc): keyed by vm_id, one global
 * CAS counter starting at 1 and skipping 0. A set with cas ≠ 0 on an existing key whose cas
 * differs fails with CasMismatch; cas 0 or a missing key always succeeds.
 */
import { WasmResult } from "./abi.ts";

export class SharedData {
  private readonly data = new Map<string, Map<string, { value: Uint8Array; cas: number }>>();
  private cas = 1;
  /**
   * Called after a VM's proxy_get_shared_data read `key` and before the VM continues: what
   * happens here happens between that VM's read and its next write. The harness runs every VM on
   * one thread, so without this no two workers' read-modify-writes ever interleave; tests use it
   * to make them (e.g. run another worker's request right there).
   */
  interleave?: (vmId: string, key: string, found: boolean) => void;

  private nextCas(): number {
    const result = this.cas;
    this.cas = (this.cas + 1) >>> 0;
    if (this.cas === 0) this.cas = 1;
    return result;
  }

  get(vmId: string, key: string): { value: Uint8Array; cas: number } | undefined {
    return this.data.get(vmId)?.get(key);
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number): number {
    let map = this.data.get(vmId);
    if (!map) {
      map = new Map();
      this.data.set(vmId, map);
    }
    const existing = map.get(key);
    if (existing && cas !== 0 && cas !== existing.cas) return WasmResult.CasMismatch;
    map.set(key, { value: value.slice(), cas: this.nextCas() });
    return WasmResult.Ok;
  }

  keys(vmId: string): string[] {
    return [...(this.data.get(vmId)?.keys() ?? [])];
  }
}
