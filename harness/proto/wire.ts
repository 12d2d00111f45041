/**
 * Protocol Buffers wire format, by hand (https://protobuf.dev/programming-guides/encoding/): enough
 * to write and read the few messages the harness speaks (the rate limit service's, Envoy's
 * GrpcService) without generated code. Field numbers and types are the caller's business; this
 * module knows varints, length-delimited fields, fixed32/64 and how to skip what it does not know.
 *
 *   const w = new ProtoWriter(); w.string(1, "domain"); w.message(2, (d) => d.string(1, "k")); w.bytes();
 *   for (const f of readFields(bytes)) if (f.field === 1 && f.wire === 2) text(f.data);
 */

export const WIRE = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export class ProtoError extends Error {}

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private varintRaw(v: bigint | number): void {
    let n = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n !== 0n) byte |= 0x80;
      out.push(byte);
    } while (n !== 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varintRaw((field << 3) | wire);
  }

  /** uint32, uint64, int32, int64, enum, bool: proto3 omits the default (0). */
  uint(field: number, v: number | bigint, keepZero = false): this {
    if (!keepZero && BigInt(v) === 0n) return this;
    this.tag(field, WIRE.VARINT);
    this.varintRaw(v);
    return this;
  }

  bool(field: number, v: boolean): this {
    return this.uint(field, v ? 1 : 0);
  }

  /** bytes / string: proto3 omits an empty value unless keepEmpty. */
  raw(field: number, data: Uint8Array, keepEmpty = false): this {
    if (!keepEmpty && data.length === 0) return this;
    this.tag(field, WIRE.LEN);
    this.varintRaw(data.length);
    this.push(data);
    return this;
  }

  string(field: number, s: string, keepEmpty = false): this {
    return this.raw(field, new Uint8Array(Buffer.from(s, "utf8")), keepEmpty);
  }

  /** A sub-message, always written (an empty message still marks presence). */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.raw(field, w.bytes(), true);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export interface ProtoField {
  field: number;
  wire: number;
  /** VARINT, I64, I32: the value (I32/I64 little-endian, unsigned). */
  value: bigint;
  /** LEN: the payload. */
  data: Uint8Array;
}

function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (at >= buf.length) throw new ProtoError("truncated varint");
    const b = buf[at++]!;
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [BigInt.asUintN(64, v), at];
    shift += 7n;
  }
  throw new ProtoError("varint longer than 10 bytes");
}

/** protobuf's default recursion limit (io::CodedInputStream::GetDefaultRecursionLimit). */
export const RECURSION_LIMIT = 100;

/**
 * Every field of one message, in order; throws ProtoError on malformed input (what makes
 * protobuf's ParseFromArray fail: truncation, field number 0, wire types 6/7, unbalanced groups,
 * groups nested deeper than `depth`). Groups are skipped whole (no field is reported for them), as
 * protobuf skips unknown ones: balanced start/end group tags (wire types 3/4) of the same field,
 * nested — each level costs one of the parse's recursion budget (parse_context.h ParseGroup:
 * `if (--depth_ < 0) return nullptr`; a sub-message costs one too, ParseMessage), which starts at
 * RECURSION_LIMIT for the top-level message: pass `depth` one lower per message level.
 */
export function readFields(buf: Uint8Array, depth: number = RECURSION_LIMIT): ProtoField[] {
  const out: ProtoField[] = [];
  let at = 0;
  const groups: number[] = [];
  while (at < buf.length) {
    let key: bigint;
    [key, at] = readVarint(buf, at);
    if (key > 0xffffffffn) throw new ProtoError("tag out of range");
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtoError("field number 0");
    let value = 0n;
    let data: Uint8Array = new Uint8Array(0);
    switch (wire) {
      case WIRE.VARINT:
        [value, at] = readVarint(buf, at);
        break;
      case WIRE.I64:
        if (at + 8 > buf.length) throw new ProtoError("truncated fixed64");
        value = Buffer.from(buf.subarray(at, at + 8)).readBigUInt64LE(0);
        at += 8;
        break;
      case WIRE.I32:
        if (at + 4 > buf.length) throw new ProtoError("truncated fixed32");
        value = BigInt(Buffer.from(buf.subarray(at, at + 4)).readUInt32LE(0));
        at += 4;
        break;
      case WIRE.LEN: {
        let n: bigint;
        [n, at] = readVarint(buf, at);
        if (n > BigInt(buf.length - at)) throw new ProtoError("truncated length-delimited field");
        data = buf.subarray(at, at + Number(n));
        at += Number(n);
        break;
      }
      case WIRE.SGROUP:
        groups.push(field);
        if (groups.length > depth) throw new ProtoError("groups nested beyond the recursion limit");
        continue;
      case WIRE.EGROUP:
        if (groups.pop() !== field) throw new ProtoError("unbalanced group");
        continue;
      default:
        throw new ProtoError(`invalid wire type ${wire}`);
    }
    if (groups.length === 0) out.push({ field, wire, value, data });
  }
  if (groups.length > 0) throw new ProtoError("unterminated group");
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A proto3 `string` field's text; invalid UTF-8 fails the parse as it does in protobuf's C++ runtime. */
export function text(data: Uint8Array): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new ProtoError("string field contains invalid UTF-8");
  }
}

/** google.protobuf.Duration (seconds = 1, nanos = 2) → milliseconds. */
export function durationMs(data: Uint8Array): number {
  let s = 0n;
  let n = 0n;
  for (const f of readFields(data)) {
    if (f.field === 1 && f.wire === WIRE.VARINT) s = BigInt.asIntN(64, f.value);
    if (f.field === 2 && f.wire === WIRE.VARINT) n = BigInt.asIntN(32, f.value);
  }
  return Number(s) * 1000 + Math.trunc(Number(n) / 1e6);
}

/** Writes a google.protobuf.Duration of whole seconds (+ nanos) as field `field`. */
export function writeDuration(w: ProtoWriter, field: number, seconds: number, nanos = 0): void {
  w.message(field, (d) => d.uint(1, seconds).uint(2, nanos));
}
