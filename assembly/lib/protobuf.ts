// Protocol Buffers wire format, the little the rate limit service needs: varints and
// length-delimited fields out, and a field reader that never traps on malformed input (an
// answer from the network is untrusted bytes: a bad one is a failed call, not a dead VM).

export const WIRE_VARINT: i32 = 0;
export const WIRE_I64: i32 = 1;
export const WIRE_LEN: i32 = 2;
export const WIRE_I32: i32 = 5;

/** A growing byte buffer with protobuf field writers. */
export class ProtoWriter {
  private buf: Uint8Array = new Uint8Array(64);
  private n: i32 = 0;

  private room(k: i32): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const next = new Uint8Array(cap);
    memory.copy(next.dataStart, this.buf.dataStart, <usize>this.n);
    this.buf = next;
  }

  varint(v: u64): ProtoWriter {
    this.room(10);
    while (v >= 0x80) {
      unchecked((this.buf[this.n++] = <u8>((v & 0x7f) | 0x80)));
      v >>= 7;
    }
    unchecked((this.buf[this.n++] = <u8>v));
    return this;
  }

  private tag(field: i32, wire: i32): void {
    this.varint(<u64>((field << 3) | wire));
  }

  /** A varint field (proto3: a zero value is not written unless `always`). */
  uint(field: i32, v: u64, always: bool = false): ProtoWriter {
    if (v == 0 && !always) return this;
    this.tag(field, WIRE_VARINT);
    return this.varint(v);
  }

  bytes(field: i32, data: Uint8Array): ProtoWriter {
    this.tag(field, WIRE_LEN);
    this.varint(<u64>data.length);
    this.room(data.length);
    memory.copy(this.buf.dataStart + <usize>this.n, data.dataStart, <usize>data.length);
    this.n += data.length;
    return this;
  }

  /** A string field (proto3: an empty one is not written). */
  string(field: i32, s: string): ProtoWriter {
    if (s.length == 0) return this;
    return this.bytes(field, Uint8Array.wrap(String.UTF8.encode(s)));
  }

  /** An embedded message, written even when empty (its presence is the point, e.g. a wrapper of 0). */
  message(field: i32, m: ProtoWriter): ProtoWriter {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Walks the fields of one message. `next()` false at the end or on malformed bytes (`ok` tells which). */
export class ProtoReader {
  private p: i32;
  private end: i32;
  ok: bool = true;
  field: i32 = 0;
  wire: i32 = 0;
  /** The value of a varint field. */
  value: u64 = 0;
  /** Where a length-delimited field's bytes are in `data`. */
  start: i32 = 0;
  length: i32 = 0;

  constructor(public data: Uint8Array, from: i32 = 0, to: i32 = -1) {
    this.p = from;
    this.end = to < 0 ? data.length : to;
  }

  private readVarint(): bool {
    let v: u64 = 0;
    for (let shift: u64 = 0; shift < 70; shift += 7) {
      if (this.p >= this.end) return false;
      const b = <u64>unchecked(this.data[this.p++]);
      v |= (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        this.value = v;
        return true;
      }
    }
    return false;
  }

  next(): bool {
    if (!this.ok || this.p >= this.end) return false;
    if (!this.readVarint()) return this.fail();
    const tag = this.value;
    this.field = <i32>(tag >> 3);
    this.wire = <i32>(tag & 7);
    if (this.field == 0) return this.fail();
    if (this.wire == WIRE_VARINT) {
      if (!this.readVarint()) return this.fail();
    } else if (this.wire == WIRE_LEN) {
      if (!this.readVarint()) return this.fail();
      if (this.value > <u64>(this.end - this.p)) return this.fail();
      this.start = this.p;
      this.length = <i32>this.value;
      this.p += this.length;
    } else if (this.wire == WIRE_I64) {
      if (this.end - this.p < 8) return this.fail();
      this.p += 8;
    } else if (this.wire == WIRE_I32) {
      if (this.end - this.p < 4) return this.fail();
      this.p += 4;
    } else return this.fail();
    return true;
  }

  /** A reader over the current length-delimited field. */
  sub(): ProtoReader {
    return new ProtoReader(this.data, this.start, this.start + this.length);
  }

  private fail(): bool {
    this.ok = false;
    return false;
  }
}

export const WIRE_START_GROUP: i32 = 3;
export const WIRE_END_GROUP: i32 = 4;

/**
 * Would protobuf's C++ runtime (MessageLite::ParseFromArray) accept `b` as a message none of whose
 * fields it knows? Its rule, which `ProtoReader` (strict: no groups) does not follow: every tag a
 * varint of field ≥ 1 with wire type 0, 1, 2, 5, or 3 (start group); each value whole; a start group
 * closed by an end group (4) of the same field, groups nested to any depth and skipped whole
 * (parse_context.h ParseGroup, ConsumeEndGroup); an end group outside its group, wire types 6/7,
 * field 0, a tag beyond 32 bits, an unclosed group or truncation fail the parse.
 * Deliberately wider than the real parse in two ways, so that it never passes what protobuf would
 * take: length-delimited contents are not looked into (a known message field's would have to
 * parse too), and protobuf's recursion limit (100 nested groups) is not applied.
 */
export function parsesAsUnknownFields(b: Uint8Array): bool {
  return unknownFieldsShape(b) != SHAPE_FAILS;
}

/** The parse fails. */
export const SHAPE_FAILS: i32 = 0;
/** It parses, without a group. */
export const SHAPE_FIELDS: i32 = 1;
/** It parses, and holds at least one group. */
export const SHAPE_GROUPS: i32 = 2;

/** parsesAsUnknownFields, saying whether groups made it parse (for the reason given). */
export function unknownFieldsShape(b: Uint8Array): i32 {
  const groups = new Array<u32>();
  let anyGroup = false;
  let p = 0;
  const n = b.length;
  while (p < n) {
    // The tag.
    let tag: u64 = 0;
    let done = false;
    for (let shift: u64 = 0; shift < 70 && p < n; shift += 7) {
      const c = <u64>unchecked(b[p++]);
      tag |= (c & 0x7f) << shift;
      if ((c & 0x80) == 0) { done = true; break; }
    }
    if (!done || tag > 0xffffffff) return SHAPE_FAILS;
    const field = <u32>(tag >> 3);
    const wire = <i32>(tag & 7);
    if (field == 0) return SHAPE_FAILS;
    if (wire == WIRE_VARINT) {
      let ok = false;
      for (let i = 0; i < 10 && p < n; i++) {
        if ((unchecked(b[p++]) & 0x80) == 0) { ok = true; break; }
      }
      if (!ok) return SHAPE_FAILS;
    } else if (wire == WIRE_I64) {
      if (n - p < 8) return SHAPE_FAILS;
      p += 8;
    } else if (wire == WIRE_I32) {
      if (n - p < 4) return SHAPE_FAILS;
      p += 4;
    } else if (wire == WIRE_LEN) {
      let len: u64 = 0;
      let ok = false;
      for (let shift: u64 = 0; shift < 70 && p < n; shift += 7) {
        const c = <u64>unchecked(b[p++]);
        len |= (c & 0x7f) << shift;
        if ((c & 0x80) == 0) { ok = true; break; }
      }
      if (!ok || len > <u64>(n - p)) return SHAPE_FAILS;
      p += <i32>len;
    } else if (wire == WIRE_START_GROUP) {
      groups.push(field);
      anyGroup = true;
    } else if (wire == WIRE_END_GROUP) {
      if (groups.length == 0 || groups.pop() != field) return SHAPE_FAILS;
    } else return SHAPE_FAILS;
  }
  if (groups.length != 0) return SHAPE_FAILS;
  return anyGroup ? SHAPE_GROUPS : SHAPE_FIELDS;
}

