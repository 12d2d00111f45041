// Rewriting a header map in one host call: the map as read (one get_header_map_pairs) without the
// removed names, then the names set, sent as one proxy_set_header_map_pairs. Envoy's
// Context::setHeaderMapPairs removes every header and adds the pairs in order; replace is
// remove-all + add at the end and remove removes every value (source/extensions/common/wasm/
// context.cc): so the map ends as the same series of remove/replace calls would leave it, and
// a request map's route cache is cleared once, as by each of those calls.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";
import { ByteBuilder } from "../lib/bytes";
import { MapType } from "./calls";

/** Is the pair name at `p` (`n` bytes) `name` (lower-case ASCII), ASCII case-insensitively? */
function nameEquals(p: usize, n: i32, name: string): bool {
  if (n != name.length) return false;
  for (let k = 0; k < n; k++) {
    let c = <u32>load<u8>(p + <usize>k);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c != <u32>name.charCodeAt(k)) return false;
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
    // Which pairs stay (a pair past the end of a short buffer is dropped, as PairsReader stops there).
    const data = src + 4 + (<usize>count << 3);
    let at = data;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const ks = <usize>load<u32>(src + 4 + (<usize>i << 3));
      const vs = <usize>load<u32>(src + 8 + (<usize>i << 3));
      let stays = at + ks + vs + 2 <= srcEnd;
      for (let j = 0; stays && j < m; j++) if (nameEquals(at, <i32>ks, unchecked(names[j]))) stays = false;
      store<u8>(keep + <usize>i, stays ? 1 : 0);
      if (stays) kept++;
      at += ks + vs + 2;
    }
    let sets = 0;
    for (let j = 0; j < m; j++) if (unchecked(this.isSet[j])) sets++;
    // Count, sizes, then each name\0value\0; the kept pairs' bytes are copied as they are.
    const b = this.out;
    b.reset();
    b.u32le(<u32>(kept + sets));
    for (let i = 0; i < count; i++) if (load<u8>(keep + <usize>i) != 0) b.raw(src + 4 + (<usize>i << 3), 8);
    for (let j = 0; j < m; j++) {
      if (!unchecked(this.isSet[j])) continue;
      b.u32le(<u32>String.UTF8.byteLength(unchecked(names[j]))).u32le(<u32>String.UTF8.byteLength(unchecked(this.values[j])));
    }
    at = data;
    for (let i = 0; i < count; i++) {
      const n = <i32>(load<u32>(src + 4 + (<usize>i << 3)) + load<u32>(src + 8 + (<usize>i << 3)) + 2);
      if (load<u8>(keep + <usize>i) != 0) b.raw(at, n);
      at += <usize>n;
    }
    for (let j = 0; j < m; j++) {
      if (!unchecked(this.isSet[j])) continue;
      b.str(unchecked(names[j])).byte(0).str(unchecked(this.values[j])).byte(0);
    }
    return imp.proxy_set_header_map_pairs(map, b.buf.dataStart, b.len);
  }
}

/** One edit at a time per VM (the host copies the pairs during the call). */
export const headerEdit = new HeaderEdit();
