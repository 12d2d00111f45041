// A tiny JSON text builder for test-facing exports (no json-as schema classes needed).

function hex4(c: i32): string {
  const digits = "0123456789abcdef";
  let s = "";
  for (let shift = 12; shift >= 0; shift -= 4) s += digits.charAt((c >> shift) & 15);
  return s;
}

export function jsonString(s: string): string {
  const parts = new Array<string>();
  parts.push("\"");
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc = "";
    if (c == 34) esc = "\\\"";
    else if (c == 92) esc = "\\\\";
    else if (c == 10) esc = "\\n";
    else if (c == 13) esc = "\\r";
    else if (c == 9) esc = "\\t";
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) esc = "\\u" + hex4(c);
    if (esc.length == 0) continue;
    if (i > from) parts.push(s.substring(from, i));
    parts.push(esc);
    from = i + 1;
  }
  if (from < s.length) parts.push(s.substring(from));
  parts.push("\"");
  return parts.join("");
}

/** Builds one JSON object: members are appended in order. */
export class JsonObject {
  private parts: string[] = [];

  raw(key: string, json: string): JsonObject {
    this.parts.push(jsonString(key) + ":" + json);
    return this;
  }
  str(key: string, v: string): JsonObject {
    return this.raw(key, jsonString(v));
  }
  int(key: string, v: i64): JsonObject {
    return this.raw(key, v.toString());
  }
  bool(key: string, v: bool): JsonObject {
    return this.raw(key, v ? "true" : "false");
  }
  strs(key: string, v: string[]): JsonObject {
    const items = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) unchecked((items[i] = jsonString(unchecked(v[i]))));
    return this.raw(key, "[" + items.join(",") + "]");
  }
  toString(): string {
    return "{" + this.parts.join(",") + "}";
  }
}
