/**
 * Envoy HeaderMapImpl behaviour a filter can observe: keys lower-cased (ASCII), pseudo-headers
 * kept before regular headers, `get` returns the first value, `replace` = remove all + add,
 * `byteSize` = sum of key and value lengths.
 */
import type { HeaderList } from "./types.ts";

export function lowerAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export class HeaderMap {
  readonly entries: HeaderList;
  constructor(entries: HeaderList = []) {
    this.entries = [];
    for (const [k, v] of entries) this.add(k, v);
  }
  get(key: string): string | undefined {
    const k = lowerAscii(key);
    return this.entries.find(([n]) => n === k)?.[1];
  }
  /**
   * Every value of `key` joined with "," (Envoy HeaderUtility::getAllOfHeaderAsString, what the
   * `request.headers.<name>` / `response.headers.<name>` properties return); undefined if absent.
   */
  getAll(key: string): string | undefined {
    const k = lowerAscii(key);
    const values = this.entries.filter(([n]) => n === k).map(([, v]) => v);
    return values.length === 0 ? undefined : values.join(",");
  }
  add(key: string, value: string): void {
    const k = lowerAscii(key);
    if (k.startsWith(":")) {
      let i = 0;
      while (i < this.entries.length && this.entries[i]![0].startsWith(":")) i++;
      this.entries.splice(i, 0, [k, value]);
    } else {
      this.entries.push([k, value]);
    }
  }
  remove(key: string): void {
    const k = lowerAscii(key);
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]![0] === k) this.entries.splice(i, 1);
  }
  replace(key: string, value: string): void {
    this.remove(key);
    this.add(key, value);
  }
  setAll(pairs: HeaderList): void {
    this.entries.length = 0;
    for (const [k, v] of pairs) this.add(k, v);
  }
  byteSize(): number {
    let n = 0;
    for (const [k, v] of this.entries) n += Buffer.byteLength(k, "latin1") + Buffer.byteLength(v, "latin1");
    return n;
  }
  get size(): number {
    return this.entries.length;
  }
  toList(): HeaderList {
    return this.entries.map(([k, v]) => [k, v]);
  }
}
