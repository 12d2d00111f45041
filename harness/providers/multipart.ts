/**
 * multipart/form-data (RFC 7578) as the openai SDK sends it (undici's FormData): parts
 * separated by `--boundary` CRLF, each with `Content-Disposition: form-data; name="…"`
 * (and `filename="…"` for files), an optional `Content-Type`, a blank line, the bytes.
 * Repeated names are kept in order (`image[]` for arrays). Pure; works on the raw bytes.
 */

export interface FormFile {
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface FormPart {
  name: string;
  /** Present for file parts. */
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export interface FormData {
  parts: FormPart[];
  /** Text fields (parts without filename), last value wins. */
  fields: Record<string, string>;
  /** File parts by field name, in order. */
  files: Record<string, FormFile[]>;
}

/** The boundary of a multipart/form-data content type, or undefined when it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** One `key="value"` parameter of a header value (quoted strings may hold `\"`). */
function param(header: string, key: string): string | undefined {
  const re = new RegExp(`(?:^|;)\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, "i");
  const m = re.exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!.trim();
}

/** Parsed parts, or undefined when the body is not well-formed multipart for that boundary. */
export function parseMultipart(body: Buffer, boundary: string): FormData | undefined {
  const delim = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return undefined;
  for (;;) {
    pos += delim.length;
    // "--" after a delimiter closes the body
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    else return undefined;
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    if (headerEnd < 0) return undefined;
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString("utf8").split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delim]), headerEnd + 4);
    if (next < 0) return undefined;
    const disposition = headers["content-disposition"] ?? "";
    const name = param(disposition, "name");
    if (name === undefined) return undefined;
    const part: FormPart = { name, data: Buffer.from(body.subarray(headerEnd + 4, next)) };
    const filename = param(disposition, "filename");
    if (filename !== undefined) part.filename = filename;
    if (headers["content-type"]) part.contentType = headers["content-type"];
    parts.push(part);
    pos = next + 2;
  }
  const fields: Record<string, string> = {};
  const files: Record<string, FormFile[]> = {};
  for (const p of parts) {
    if (p.filename === undefined) fields[p.name] = p.data.toString("utf8");
    else (files[p.name] ??= []).push({ filename: p.filename, contentType: p.contentType ?? "application/octet-stream", data: p.data });
  }
  return { parts, fields, files };
}
