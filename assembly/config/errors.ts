// The error list every phase appends to: each entry is "path: message".
// Errors are collected, never thrown: one bad field must not hide the next.

export class Errors {
  list: string[] = [];

  /** `path` empty = the configuration as a whole. */
  add(path: string, message: string): void {
    this.list.push((path.length == 0 ? "configuration" : path) + ": " + message);
  }

  /** Appends an already formatted entry. */
  push(entry: string): void {
    this.list.push(entry);
  }

  /** Is any entry about `path` or something inside it? */
  anyUnder(path: string): bool {
    for (let i = 0; i < this.list.length; i++) {
      const e = unchecked(this.list[i]);
      if (e.startsWith(path)) {
        const next = e.length > path.length ? e.charCodeAt(path.length) : 0;
        if (next == 58 /* : */ || next == 46 /* . */ || next == 91 /* [ */) return true;
      }
    }
    return false;
  }

  get count(): i32 {
    return this.list.length;
  }

  has(entry: string): bool {
    return this.list.includes(entry);
  }
}
