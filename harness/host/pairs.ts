/**
 * Header-pair wire format (proxy-wasm-cpp-host src/pairs_util.cc), all u32 little-endian:
 * count, then (name_len, value_len) × count, then `name\0value\0` for each pair.
 * A malformed buffer parses as *empty* — callers then act on an empty list (set-pairs wipes).
 */
import { PAIRS_MAX_BYTES, PAIRS_MAX_COUNT } from "./abi.ts";
import { fromLatin1, latin1 } from "./bytes.ts";
import type { HeaderList } from "./types.ts";

export function pairsSize(pairs: HeaderList): number {
  let size = 4;
  for (const [k, v] of pairs) size += 8 + fromLatin1(k).length + 1 + fromLatin1(v).length + 1;
  return size;
}

export function encodePairs(pairs: HeaderList): Uint8Array {
  const encoded = pairs.map(([k, v]) => [fromLatin1(k), fromLatin1(v)] as const);
  let size = 4;
  for (const [k, v] of encoded) size += 8 + k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, encoded.length, true);
  let pos = 4;
  for (const [k, v] of encoded) {
    dv.setUint32(pos, k.length, true);
    dv.setUint32(pos + 4, v.length, true);
    pos += 8;
  }
  for (const [k, v] of encoded) {
    out.set(k, pos);
    pos += k.length + 1;
    out.set(v, pos);
    pos += v.length + 1;
  }
  return out;
}

export function decodePairs(buf: Uint8Array): HeaderList {
  if (buf.length > PAIRS_MAX_BYTES || buf.length < 4) return [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getUint32(0, true);
  if (n > PAIRS_MAX_COUNT) return [];
  let pos = 4;
  if (pos + n * 8 > buf.length) return [];
  const sizes: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    sizes.push([dv.getUint32(pos, true), dv.getUint32(pos + 4, true)]);
    pos += 8;
  }
  const out: HeaderList = [];
  for (const [kl, vl] of sizes) {
    if (pos + kl + 1 > buf.length) return [];
    const k = latin1(buf.subarray(pos, pos + kl));
    pos += kl;
    if (buf[pos++] !== 0) return [];
    if (pos + vl + 1 > buf.length) return [];
    const v = latin1(buf.subarray(pos, pos + vl));
    pos += vl;
    if (buf[pos++] !== 0) return [];
    out.push([k, v]);
  }
  if (pos !== buf.length) return [];
  return out;
}
