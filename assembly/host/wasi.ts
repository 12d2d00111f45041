// WASI calls Envoy provides: environment (vm_config.environment_variables) and randomness.

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_sizes_get")
declare function environ_sizes_get(countPtr: usize, sizePtr: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_get")
declare function environ_get(environPtr: usize, bufPtr: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(bufPtr: usize, len: usize): i32;

const SIZES = memory.data(8);

/** The VM's environment as a map (only what vm_config.environment_variables exposes). */
export function readEnvironment(): Map<string, string> {
  const out = new Map<string, string>();
  if (environ_sizes_get(SIZES, SIZES + 4) != 0) return out;
  const count = load<u32>(SIZES);
  const size = load<u32>(SIZES + 4);
  if (count == 0 || size == 0 || count > 100000 || size > 16777216) return out;
  const ptrs = new ArrayBuffer(<i32>count * 4);
  const buf = new ArrayBuffer(<i32>size);
  if (environ_get(changetype<usize>(ptrs), changetype<usize>(buf)) != 0) return out;
  const base = changetype<usize>(buf);
  const end = base + <usize>size;
  for (let i: u32 = 0; i < count; i++) {
    const p = <usize>load<u32>(changetype<usize>(ptrs) + <usize>i * 4);
    if (p < base || p >= end) continue;
    let e = p;
    while (e < end && load<u8>(e) != 0) e++;
    const entry = String.UTF8.decodeUnsafe(p, e - p);
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    out.set(entry.substring(0, eq), entry.substring(eq + 1));
  }
  return out;
}

export function randomU64(): u64 {
  const b = memory.data(8);
  if (random_get(b, 8) != 0) return 0x243f6a8885a308d3;
  return load<u64>(b);
}
