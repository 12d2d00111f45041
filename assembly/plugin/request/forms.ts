// Request bodies that are not JSON: multipart/form-data (file uploads, image edits, audio
// transcriptions). Read as bytes, never rewritten: the model comes from its "model" field.

import { ApiKind, isStateful } from "../../provider/api";
import { indexOf, matchAt, utf8 } from "../../lib/bytes";
import { RequestScan } from "../../lib/json_scan";
import { FilterDataStatusValues } from "@solo-io/proxy-runtime/assembly";
import { invalidForm } from "../../plan/rejection";
import { RequestState } from "./state";
import { reject } from "./response";

export function isMultipart(contentType: string): bool {
  const t = contentType.trimStart();
  return t.length >= 19 && t.substring(0, 19).toLowerCase() == "multipart/form-data";
}

/** Answers a form multipartModel refused with a 400 saying why. */
export function refuseBody(r: RequestState, why: string): FilterDataStatusValues {
  reject(r, invalidForm(why));
  return FilterDataStatusValues.StopIterationNoBuffer;
}

/** The form's model as RFC 7578 / RFC 2046 read it, or why the form is refused. */
export class FormModel {
  /** The text field "model" ("" when the form has none). */
  model: string = "";
  /** Non-empty: the form is malformed or ambiguous (answered 400), and says why. */
  error: string = "";
  /** The text field "purpose" (file uploads; "" when absent), and how many were sent. */
  purpose: string = "";
  purposes: i32 = 0;
  /** The content of the "file" part: [fileStart, fileEnd) of the body (-1: none), how many "file" parts, and whether one has a Content-Transfer-Encoding. */
  fileStart: i32 = -1;
  fileEnd: i32 = -1;
  files: i32 = 0;
  fileEncoded: bool = false;
  /** A field name readers may or may not take as "purpose" or "file" (a batch upload is then refused). */
  ambiguous: bool = false;
}

const MAX_BOUNDARY = 70; // RFC 2046 §5.1.1: 1 to 70 characters
const MAX_PART_HEADERS = 8192; // one part's header block
const MAX_MODEL = 256;

@inline function isTokenChar(c: i32): bool {
  // RFC 9110 tchar
  if (c >= 0x30 && c <= 0x39) return true;
  if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) return true;
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
}

/**
 * Parameters of a header value `type; a=b; c="d"` (RFC 9110 §5.6.6: token or quoted-string,
 * names case-insensitive), as [lower-case name, value, raw value, …]. null when malformed.
 * `from` is the index after the type.
 */
function headerParams(v: string, from: i32): string[] | null {
  const out = new Array<string>();
  let i = from;
  const n = v.length;
  for (;;) {
    while (i < n && (v.charCodeAt(i) == 0x20 || v.charCodeAt(i) == 0x09)) i++;
    if (i >= n) return out;
    if (v.charCodeAt(i) != 0x3b) return null; // ';'
    i++;
    while (i < n && (v.charCodeAt(i) == 0x20 || v.charCodeAt(i) == 0x09)) i++;
    if (i >= n) return out; // a trailing ';'
    if (v.charCodeAt(i) == 0x3b) continue; // an empty parameter
    const ns = i;
    while (i < n && isTokenChar(v.charCodeAt(i))) i++;
    if (i == ns || i >= n || v.charCodeAt(i) != 0x3d) return null; // '='
    const name = v.substring(ns, i).toLowerCase();
    i++;
    if (i < n && v.charCodeAt(i) == 0x22) {
      // quoted-string; a quoted-pair (\x) stands for x
      let val = "";
      const rs = i;
      i++;
      let closed = false;
      let seg = i;
      while (i < n) {
        const c = v.charCodeAt(i);
        if (c == 0x22) { closed = true; break; }
        if (c == 0x5c) {
          if (i + 1 >= n) return null;
          val += v.substring(seg, i);
          seg = i + 1;
          i += 2;
          continue;
        }
        i++;
      }
      if (!closed) return null;
      val += v.substring(seg, i);
      i++;
      out.push(name); out.push(val); out.push(v.substring(rs, i));
    } else {
      const vs = i;
      while (i < n && isTokenChar(v.charCodeAt(i))) i++;
      if (i == vs) return null;
      const val = v.substring(vs, i);
      out.push(name); out.push(val); out.push(val);
    }
  }
  return out;
}

/** The value of parameter `name` in headerParams output; "\0dup" when given twice, "\0none" when absent. */
function param(ps: string[], name: string): string {
  let found = "\0none";
  for (let i = 0; i + 2 < ps.length; i += 3) {
    if (unchecked(ps[i]) != name) continue;
    if (found != "\0none") return "\0dup";
    found = unchecked(ps[i + 1]);
  }
  return found;
}

function hasDuplicateParam(ps: string[]): bool {
  for (let i = 0; i + 2 < ps.length; i += 3) {
    for (let j = i + 3; j + 2 < ps.length; j += 3) if (unchecked(ps[i]) == unchecked(ps[j])) return true;
  }
  return false;
}

/** `s` with %XX escapes decoded (how an HTML-form-minded parser may read a field name). */
function percentDecoded(s: string): string {
  if (s.indexOf("%") < 0) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x25 && i + 2 < s.length) {
      const h = I32.parseInt(s.substring(i + 1, i + 3), 16);
      if (!isNaN<f64>(<f64>h) && h >= 0 && h < 128) { out += String.fromCharCode(<i32>h); i += 2; continue; }
    }
    out += String.fromCharCode(c);
  }
  return out;
}

@inline function byteAt(b: Uint8Array, i: i32): i32 {
  return <i32>load<u8>(b.dataStart + <usize>i);
}

/**
 * Where the delimiter `--boundary` found at `at` ends: the index after its line's CRLF (a part
 * follows), -2 for the close delimiter, -1 when it is not a delimiter (data), -3 when transport
 * padding follows it (readers disagree on it: refused).
 */
function delimiterEnd(b: Uint8Array, at: i32, dlen: i32): i32 {
  const i = at + dlen;
  const n = b.length;
  if (i + 1 < n && byteAt(b, i) == 0x0d && byteAt(b, i + 1) == 0x0a) return i + 2;
  if (i + 1 < n && byteAt(b, i) == 0x2d && byteAt(b, i + 1) == 0x2d) return -2;
  if (i + 1 == n && byteAt(b, i) == 0x2d) return -1;
  if (i < n && (byteAt(b, i) == 0x20 || byteAt(b, i) == 0x09)) return -3;
  return -1;
}

function refused(f: FormModel, why: string): FormModel {
  f.model = "";
  f.error = "multipart/form-data body refused: " + why;
  return f;
}

/**
 * The "model" text field of a multipart/form-data body, read as RFC 7578 / RFC 2046 do: the
 * boundary parameter of the content type (not any "boundary=" substring), parts separated by
 * CRLF "--boundary" lines, each part's Content-Disposition parameters (quoted strings; not a
 * `filename="model"` or another header that mentions name="model"). A form that readers may take
 * differently is refused rather than guessed: duplicate boundary or `model`, a `model` file part,
 * `name*`, folded or bare-LF part headers, padding after a delimiter, a preamble, no close
 * delimiter. Linear: every byte is looked at a bounded number of times; a part's headers are
 * read within its own header block (at most 8 KB).
 */
export function multipartModel(body: Uint8Array, contentType: string): FormModel {
  const f = new FormModel();
  const semi = contentType.indexOf(";");
  if (semi < 0) return refused(f, "the content type has no boundary parameter");
  const ps = headerParams(contentType, semi);
  if (ps === null) return refused(f, "malformed content-type parameters");
  const boundary = param(ps, "boundary");
  if (boundary == "\0dup") return refused(f, "the content type names its boundary twice");
  if (boundary == "\0none") return refused(f, "the content type has no boundary parameter");
  if (boundary.length == 0 || boundary.length > MAX_BOUNDARY) return refused(f, "the boundary must be 1 to 70 characters");
  const delim = utf8("--" + boundary);
  const dlen = delim.length;
  const n = body.length;
  // The body starts with the first delimiter (a leading CRLF is tolerated): no preamble.
  let pos = 0;
  if (n >= 2 && byteAt(body, 0) == 0x0d && byteAt(body, 1) == 0x0a) pos = 2;
  if (!matchAt(body, pos, delim)) return refused(f, "the body does not start with the boundary delimiter");
  let partStart = delimiterEnd(body, pos, dlen);
  let seenModel = false;
  for (;;) {
    if (partStart == -2) break;
    if (partStart == -3) return refused(f, "whitespace after a boundary delimiter");
    if (partStart < 0) return refused(f, "the body does not start with the boundary delimiter");
    // The part's header block: CRLF-terminated lines up to an empty one.
    let i = partStart;
    const limit = min(n, partStart + MAX_PART_HEADERS);
    let dispositions = 0;
    let disposition = "";
    let encoding = "";
    let headersEnd = -1;
    while (i < limit) {
      let e = i;
      while (e < limit && byteAt(body, e) != 0x0d && byteAt(body, e) != 0x0a) e++;
      if (e + 1 >= limit) break;
      if (byteAt(body, e) != 0x0d || byteAt(body, e + 1) != 0x0a) return refused(f, "a bare CR or LF in a part's headers");
      if (e == i) { headersEnd = e + 2; break; }
      const first = byteAt(body, i);
      if (first == 0x20 || first == 0x09) return refused(f, "a folded part header");
      const line = String.UTF8.decodeUnsafe(body.dataStart + <usize>i, <usize>(e - i));
      const colon = line.indexOf(":");
      if (colon <= 0) return refused(f, "a part header without a name");
      const hname = line.substring(0, colon);
      for (let k = 0; k < hname.length; k++) if (!isTokenChar(hname.charCodeAt(k))) return refused(f, "a malformed part header name");
      const lower = hname.toLowerCase();
      if (lower == "content-disposition") { dispositions++; disposition = line.substring(colon + 1).trim(); }
      else if (lower == "content-transfer-encoding") encoding = line.substring(colon + 1).trim().toLowerCase();
      i = e + 2;
    }
    if (headersEnd < 0) return refused(f, "a part's headers do not end (or exceed 8 KB)");
    // The part's content ends at the next CRLF "--boundary" that is a delimiter line.
    let search = headersEnd;
    let contentEnd = -1;
    let next = -1;
    for (;;) {
      const d = indexOf(body, delim, search);
      if (d < 0) break;
      if (byteAt(body, d - 2) == 0x0d && byteAt(body, d - 1) == 0x0a) {
        const de = delimiterEnd(body, d, dlen);
        // A delimiter whose CRLF is the header block's own: readers disagree whether it is one.
        if (de != -1 && d == headersEnd) return refused(f, "a part without the CRLF before the next delimiter");
        if (de != -1) {
          contentEnd = d - 2;
          next = de;
          break;
        }
      }
      search = d + 1;
    }
    if (contentEnd < 0) return refused(f, "no closing boundary delimiter");
    if (dispositions != 1) return refused(f, dispositions == 0 ? "a part without Content-Disposition" : "a part with two Content-Disposition headers");
    let t = 0;
    while (t < disposition.length && isTokenChar(disposition.charCodeAt(t))) t++;
    if (disposition.substring(0, t).toLowerCase() != "form-data") return refused(f, "a part whose Content-Disposition is not form-data");
    const dp = headerParams(disposition, t);
    if (dp === null) return refused(f, "malformed Content-Disposition parameters");
    if (hasDuplicateParam(dp)) return refused(f, "a Content-Disposition parameter given twice");
    if (param(dp, "name*") != "\0none") return refused(f, "name* in Content-Disposition (RFC 7578 §4.2)");
    const name = param(dp, "name");
    if (name == "\0none") return refused(f, "a part without a name");
    // How readers may take the name (readersDiffer): all "model" or none.
    const raw = unquote(rawParam(dp, "name"));
    const isModel = name == "model";
    if (readersDiffer(name, raw, "model")) return refused(f, "a field name that readers may or may not take as \"model\"");
    // A batch upload's file and purpose (plugin/batches.ts reads them): the same care.
    if (readersDiffer(name, raw, "purpose") || readersDiffer(name, raw, "file")) f.ambiguous = true;
    if (name == "purpose") {
      f.purposes++;
      const len = contentEnd - headersEnd;
      f.purpose = len <= MAX_MODEL ? String.UTF8.decodeUnsafe(body.dataStart + <usize>headersEnd, <usize>len).trim() : "";
    } else if (name == "file") {
      f.files++;
      f.fileStart = headersEnd;
      f.fileEnd = contentEnd;
      if (encoding.length > 0 && encoding != "7bit" && encoding != "8bit" && encoding != "binary") f.fileEncoded = true;
    }
    if (isModel) {
      if (seenModel) return refused(f, "two \"model\" fields");
      seenModel = true;
      if (param(dp, "filename") != "\0none" || param(dp, "filename*") != "\0none") return refused(f, "\"model\" sent as a file");
      if (encoding.length > 0 && encoding != "7bit" && encoding != "8bit" && encoding != "binary") return refused(f, "\"model\" with a Content-Transfer-Encoding");
      const len = contentEnd - headersEnd;
      if (len > MAX_MODEL) return refused(f, "\"model\" longer than 256 bytes");
      f.model = String.UTF8.decodeUnsafe(body.dataStart + <usize>headersEnd, <usize>len).trim();
    }
    partStart = next;
  }
  return f;
}

/**
 * How readers may take a field name: RFC 7578 (quoted-pair unescaped), a naive reader (quotes
 * dropped, nothing unescaped), an HTML-minded one (%XX decoded). All `target` or none, else they differ.
 */
function readersDiffer(name: string, raw: string, target: string): bool {
  const is = name == target;
  return is != (raw == target) || is != (percentDecoded(name) == target) || is != (percentDecoded(raw) == target);
}

/** The raw (as written, quotes included) value of parameter `name`. */
function rawParam(ps: string[], name: string): string {
  for (let i = 0; i + 2 < ps.length; i += 3) if (unchecked(ps[i]) == name) return unchecked(ps[i + 2]);
  return "";
}

/** A raw quoted value without its quotes and without unescaping (how a naive reader takes it). */
function unquote(raw: string): string {
  return raw.length >= 2 && raw.charCodeAt(0) == 0x22 ? raw.substring(1, raw.length - 1) : raw;
}

/**
 * A Responses request with a top-level "store": false keeps nothing at the provider: freely
 * routable. Read by the request scanner (any JSON whitespace, `"store" : false` too; a `store`
 * nested in metadata or in text is not the request's).
 */
export function storesNothing(scan: RequestScan | null): bool {
  return scan !== null && scan.store == 0;
}

/** Do answers of this API create or reveal stored objects (plugin/affinity.ts records them)? */
export function capturesIds(kind: ApiKind, method: string): bool {
  if (kind == ApiKind.Responses) return method == "POST";
  return isStateful(kind) && method != "DELETE";
}
