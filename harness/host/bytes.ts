/** Byte/string helpers. Header names and values travel as latin1 strings: byte-exact both ways. */

export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

export function fromLatin1(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

export function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

export function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === "string" ? new Uint8Array(Buffer.from(v, "utf8")) : v;
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export const EMPTY = new Uint8Array(0);
