/**
 * Bounds-checked access to a VM's linear memory. The buffer is re-read on every access:
 * any call into the VM (including the allocator) may grow memory and detach old views.
 */
export class VmMemory {
  constructor(private readonly memory: () => WebAssembly.Memory) {}

  private bytes(): Uint8Array {
    return new Uint8Array(this.memory().buffer);
  }

  inBounds(ptr: number, size: number): boolean {
    const len = this.memory().buffer.byteLength;
    return ptr >= 0 && size >= 0 && ptr <= 0xffffffff && size <= 0xffffffff && ptr + size <= len;
  }

  /** A copy of [ptr, ptr+size), or null when out of bounds. */
  read(ptr: number, size: number): Uint8Array | null {
    if (!this.inBounds(ptr, size)) return null;
    return this.bytes().slice(ptr, ptr + size);
  }

  write(ptr: number, data: Uint8Array): boolean {
    if (!this.inBounds(ptr, data.length)) return false;
    this.bytes().set(data, ptr);
    return true;
  }

  readU32(ptr: number): number | null {
    if (!this.inBounds(ptr, 4)) return null;
    return new DataView(this.memory().buffer).getUint32(ptr, true);
  }

  writeU32(ptr: number, value: number): boolean {
    if (!this.inBounds(ptr, 4)) return false;
    new DataView(this.memory().buffer).setUint32(ptr, value >>> 0, true);
    return true;
  }

  writeU64(ptr: number, value: bigint): boolean {
    if (!this.inBounds(ptr, 8)) return false;
    new DataView(this.memory().buffer).setBigUint64(ptr, BigInt.asUintN(64, value), true);
    return true;
  }

  writeU16(ptr: number, value: number): boolean {
    if (!this.inBounds(ptr, 2)) return false;
    new DataView(this.memory().buffer).setUint16(ptr, value, true);
    return true;
  }
}
