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
