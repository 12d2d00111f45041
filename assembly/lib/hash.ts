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
  return new Fnv64().str(s).h;
}

/** The low `digits` hex digits of `v` (0 < digits ≤ 16), most significant first. */
export function hex(v: u64, digits: i32): string {
  const s = changetype<string>(__new((<usize>digits) << 1, idof<string>()));
  const p = changetype<usize>(s);
  for (let i = 0; i < digits; i++) {
    const d = <i32>((v >> (<u64>((digits - 1 - i) * 4))) & 15);
    store<u16>(p + ((<usize>i) << 1), <u16>(d < 10 ? 48 + d : 87 + d));
  }
  return s;
}

/** FNV-1a 64 fed piece by piece: the same hash as fnv1a64 of the pieces joined, with no string made. */
export class Fnv64 {
  h: u64 = 0xcbf29ce484222325;

  str(s: string): Fnv64 {
    let h = this.h;
    // Code units read straight from memory: this hashes whole configurations (megabytes).
    const p = changetype<usize>(s);
    const n = <usize>s.length;
    for (let i: usize = 0; i < n; i++) {
      const c = <u64>load<u16>(p + (i << 1));
      h = (h ^ (c & 0xff)) * 0x100000001b3;
      h = (h ^ (c >> 8)) * 0x100000001b3;
    }
    this.h = h;
    return this;
  }

  /** The decimal digits of `v` (as v.toString() would give them). */
  int(v: i32): Fnv64 {
    return this.str(v.toString());
  }

  /** The low `digits` hex digits of `v` (as hex(v, digits) would give them). */
  hex(v: u64, digits: i32): Fnv64 {
    let h = this.h;
    for (let i = digits - 1; i >= 0; i--) {
      const d = <i32>((v >> (<u64>(i * 4))) & 15);
      h = (h ^ <u64>(d < 10 ? 48 + d : 87 + d)) * 0x100000001b3;
      h = h * 0x100000001b3; // the high byte of an ASCII code unit: 0
    }
    this.h = h;
    return this;
  }
}
