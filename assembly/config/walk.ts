// Phase 3 toolkit: typed readers over json-as's dynamic tree. Every read knows its JSON
// path, records a clear error ("expected X, found Y") instead of aborting, and returns a
// default so the walk goes on and collects every problem.

import { JSON } from "json-as";
import { Errors } from "./errors";
import { decodeJsonString } from "../lib/json_text";
import { nearest } from "./suggest";
import { childPath, formatNumber, indexPath, quote } from "./text";
import { parseDuration } from "./duration";

/** 2^53 - 1: largest integer a JSON number carries exactly. */
export const MAX_SAFE_INT: i64 = 9007199254740991;

/** "a string", "an object", … for type errors. */
export function describe(v: JSON.Value): string {
  const t = v.type;
  if (t == JSON.Types.Null) return "null";
  if (t == JSON.Types.Bool) return "a boolean";
  if (t == JSON.Types.String) return "a string";
  if (t == JSON.Types.Object) return "an object";
  if (t == JSON.Types.Array) return "an array";
  return "a number";
}

function isNumber(v: JSON.Value): bool {
  const t = v.type;
  return t >= JSON.Types.U8 && t <= JSON.Types.F64;
}

function numberOf(v: JSON.Value): f64 {
  const t = v.type;
  if (t == JSON.Types.F64) return v.get<f64>();
  if (t == JSON.Types.F32) return <f64>v.get<f32>();
  if (t == JSON.Types.I64) return <f64>v.get<i64>();
  if (t == JSON.Types.U64) return <f64>v.get<u64>();
  if (t == JSON.Types.I32 || t == JSON.Types.I16 || t == JSON.Types.I8) return <f64>v.get<i32>();
  return <f64>v.get<u32>();
}

function rangeText(min: i64, max: i64): string {
  if (max >= MAX_SAFE_INT) return "an integer ≥ " + min.toString();
  return "an integer between " + min.toString() + " and " + max.toString();
}

// ---- scalar readers on a value with its path ------------------------------------------

export function readString(v: JSON.Value, path: string, errs: Errors): string | null {
  if (v.type != JSON.Types.String) {
    errs.add(path, "expected a string, found " + describe(v));
    return null;
  }
  return v.get<string>();
}

/** A string that must not be empty. */
export function readNonEmpty(v: JSON.Value, path: string, errs: Errors): string | null {
  const s = readString(v, path, errs);
  if (s === null) return null;
  if (s.length == 0) {
    errs.add(path, "must not be empty");
    return null;
  }
  return s;
}

/** An integer in [min, max]; `def` when it is not one (the error is recorded). */
export function readInt(v: JSON.Value, path: string, min: i64, max: i64, def: i64, errs: Errors): i64 {
  if (!isNumber(v)) {
    errs.add(path, "expected " + rangeText(min, max) + ", found " + describe(v));
    return def;
  }
  const f = numberOf(v);
  if (!isFinite(f) || f != Math.floor(f)) {
    errs.add(path, "expected " + rangeText(min, max) + ", found " + formatNumber(f));
    return def;
  }
  if (f < <f64>min || f > <f64>max) {
    errs.add(path, "must be " + rangeText(min, max) + ", found " + formatNumber(f));
    return def;
  }
  return <i64>f;
}

export function readBool(v: JSON.Value, path: string, def: bool, errs: Errors): bool {
  if (v.type != JSON.Types.Bool) {
    errs.add(path, "expected true or false, found " + describe(v));
    return def;
  }
  return v.get<bool>();
}

/** A duration string ("500ms", "10s", "1.5s", "2m", "1h") in [minMs, maxMs]. */
export function readDuration(v: JSON.Value, path: string, minMs: i64, maxMs: i64, def: i64, errs: Errors): i64 {
  if (v.type != JSON.Types.String) {
    errs.add(path, "expected a duration string such as \"500ms\", \"10s\", \"1.5s\" or \"2m\", found " + describe(v));
    return def;
  }
  const d = parseDuration(v.get<string>());
  if (d.error.length > 0) {
    errs.add(path, d.error);
    return def;
  }
  if (d.ms < minMs || d.ms > maxMs) {
    errs.add(path, "must be between " + formatMs(minMs) + " and " + formatMs(maxMs) + ", found " + quote(v.get<string>()));
    return def;
  }
  return d.ms;
}

/** Milliseconds in the largest unit that divides them ("10s", "500ms", "5m"). */
export function formatMs(ms: i64): string {
  if (ms != 0 && ms % 3600000 == 0) return (ms / 3600000).toString() + "h";
  if (ms != 0 && ms % 60000 == 0) return (ms / 60000).toString() + "m";
  if (ms != 0 && ms % 1000 == 0) return (ms / 1000).toString() + "s";
  return ms.toString() + "ms";
}

// ---- objects -------------------------------------------------------------------------

/**
 * A JSON object being validated. Every member read is marked; `finish()` reports the members
 * nobody asked for as unknown fields, with a hint to the nearest known name.
 * Members may carry their own paths (a Higress rule's merged view mixes global and rule keys).
 */
export class ObjReader {
  path: string;
  keys: string[];
  values: JSON.Value[];
  keyPaths: string[];
  used: bool[];
  known: string[] = [];
  errs: Errors;

  constructor(path: string, keys: string[], values: JSON.Value[], keyPaths: string[], errs: Errors) {
    this.path = path;
    this.keys = keys;
    this.values = values;
    this.keyPaths = keyPaths;
    this.errs = errs;
    this.used = new Array<bool>(keys.length);
  }

  /** Reads `v` as an object, or records a type error and returns null. */
  static of(v: JSON.Value, path: string, errs: Errors): ObjReader | null {
    if (v.type != JSON.Types.Object) {
      errs.add(path, "expected an object, found " + describe(v));
      return null;
    }
    const o = v.get<JSON.Obj>();
    const raw = o.keys();
    const values = o.values();
    const n = raw.length < values.length ? raw.length : values.length;
    const keys = new Array<string>(n);
    const paths = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const r = unchecked(raw[i]);
      const k = decodeJsonString(r, 0, r.length);
      unchecked((keys[i] = k));
      unchecked((paths[i] = childPath(path, k)));
    }
    if (values.length > n) values.length = n;
    return new ObjReader(path, keys, values, paths, errs);
  }

  indexOf(key: string): i32 {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return i;
    }
    return -1;
  }

  private note(key: string): void {
    if (!this.known.includes(key)) this.known.push(key);
  }

  /**
   * Is the member present (it counts as a known name either way)? A member set to null is
   * absent: Higress turns YAML `key:` with no value into null, and the user meant "not set".
   */
  has(key: string): bool {
    return this.opt(key) !== null;
  }

  /** The member's value as written (marking it used), null included; null when absent. */
  field(key: string): JSON.Value | null {
    this.note(key);
    const i = this.indexOf(key);
    if (i < 0) return null;
    unchecked((this.used[i] = true));
    return unchecked(this.values[i]);
  }

  /** The member's value (marking it used), or null when it is absent or set to null. */
  opt(key: string): JSON.Value | null {
    const v = this.field(key);
    if (v === null || v.type == JSON.Types.Null) return null;
    return v;
  }

  /** Path of a member, present or not. */
  pathOf(key: string): string {
    const i = this.indexOf(key);
    if (i >= 0) return unchecked(this.keyPaths[i]);
    return childPath(this.path, key);
  }

  /** A required member is absent, or null (which says so: null reads as "not set"). */
  missing(key: string, what: string): void {
    const i = this.indexOf(key);
    const isNull = i >= 0 && unchecked(this.values[i]).type == JSON.Types.Null;
    this.errs.add(this.pathOf(key), "required" + (what.length > 0 ? " (" + what + ")" : "") + (isNull ? ", found null" : ""));
  }

  /** A present member is an error with `message` (fields not allowed in this context). */
  reject(key: string, message: string): void {
    const v = this.opt(key);
    if (v !== null) this.errs.add(this.pathOf(key), message);
  }

  str(key: string, required: bool, what: string = ""): string | null {
    const v = this.opt(key);
    if (v === null) {
      if (required) this.missing(key, what);
      return null;
    }
    return readString(v, this.pathOf(key), this.errs);
  }

  nonEmpty(key: string, required: bool, what: string = ""): string | null {
    const v = this.opt(key);
    if (v === null) {
      if (required) this.missing(key, what);
      return null;
    }
    return readNonEmpty(v, this.pathOf(key), this.errs);
  }

  int(key: string, def: i64, min: i64, max: i64): i64 {
    const v = this.opt(key);
    if (v === null) return def;
    return readInt(v, this.pathOf(key), min, max, def, this.errs);
  }

  boolean(key: string, def: bool): bool {
    const v = this.opt(key);
    if (v === null) return def;
    return readBool(v, this.pathOf(key), def, this.errs);
  }

  duration(key: string, def: i64, minMs: i64, maxMs: i64): i64 {
    const v = this.opt(key);
    if (v === null) return def;
    return readDuration(v, this.pathOf(key), minMs, maxMs, def, this.errs);
  }

  obj(key: string, required: bool = false, what: string = ""): ObjReader | null {
    const v = this.opt(key);
    if (v === null) {
      if (required) this.missing(key, what);
      return null;
    }
    return ObjReader.of(v, this.pathOf(key), this.errs);
  }

  arr(key: string, required: bool = false, what: string = ""): ArrReader | null {
    const v = this.opt(key);
    if (v === null) {
      if (required) this.missing(key, what);
      return null;
    }
    return ArrReader.of(v, this.pathOf(key), this.errs);
  }

  /** An array of non-empty strings (null when absent or not an array). */
  strings(key: string, unique: bool): string[] | null {
    const a = this.arr(key);
    if (a === null) return null;
    return a.strings(unique);
  }

  /** Reports members never read as unknown fields. */
  finish(): void {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.used[i])) continue;
      const k = unchecked(this.keys[i]);
      const hint = nearest(k, this.known);
      this.errs.add(
        unchecked(this.keyPaths[i]),
        "unknown field" + (hint.length > 0 ? " (did you mean " + hint + "?)" : ""),
      );
    }
  }
}

// ---- arrays --------------------------------------------------------------------------

export class ArrReader {
  path: string;
  arr: JSON.Arr;
  errs: Errors;

  constructor(path: string, arr: JSON.Arr, errs: Errors) {
    this.path = path;
    this.arr = arr;
    this.errs = errs;
  }

  static of(v: JSON.Value, path: string, errs: Errors): ArrReader | null {
    if (v.type != JSON.Types.Array) {
      errs.add(path, "expected an array, found " + describe(v));
      return null;
    }
    return new ArrReader(path, v.get<JSON.Arr>(), errs);
  }

  get length(): i32 {
    return this.arr.length;
  }

  pathAt(i: i32): string {
    return indexPath(this.path, i);
  }

  /** Element i; callers iterate 0 ≤ i < length. */
  at(i: i32): JSON.Value {
    return this.arr.at(i);
  }

  objAt(i: i32): ObjReader | null {
    return ObjReader.of(this.at(i), this.pathAt(i), this.errs);
  }

  /** All elements as non-empty strings; duplicates are errors when `unique`. */
  strings(unique: bool): string[] {
    const out = new Array<string>();
    // A set, not out.indexOf: a list of 30,000 models took 8 s to validate.
    const seen = new Set<string>();
    for (let i = 0; i < this.length; i++) {
      const s = readNonEmpty(this.at(i), this.pathAt(i), this.errs);
      if (s === null) continue;
      if (unique) {
        const dup = seen.has(s);
        seen.add(s);
        if (dup) {
          this.errs.add(this.pathAt(i), "duplicate value " + quote(s));
          continue;
        }
      }
      out.push(s);
    }
    return out;
  }
}
