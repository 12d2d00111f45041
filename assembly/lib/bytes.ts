// Byte-level helpers for the hot path: no string decoding unless a value is needed.

export const CH_QUOTE: u8 = 0x22;
export const CH_BACKSLASH: u8 = 0x5c;
export const CH_COLON: u8 = 0x3a;
export const CH_COMMA: u8 = 0x2c;
export const CH_LBRACE: u8 = 0x7b;
export const CH_RBRACE: u8 = 0x7d;
export const CH_LBRACKET: u8 = 0x5b;
export const CH_RBRACKET: u8 = 0x5d;
export const CH_SPACE: u8 = 0x20;
export const CH_TAB: u8 = 0x09;
export const CH_LF: u8 = 0x0a;
export const CH_CR: u8 = 0x0d;
export const CH_SLASH: u8 = 0x2f;
export const CH_MINUS: u8 = 0x2d;

@inline export function isWs(c: u8): bool {
  return c == CH_SPACE || c == CH_LF || c == CH_CR || c == CH_TAB;
}

/**
 * Skips JSON whitespace in b[i, end). The JSON of one server-sent event may be split over several
 * `data:` lines (a client joins them with line feeds, which are whitespace to JSON): after a line
 * break, a `data:` field name and its one optional space are skipped too. Returns where it stopped.
 */
export function skipJsonWs(b: Uint8Array, i: i32, end: i32): i32 {
  const data = b.dataStart;
  while (i < end) {
    const c = load<u8>(data + <usize>i);
    if (c == CH_SPACE || c == CH_TAB) { i++; continue; }
    if (c != CH_LF && c != CH_CR) break;
    i++;
    // "data:" right after the break (and a CRLF's LF).
    if (i < end && c == CH_CR && load<u8>(data + <usize>i) == CH_LF) i++;
    if (i + 5 <= end && load<u32>(data + <usize>i) == DATA_WORD && load<u8>(data + <usize>(i + 4)) == CH_COLON) {
      i += 5;
      if (i < end && load<u8>(data + <usize>i) == CH_SPACE) i++;
    }
  }
  return i;
}

/** "data" as a little-endian u32. */
const DATA_WORD: u32 = 0x61746164;

const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;

/** Does the word hold a zero byte? (exact as a yes/no: the classic haszero test) */
@inline function hasZero(x: u64): bool {
  return ((x - ONES) & ~x & HIGHS) != 0;
}

/** The first index in [i, n) of memory at `data` holding `c` (n when none); eight bytes a step. */
@inline export function findByte(data: usize, i: i32, n: i32, c: u8): i32 {
  const pat = ONES * <u64>c;
  while (i + 8 <= n && !hasZero(load<u64>(data + <usize>i) ^ pat)) i += 8;
  while (i < n && load<u8>(data + <usize>i) != c) i++;
  return i;
}

/** The first index in [i, n) holding `a` or `b` (n when none); eight bytes a step. */
@inline export function findEither(data: usize, i: i32, n: i32, a: u8, b: u8): i32 {
  const pa = ONES * <u64>a;
  const pb = ONES * <u64>b;
  while (i + 8 <= n) {
    const w = load<u64>(data + <usize>i);
    if (hasZero(w ^ pa) || hasZero(w ^ pb)) break;
    i += 8;
  }
  while (i < n) {
    const d = load<u8>(data + <usize>i);
    if (d == a || d == b) break;
    i++;
  }
  return i;
}

/** UTF-8 bytes of a string (allocates once; callers cache constants). */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

export function decode(b: Uint8Array, start: i32 = 0, end: i32 = -1): string {
  if (end < 0) end = b.length;
  if (start >= end) return "";
  return String.UTF8.decodeUnsafe(b.dataStart + <usize>start, <usize>(end - start));
}

/** Does `hay` contain `needle` at `at`? */
export function matchAt(hay: Uint8Array, at: i32, needle: Uint8Array): bool {
  const n = needle.byteLength;
  if (at < 0 || at + n > hay.byteLength) return false;
  return memory.compare(hay.dataStart + <usize>at, needle.dataStart, <usize>n) == 0;
}

/** First index of `needle` in `hay` at or after `from` (and ending by `to`, -1: the end), or -1. */
export function indexOf(hay: Uint8Array, needle: Uint8Array, from: i32 = 0, to: i32 = -1): i32 {
  const n = needle.byteLength;
  const last = (to < 0 || to > hay.byteLength ? hay.byteLength : to) - n;
  if (n == 0) return from <= hay.byteLength ? from : -1;
  const first = load<u8>(needle.dataStart + <usize>(0));
  for (let i = from; i <= last; i++) {
    if (load<u8>(hay.dataStart + <usize>(i)) == first && memory.compare(hay.dataStart + <usize>i, needle.dataStart, <usize>n) == 0) return i;
  }
  return -1;
}

/** Concatenates two byte arrays. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  memory.copy(out.dataStart, a.dataStart, <usize>a.length);
  memory.copy(out.dataStart + <usize>a.length, b.dataStart, <usize>b.length);
  return out;
}

/** Appends a string's UTF-8 to a growable byte builder. */
export class ByteBuilder {
  buf: Uint8Array;
  len: i32 = 0;
  constructor(cap: i32 = 256) {
    this.buf = new Uint8Array(cap);
  }
  /** Room for `extra` more bytes (written by the caller at buf.dataStart + len). */
  reserve(extra: i32): void {
    this.ensure(extra);
  }
  private ensure(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < need) cap = need;
    const nb = new Uint8Array(cap);
    memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.len);
    this.buf = nb;
  }
  bytes(b: Uint8Array, start: i32 = 0, end: i32 = -1): ByteBuilder {
    if (end < 0) end = b.length;
    const n = end - start;
    if (n <= 0) return this;
    this.ensure(n);
    memory.copy(this.buf.dataStart + <usize>this.len, b.dataStart + <usize>start, <usize>n);
    this.len += n;
    return this;
  }
  /** `n` bytes from `p` (memory the caller owns). */
  raw(p: usize, n: i32): ByteBuilder {
    if (n <= 0) return this;
    this.ensure(n);
    memory.copy(this.buf.dataStart + <usize>this.len, p, <usize>n);
    this.len += n;
    return this;
  }
  str(s: string): ByteBuilder {
    const n = String.UTF8.byteLength(s);
    this.ensure(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf.dataStart + <usize>this.len);
    this.len += n;
    return this;
  }
  byte(c: u8): ByteBuilder {
    this.ensure(1);
    unchecked((this.buf[this.len] = c));
    this.len++;
    return this;
  }
  u32le(v: u32): ByteBuilder {
    this.ensure(4);
    store<u32>(this.buf.dataStart + <usize>this.len, v);
    this.len += 4;
    return this;
  }
  int(v: i64): ByteBuilder {
    return this.str(v.toString());
  }
  /** A string known to be ASCII (a literal), one byte per code unit without an encoding pass. */
  ascii(s: string): ByteBuilder {
    const n = s.length;
    this.ensure(n);
    const dst = this.buf.dataStart + <usize>this.len;
    const src = changetype<usize>(s);
    for (let i = 0; i < n; i++) store<u8>(dst + <usize>i, <u8>load<u16>(src + (<usize>i << 1)));
    this.len += n;
    return this;
  }
  /** A decimal integer, written without an intermediate string (as `v.toString()` spells it). */
  dec(v: i64): ByteBuilder {
    this.ensure(20);
    let u: u64;
    if (v < 0) {
      unchecked((this.buf[this.len++] = CH_MINUS));
      u = <u64>(-v);
    } else u = <u64>v;
    let digits = 1;
    for (let t = u; t >= 10; t /= 10) digits++;
    const at = this.buf.dataStart + <usize>this.len;
    for (let i = digits - 1; i >= 0; i--) {
      store<u8>(at + <usize>i, <u8>(0x30 + <u32>(u % 10)));
      u /= 10;
    }
    this.len += digits;
    return this;
  }
  /** A copy of the built bytes, exactly `len` long. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
  reset(): void {
    this.len = 0;
  }
}
