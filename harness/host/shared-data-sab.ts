/**
 * Shared data in a SharedArrayBuffer, for worker VMs that run in parallel threads (one
 * PluginHost per worker_thread, all on one buffer) — the way Envoy's worker threads share one
 * SharedData behind a mutex (proxy-wasm-cpp-host src/shared_data.cc). Same semantics as
 * SharedData: one process-wide CAS counter from 1 that skips 0; a set with cas ≠ 0 on an existing
 * key whose cas differs fails with CasMismatch; cas 0 or a missing key always succeeds.
 *
 * Layout (little-endian): [0] lock (i32), [4] next cas (u32), then SLOTS slots of SLOT bytes:
 * [0] used (i32), [4] cas (u32), [8] key length, [12] value length, [16..) key bytes (KEY_MAX),
 * then value bytes (VALUE_MAX). A key is "<vm_id>\0<key>". Bounded: a store of a larger key or
 * value, or one more key than SLOTS, throws (a test setup error, not an ABI outcome).
 */
import { WasmResult } from "./abi.ts";

const KEY_MAX = 192;
const VALUE_MAX = 256;
const SLOT = 16 + KEY_MAX + VALUE_MAX;
const HEADER = 8;

export class SabSharedData {
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly slots: number;
  /** Not available across threads (each thread has its own JS heap). */
  interleave?: (vmId: string, key: string, found: boolean) => void;

  /** A new store (`slots` keys at most), or a view of `buffer` made by another thread. */
  constructor(bufferOrSlots: SharedArrayBuffer | number = 256) {
    this.buffer = typeof bufferOrSlots === "number" ? new SharedArrayBuffer(HEADER + bufferOrSlots * SLOT) : bufferOrSlots;
    this.slots = Math.floor((this.buffer.byteLength - HEADER) / SLOT);
    this.i32 = new Int32Array(this.buffer);
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    if (typeof bufferOrSlots === "number") Atomics.store(this.i32, 1, 1); // next cas
  }

  private lock(): void {
    while (Atomics.compareExchange(this.i32, 0, 0, 1) !== 0) Atomics.wait(this.i32, 0, 1, 1);
  }

  private unlock(): void {
    Atomics.store(this.i32, 0, 0);
    Atomics.notify(this.i32, 0, 1);
  }

  private nextCas(): number {
    const result = this.dv.getUint32(4, true);
    let next = (result + 1) >>> 0;
    if (next === 0) next = 1;
    this.dv.setUint32(4, next, true);
    return result;
  }

  private find(full: Uint8Array): number {
    for (let s = 0; s < this.slots; s++) {
      const at = HEADER + s * SLOT;
      if (this.dv.getInt32(at, true) === 0) continue;
      const len = this.dv.getUint32(at + 8, true);
      if (len !== full.length) continue;
      let same = true;
      for (let k = 0; k < len && same; k++) same = this.u8[at + 16 + k] === full[k];
      if (same) return at;
    }
    return -1;
  }

  private static full(vmId: string, key: string): Uint8Array {
    const b = Buffer.from(`${vmId}\u0000${key}`, "latin1");
    if (b.length > KEY_MAX) throw new Error(`SabSharedData: key longer than ${KEY_MAX} bytes: ${key}`);
    return b;
  }

  get(vmId: string, key: string): { value: Uint8Array; cas: number } | undefined {
    const full = SabSharedData.full(vmId, key);
    this.lock();
    try {
      const at = this.find(full);
      if (at < 0) return undefined;
      const len = this.dv.getUint32(at + 12, true);
      return { value: this.u8.slice(at + 16 + KEY_MAX, at + 16 + KEY_MAX + len), cas: this.dv.getUint32(at + 4, true) };
    } finally {
      this.unlock();
    }
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number): number {
    if (value.length > VALUE_MAX) throw new Error(`SabSharedData: value longer than ${VALUE_MAX} bytes for ${key}`);
    const full = SabSharedData.full(vmId, key);
    this.lock();
    try {
      let at = this.find(full);
      if (at >= 0 && cas !== 0 && cas >>> 0 !== this.dv.getUint32(at + 4, true)) return WasmResult.CasMismatch;
      if (at < 0) {
        for (let s = 0; s < this.slots && at < 0; s++) if (this.dv.getInt32(HEADER + s * SLOT, true) === 0) at = HEADER + s * SLOT;
        if (at < 0) throw new Error(`SabSharedData: more than ${this.slots} keys`);
        this.dv.setUint32(at + 8, full.length, true);
        this.u8.set(full, at + 16);
        this.dv.setInt32(at, 1, true);
      }
      this.dv.setUint32(at + 12, value.length, true);
      this.u8.set(value, at + 16 + KEY_MAX);
      this.dv.setUint32(at + 4, this.nextCas(), true);
      return WasmResult.Ok;
    } finally {
      this.unlock();
    }
  }

  keys(vmId: string): string[] {
    const out: string[] = [];
    this.lock();
    try {
      for (let s = 0; s < this.slots; s++) {
        const at = HEADER + s * SLOT;
        if (this.dv.getInt32(at, true) === 0) continue;
        const full = Buffer.from(this.u8.slice(at + 16, at + 16 + this.dv.getUint32(at + 8, true))).toString("latin1");
        const nul = full.indexOf("\u0000");
        if (full.slice(0, nul) === vmId) out.push(full.slice(nul + 1));
      }
    } finally {
      this.unlock();
    }
    return out;
  }
}
