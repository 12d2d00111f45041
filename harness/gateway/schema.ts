/**
 * A tiny structural checker for the subset of Envoy's v3 bootstrap the gateway understands.
 * Field names are Envoy's proto field names (snake_case); every field outside the subset is
 * reported with its path, and every problem is collected (never only the first).
 */

export type Spec =
  | { kind: "string"; nonEmpty?: boolean; oneOf?: readonly string[] }
  | { kind: "uint32"; max?: number }
  | { kind: "bool" }
  | { kind: "duration" }
  | { kind: "list"; of: Spec; min?: number; max?: number }
  | { kind: "map"; of: Spec }
  /** google.protobuf.Struct: any JSON object (e.g. filter_metadata values). */
  | { kind: "struct" }
  | { kind: "message"; name: string; fields: Record<string, Spec>; required?: readonly string[]; why?: Record<string, string> }
  /** `typed_config`-style Any: the "@type" URL selects the message spec. */
  | { kind: "any"; types: Record<string, Spec> };

export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path || "(root)"}: ${message}`);
  }
}

const DURATION = /^(\d+)(\.(\d{1,9}))?s$/;

/** "15s" / "0.25s" → milliseconds (Envoy's JSON form of google.protobuf.Duration). */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const frac = m[3] ? Number(`0.${m[3]}`) : 0;
  return Math.round((Number(m[1]) + frac) * 1000);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Checks `value` against `spec`, adding every problem under `path`. */
export function check(value: unknown, spec: Spec, path: string, problems: Problems): void {
  switch (spec.kind) {
    case "string":
      if (typeof value !== "string") return problems.add(path, `expected a string, got ${typeName(value)}`);
      if (spec.nonEmpty && value === "") return problems.add(path, "must not be empty");
      if (spec.oneOf && !spec.oneOf.includes(value))
        problems.add(path, `unsupported value "${value}" (supported: ${spec.oneOf.join(", ")})`);
      return;
    case "uint32":
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > (spec.max ?? 0xffffffff))
        problems.add(path, `expected an integer in 0..${spec.max ?? 0xffffffff}, got ${typeName(value)}`);
      return;
    case "bool":
      if (typeof value !== "boolean") problems.add(path, `expected true or false, got ${typeName(value)}`);
      return;
    case "duration":
      if (typeof value !== "string" || parseDuration(value) === undefined)
        problems.add(path, `expected a duration such as "15s" or "0.25s", got ${typeName(value)}`);
      return;
    case "list": {
      if (!Array.isArray(value)) return problems.add(path, `expected a list, got ${typeName(value)}`);
      if (spec.min !== undefined && value.length < spec.min)
        problems.add(path, `expected at least ${spec.min} entr${spec.min === 1 ? "y" : "ies"}, got ${value.length}`);
      if (spec.max !== undefined && value.length > spec.max)
        problems.add(path, `the gateway supports at most ${spec.max} entr${spec.max === 1 ? "y" : "ies"} here, got ${value.length}`);
      value.forEach((item, i) => check(item, spec.of, `${path}[${i}]`, problems));
      return;
    }
    case "struct":
      if (!isObject(value)) problems.add(path, `expected an object, got ${typeName(value)}`);
      return;
    case "map":
      if (!isObject(value)) return problems.add(path, `expected a map, got ${typeName(value)}`);
      for (const [k, v] of Object.entries(value)) check(v, spec.of, `${path}.${k}`, problems);
      return;
    case "message": {
      if (!isObject(value)) return problems.add(path, `expected ${spec.name} (an object), got ${typeName(value)}`);
      for (const [k, v] of Object.entries(value)) {
        const field = spec.fields[k];
        const at = path ? `${path}.${k}` : k;
        if (field) {
          check(v, field, at, problems);
          continue;
        }
        const why = spec.why?.[k];
        const snake = snakeCase(k);
        const hint = why
          ? ` (${why})`
          : snake !== k && spec.fields[snake]
            ? ` (write it as "${snake}": the gateway accepts Envoy's proto field names only)`
            : ` (supported in ${spec.name}: ${Object.keys(spec.fields).join(", ")})`;
        problems.add(at, `field not supported by the ai-failover gateway${hint}`);
      }
      for (const r of spec.required ?? []) {
        if (!(r in value)) problems.add(path ? `${path}.${r}` : r, "required field is missing");
      }
      return;
    }
    case "any": {
      if (!isObject(value)) return problems.add(path, `expected a typed_config object with "@type", got ${typeName(value)}`);
      const url = value["@type"];
      if (typeof url !== "string") return problems.add(`${path}.@type`, "required field is missing");
      const inner = spec.types[url];
      if (!inner) return problems.add(`${path}.@type`, `unsupported type "${url}" (supported: ${Object.keys(spec.types).join(", ")})`);
      const rest = { ...value };
      delete rest["@type"];
      check(rest, inner, path, problems);
      return;
    }
  }
}
