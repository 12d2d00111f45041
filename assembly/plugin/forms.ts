// Request bodies that are not JSON: multipart/form-data (file uploads, image edits, audio
// transcriptions). Read as bytes, never rewritten: the model comes from its "model" field.

import { ApiKind, isStateful } from "../provider/api";
import { indexOf, utf8 } from "../lib/bytes";
import { RequestScan } from "../lib/json_scan";

export function isMultipart(contentType: string): bool {
  const t = contentType.trimStart();
  return t.length >= 19 && t.substring(0, 19).toLowerCase() == "multipart/form-data";
}

/** The boundary parameter of a multipart content-type ("" when absent or malformed). */
function boundaryOf(contentType: string): string {
  const lower = contentType.toLowerCase();
  const at = lower.indexOf("boundary=");
  if (at < 0) return "";
  let b = contentType.substring(at + 9);
  const semi = b.indexOf(";");
  if (semi >= 0) b = b.substring(0, semi);
  b = b.trim();
  if (b.length >= 2 && b.startsWith("\"") && b.endsWith("\"")) b = b.substring(1, b.length - 1);
  return b.length > 0 && b.length <= 200 ? b : "";
}

const CRLFCRLF = utf8("\r\n\r\n");

/**
 * The value of the text field `name` of a multipart body (at most 256 bytes, trimmed), "" when
 * the body has no such field or is not multipart.
 */
export function multipartField(body: Uint8Array, contentType: string, name: string): string {
  const boundary = boundaryOf(contentType);
  if (boundary.length == 0) return "";
  const delim = utf8("--" + boundary);
  const disposition = utf8("name=\"" + name + "\"");
  let part = indexOf(body, delim, 0);
  while (part >= 0) {
    const headersEnd = indexOf(body, CRLFCRLF, part + delim.length);
    if (headersEnd < 0) return "";
    const next = indexOf(body, delim, headersEnd + 4);
    const d = indexOf(body, disposition, part + delim.length);
    if (d >= 0 && d < headersEnd) {
      const start = headersEnd + 4;
      let end = next >= 0 ? next - 2 : body.length; // the CRLF before the next delimiter
      if (end < start) end = start;
      if (end - start > 256) return "";
      return String.UTF8.decodeUnsafe(body.dataStart + start, end - start).trim();
    }
    part = next;
  }
  return "";
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
