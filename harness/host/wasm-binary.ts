/**
 * A tiny reader for the parts of a wasm binary the loader must check itself: the type, import,
 * function, export and start sections. Node's JS API links by name only and never compares
 * signatures, so exact import/export types have to come from the bytes.
 */

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref" | "unknown";

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export type ImportKind = "function" | "table" | "memory" | "global" | "tag";

export interface WasmImport {
  module: string;
  name: string;
  kind: ImportKind;
  /** For function imports. */
  type?: FuncType;
  /** For memory imports: limits in pages. */
  memory?: { initial: number; maximum?: number; shared: boolean };
}

export interface WasmExport {
  name: string;
  kind: "function" | "table" | "memory" | "global" | "tag";
  index: number;
  /** For function exports. */
  type?: FuncType;
}

export interface WasmModuleInfo {
  imports: WasmImport[];
  exports: WasmExport[];
  hasStart: boolean;
}

export class WasmParseError extends Error {}

const VALTYPES: Record<number, ValType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmParseError("unexpected end of section");
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 35) throw new WasmParseError("varint too long");
    }
    return result;
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new WasmParseError("name overruns section");
    const s = new TextDecoder("utf-8", { fatal: false }).decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  valtype(): ValType {
    return VALTYPES[this.byte()] ?? "unknown";
  }
  limits(): { initial: number; maximum?: number; shared: boolean } {
    const flags = this.byte();
    const initial = this.u32();
    const maximum = flags & 1 ? this.u32() : undefined;
    return { initial, maximum, shared: (flags & 2) !== 0 };
  }
}

export function parseWasm(bytes: Uint8Array): WasmModuleInfo {
  if (
    bytes.length < 8 ||
    bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d ||
    bytes[4] !== 0x01 || bytes[5] !== 0x00 || bytes[6] !== 0x00 || bytes[7] !== 0x00
  ) {
    throw new WasmParseError("not a wasm binary (bad magic or version)");
  }
  const types: FuncType[] = [];
  const imports: WasmImport[] = [];
  const funcTypeIndices: number[] = []; // function index space → type index
  const exports: WasmExport[] = [];
  let hasStart = false;

  const top = new Reader(bytes, 8, bytes.length);
  while (top.pos < bytes.length) {
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    const end = start + size;
    if (end > bytes.length) throw new WasmParseError(`section ${id} overruns the module`);
    const r = new Reader(bytes, start, end);
    switch (id) {
      case 1: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const form = r.byte();
          if (form !== 0x60) throw new WasmParseError(`unsupported type form 0x${form.toString(16)}`);
          const np = r.u32();
          const params: ValType[] = [];
          for (let j = 0; j < np; j++) params.push(r.valtype());
          const nr = r.u32();
          const results: ValType[] = [];
          for (let j = 0; j < nr; j++) results.push(r.valtype());
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const module = r.name();
          const name = r.name();
          const kind = r.byte();
          if (kind === 0) {
            const ti = r.u32();
            const type = types[ti];
            if (!type) throw new WasmParseError(`import ${module}.${name} uses unknown type ${ti}`);
            funcTypeIndices.push(ti);
            imports.push({ module, name, kind: "function", type });
          } else if (kind === 1) {
            r.byte();
            r.limits();
            imports.push({ module, name, kind: "table" });
          } else if (kind === 2) {
            imports.push({ module, name, kind: "memory", memory: r.limits() });
          } else if (kind === 3) {
            r.valtype();
            r.byte();
            imports.push({ module, name, kind: "global" });
          } else if (kind === 4) {
            r.byte();
            r.u32();
            imports.push({ module, name, kind: "tag" });
          } else {
            throw new WasmParseError(`unknown import kind ${kind}`);
          }
        }
        break;
      }
      case 3: {
        const n = r.u32();
        for (let i = 0; i < n; i++) funcTypeIndices.push(r.u32());
        break;
      }
      case 7: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const name = r.name();
          const kindByte = r.byte();
          const index = r.u32();
          const kind = (["function", "table", "memory", "global", "tag"] as const)[kindByte];
          if (!kind) throw new WasmParseError(`unknown export kind ${kindByte}`);
          exports.push({ name, kind, index });
        }
        break;
      }
      case 8:
        hasStart = true;
        break;
      default:
        break;
    }
    top.pos = end;
  }
  for (const e of exports) {
    if (e.kind === "function") {
      const ti = funcTypeIndices[e.index];
      if (ti !== undefined) e.type = types[ti];
    }
  }
  return { imports, exports, hasStart };
}

export function printValTypes(types: ValType[]): string {
  return types.length === 0 ? "void" : types.join(" ");
}

export function sameTypes(a: ValType[], b: ValType[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
