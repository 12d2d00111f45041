// Shared-data records (provider state, consumer budget, cluster pool, model record, identity
// token): each declares its fields once, in `fields(io)`, in layout order. Offsets follow from the
// order and each field's width (aligned to it, as the hand-written layouts were), so no offset is
// written by hand, and the same list writes and reads: a field is `this.x = io.i64(this.x)` —
// stored and returned unchanged when encoding, loaded when decoding. The record's first 4 bytes
// are its layout (a tag and version): a record of another layout or size reads as absent.

export class RecordIo {
  private p: usize = 0;
  private at: i32 = 0;
  private writing: bool = false;

  /** Starts at byte 4 (after the layout word) of `buf`. */
  begin(buf: ArrayBuffer, writing: bool): void {
    this.p = changetype<usize>(buf);
    this.at = 4;
    this.writing = writing;
  }

  /** Where the fields ended (the variable tail of a record, if any, starts here). */
  get end(): i32 {
    return this.at;
  }

  @inline private slot(width: i32): usize {
    const a = (this.at + width - 1) & ~(width - 1);
    this.at = a + width;
    return this.p + <usize>a;
  }

  @inline u8(v: u8): u8 {
    const o = this.slot(1);
    if (this.writing) {
      store<u8>(o, v);
      return v;
    }
    return load<u8>(o);
  }

  @inline bool(v: bool): bool {
    return this.u8(v ? 1 : 0) != 0;
  }

  @inline u32(v: u32): u32 {
    const o = this.slot(4);
    if (this.writing) {
      store<u32>(o, v);
      return v;
    }
    return load<u32>(o);
  }

  @inline i32(v: i32): i32 {
    return <i32>this.u32(<u32>v);
  }

  @inline i64(v: i64): i64 {
    const o = this.slot(8);
    if (this.writing) {
      store<i64>(o, v);
      return v;
    }
    return load<i64>(o);
  }
}

/** One cursor for the VM (single-threaded; a record's fields never encode another record). */
const IO = new RecordIo();

export abstract class SharedRecord {
  /** The layout's tag and version: the record's first 4 bytes. */
  abstract layout(): u32;
  /** The record's size in bytes: its fields' end, or more (room kept, or a fixed older size). */
  abstract bytes(): i32;
  /** The fields in layout order (see the header). */
  abstract fields(io: RecordIo): void;

  encode(): ArrayBuffer {
    const buf = new ArrayBuffer(this.bytes());
    this.writeFields(buf);
    return buf;
  }

  /** Reads `buf` into this record; false (this record unusable) on a wrong size or layout. */
  decodeFrom(buf: ArrayBuffer): bool {
    if (buf.byteLength != this.bytes()) return false;
    return this.readFields(buf);
  }

  /** Writes the layout word and the fields into `buf` (at least their size); returns where they end. */
  protected writeFields(buf: ArrayBuffer): i32 {
    store<u32>(changetype<usize>(buf), this.layout());
    IO.begin(buf, true);
    this.fields(IO);
    return IO.end;
  }

  /** Reads the fields of `buf` when its layout word is this record's (and it holds them). */
  protected readFields(buf: ArrayBuffer): bool {
    if (buf.byteLength < 4 || load<u32>(changetype<usize>(buf)) != this.layout()) return false;
    IO.begin(buf, false);
    this.fields(IO);
    return true;
  }
}
