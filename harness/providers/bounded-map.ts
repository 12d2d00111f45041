/** A Map that keeps at most `max` entries, dropping the oldest first (insertion order). */
import { randomBytes } from "node:crypto";

export class BoundedMap<K, V> {
  private readonly m = new Map<K, V>();

  constructor(
    private readonly max: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.m.size;
  }

  get(key: K): V | undefined {
    return this.m.get(key);
  }

  has(key: K): boolean {
    return this.m.has(key);
  }

  set(key: K, value: V): void {
    this.m.delete(key);
    this.m.set(key, value);
    while (this.m.size > this.max) {
      const [k, v] = this.m.entries().next().value as [K, V];
      this.m.delete(k);
      this.onEvict?.(k, v);
    }
  }

  delete(key: K): boolean {
    return this.m.delete(key);
  }

  clear(): void {
    this.m.clear();
  }

  keys(): K[] {
    return [...this.m.keys()];
  }

  values(): V[] {
    return [...this.m.values()];
  }
}

/** `prefix` + 48 random hex digits: unique across mocks, so a test can tell which mock made an id. */
export function newId(prefix: string): string {
  return `${prefix}${randomBytes(24).toString("hex")}`;
}

/**
 * One page of a list in the services' cursor shape: `{object:"list", data, first_id, last_id, has_more}`.
 * `items` are in creation order; `order` "desc" (the default) lists newest first; `after` is an id.
 */
export function listPage<T extends { id: string }>(items: T[], query: URLSearchParams, defaultOrder: "asc" | "desc" = "desc") {
  const order = query.get("order") === "asc" ? "asc" : query.get("order") === "desc" ? "desc" : defaultOrder;
  const limit = Math.max(1, Math.min(10_000, Number(query.get("limit")) || 20));
  let list = order === "asc" ? items : [...items].reverse();
  const after = query.get("after");
  if (after) {
    const i = list.findIndex((x) => x.id === after);
    list = i >= 0 ? list.slice(i + 1) : [];
  }
  const data = list.slice(0, limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: list.length > data.length,
  };
}
