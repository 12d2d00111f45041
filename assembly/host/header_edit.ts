// Rewriting a header map in one host call: the map as read (one get_header_map_pairs) without the
// removed names, then the names set, sent as one proxy_set_header_map_pairs. Envoy's
// Context::setHeaderMapPairs removes every header and adds the pairs in order; replace is
// remove-all + add at the end and remove removes every value (source/extensions/common/wasm/
// context.cc): so the map ends as the same series of remove/replace calls would leave it, and
// a request map's route cache is cleared once, as by each of those calls.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";
import { ByteBuilder } from "../lib/bytes";
import { MapType } from "./calls";

/** Is the pair name at `p` (`n` bytes) `name` (lower-case ASCII, `n` code units), ASCII case-insensitively? */
function nameEquals(p: usize, n: i32, name: string): bool {
  const q = changetype<usize>(name);
  for (let k = 0; k < n; k++) {
    let c = <u32>load<u8>(p + <usize>k);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c != <u32>load<u16>(q + (<usize>k << 1))) return false;
  }
  return true;
}

export class HeaderEdit {
  private names: string[] = [];
  /** Per name: removed (false) or set to the value of the same index (true). */
  private isSet: bool[] = [];
  private values: string[] = [];
  private n: i32 = 0;
  private keep: Uint8Array = new Uint8Array(64);
  /** Per set name: its UTF-8 size and its value's. */
  private sizes: Int32Array = new Int32Array(16);
  private out: ByteBuilder = new ByteBuilder(1024);

  /** Starts a new edit (the previous one's names are forgotten). */
  begin(): HeaderEdit {
    this.n = 0;
    return this;
  }

  /** Removes every value of `name` (lower case). */
  remove(name: string): HeaderEdit {
    return this.add(name, false, "");
  }

  /** Replaces every value of `name` (lower case) with one `value`, at the end of the map. */
  set(name: string, value: string): HeaderEdit {
    return this.add(name, true, value);
  }

  private add(name: string, isSet: bool, value: string): HeaderEdit {
    const i = this.n++;
    if (i < this.names.length) {
      unchecked((this.names[i] = name));
      unchecked((this.isSet[i] = isSet));
      unchecked((this.values[i] = value));
    } else {
      this.names.push(name);
      this.isSet.push(isSet);
      this.values.push(value);
    }
    return this;
  }

  /** Writes the edited map over `map`; `pairs` is that map as read (host/calls.ts getHeaderPairsRaw). */
  apply(map: MapType, pairs: ArrayBuffer): u32 {
    const src = changetype<usize>(pairs);
    const srcEnd = src + <usize>pairs.byteLength;
    const count = <i32>load<u32>(src);
    if (count > this.keep.length) this.keep = new Uint8Array(count);
    const keep = this.keep.dataStart;
    const names = this.names;
    const m = this.n;
    // Bit (n & 63) set when some edited name is n long: most pairs are kept on their name's length.
    let lengths: u64 = 0;
    for (let j = 0; j < m; j++) lengths |= <u64>1 << <u64>(unchecked(names[j]).length & 63);
    // Which pairs stay (a pair past the end of a short buffer is dropped, as PairsReader stops there).
    const data = src + 4 + (<usize>count << 3);
    let at = data;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const ks = <usize>load<u32>(src + 4 + (<usize>i << 3));
      const vs = <usize>load<u32>(src + 8 + (<usize>i << 3));
      let stays = at + ks + vs + 2 <= srcEnd;
      if (stays && (lengths & (<u64>1 << <u64>(ks & 63))) != 0) {
        for (let j = 0; j < m; j++) {
          const name = unchecked(names[j]);
          if (name.length == <i32>ks && nameEquals(at, <i32>ks, name)) { stays = false; break; }
        }
      }
      store<u8>(keep + <usize>i, stays ? 1 : 0);
      if (stays) kept++;
      at += ks + vs + 2;
    }
    // The sets' sizes, once.
    if (this.sizes.length < 2 * m) this.sizes = new Int32Array(2 * m);
    const sizes = this.sizes.dataStart;
    let sets = 0;
    let setBytes = 0;
    for (let j = 0; j < m; j++) {
      if (!unchecked(this.isSet[j])) continue;
      const nb = String.UTF8.byteLength(unchecked(names[j]));
      const vb = String.UTF8.byteLength(unchecked(this.values[j]));
      store<i32>(sizes + (<usize>j << 3), nb);
      store<i32>(sizes + (<usize>j << 3) + 4, vb);
      sets++;
      setBytes += 10 + nb + vb;
    }
    // Count, sizes, then each name\0value\0; the kept pairs' table entries and bytes are copied
    // as they are, a run of consecutive kept pairs at a time. No more than the map as read plus
    // the sets is written.
    const b = this.out;
    b.reset();
    b.reserve(pairs.byteLength + setBytes + 4);
    const base = b.buf.dataStart;
    let o = base;
    store<u32>(o, <u32>(kept + sets));
    o += 4;
    let i = 0;
    while (i < count) {
      if (load<u8>(keep + <usize>i) == 0) { i++; continue; }
      let j = i + 1;
      while (j < count && load<u8>(keep + <usize>j) != 0) j++;
      const n = <usize>(j - i) << 3;
      memory.copy(o, src + 4 + (<usize>i << 3), n);
      o += n;
      i = j;
    }
    for (let j = 0; j < m; j++) {
      if (!unchecked(this.isSet[j])) continue;
      store<u64>(o, load<u64>(sizes + (<usize>j << 3)));
      o += 8;
    }
    at = data;
    i = 0;
    while (i < count) {
      const ks = <usize>load<u32>(src + 4 + (<usize>i << 3));
      const vs = <usize>load<u32>(src + 8 + (<usize>i << 3));
      if (load<u8>(keep + <usize>i) == 0) { at += ks + vs + 2; i++; continue; }
      const from = at;
      while (i < count && load<u8>(keep + <usize>i) != 0) {
        at += <usize>load<u32>(src + 4 + (<usize>i << 3)) + <usize>load<u32>(src + 8 + (<usize>i << 3)) + 2;
        i++;
      }
      memory.copy(o, from, at - from);
      o += at - from;
    }
    for (let j = 0; j < m; j++) {
      if (!unchecked(this.isSet[j])) continue;
      const name = unchecked(names[j]);
      const value = unchecked(this.values[j]);
      String.UTF8.encodeUnsafe(changetype<usize>(name), name.length, o);
      o += <usize>load<i32>(sizes + (<usize>j << 3));
      store<u8>(o++, 0);
      String.UTF8.encodeUnsafe(changetype<usize>(value), value.length, o);
      o += <usize>load<i32>(sizes + (<usize>j << 3) + 4);
      store<u8>(o++, 0);
    }
    b.len = <i32>(o - base);
    return imp.proxy_set_header_map_pairs(map, base, <usize>b.len);
  }
}

/** One edit at a time per VM (the host copies the pairs during the call). */
export const headerEdit = new HeaderEdit();
