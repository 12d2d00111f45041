// FNV-1a hashes over a string's UTF-16 code units (both bytes of each), and hex formatting.
// The one hash of the filter: record fingerprints, shared-data fingerprints, budget keys.

export function fnv1a32(s: string): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = <u32>s.charCodeAt(i);
    h = (h ^ (c & 0xff)) * 0x01000193;
    h = (h ^ (c >> 8)) * 0x01000193;
  }
  return h;
}

export function fnv1a64(s: string): u64 {
  let h: u64 = 0xcbf29ce484222325;
  // Code units read straight from memory: this hashes whole configurations (megabytes).
  const p = changetype<usize>(s);
  const n = <usize>s.length;
  for (let i: usize = 0; i < n; i++) {
    const c = <u64>load<u16>(p + (i << 1));
    h = (h ^ (c & 0xff)) * 0x100000001b3;
    h = (h ^ (c >> 8)) * 0x100000001b3;
  }
  return h;
}

export function hex(v: u64, digits: i32): string {
  const chars = "0123456789abcdef";
  let s = "";
  for (let i = digits - 1; i >= 0; i--) s += chars.charAt(<i32>((v >> (<u64>(i * 4))) & 15));
  return s;
}
