/**
 * RESP2, the Redis protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * commands as arrays of bulk strings, replies of the five RESP2 types. Used by the harness's
 * Redis client (the rate limit stand-in), by the host's Higress redis calls (which pass the
 * module's bytes through and hand back each reply's raw bytes, like Envoy's RawDecoderImpl in
 * source/extensions/filters/network/common/redis/codec_impl.cc of higress-group/envoy), and by tests.
 */

export class RespError extends Error {
  constructor(readonly text: string) {
    super(text);
  }
}

export type RespValue = string | number | Buffer | null | RespError | RespValue[];

/** A command as RESP: an array of bulk strings (how higress-group/wasm-go's respString sends them). */
export function encodeCommand(args: Array<string | number | Uint8Array>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? Buffer.from(a, "utf8") : typeof a === "number" ? Buffer.from(String(a)) : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

export class RespProtocolError extends Error {}

/** End offset of the complete reply starting at `at`, or -1 if more bytes are needed. */
function replyEnd(buf: Buffer, at: number): number {
  if (at >= buf.length) return -1;
  const lineEnd = buf.indexOf("\r\n", at);
  if (lineEnd < 0) return -1;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString("latin1", at + 1, lineEnd);
  switch (type) {
    case "+":
    case "-":
    case ":":
      return lineEnd + 2;
    case "$": {
      const n = Number(line);
      if (!Number.isInteger(n) || n < -1) throw new RespProtocolError(`bad bulk length ${JSON.stringify(line)}`);
      if (n === -1) return lineEnd + 2;
      const end = lineEnd + 2 + n + 2;
      return end <= buf.length ? end : -1;
    }
    case "*": {
      const n = Number(line);
      if (!Number.isInteger(n) || n < -1) throw new RespProtocolError(`bad array length ${JSON.stringify(line)}`);
      let p = lineEnd + 2;
      for (let i = 0; i < n; i++) {
        p = replyEnd(buf, p);
        if (p < 0) return -1;
      }
      return p;
    }
    default:
      throw new RespProtocolError(`unknown RESP type byte 0x${buf[at]!.toString(16)}`);
  }
}

/** Splits a byte stream into complete raw replies. */
export class RespSplitter {
  private buf = Buffer.alloc(0);

  /** Adds bytes; returns every reply now complete, as its exact bytes. Throws RespProtocolError. */
  push(chunk: Uint8Array): Buffer[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const end = replyEnd(this.buf, at);
      if (end < 0) break;
      out.push(this.buf.subarray(at, end));
      at = end;
    }
    this.buf = this.buf.subarray(at);
    return out;
  }
}

function parseAt(buf: Buffer, at: number): [RespValue, number] {
  const lineEnd = buf.indexOf("\r\n", at);
  if (lineEnd < 0) throw new RespProtocolError("incomplete reply");
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString("utf8", at + 1, lineEnd);
  switch (type) {
    case "+":
      return [line, lineEnd + 2];
    case "-":
      return [new RespError(line), lineEnd + 2];
    case ":":
      return [Number(line), lineEnd + 2];
    case "$": {
      const n = Number(line);
      if (n === -1) return [null, lineEnd + 2];
      return [buf.subarray(lineEnd + 2, lineEnd + 2 + n), lineEnd + 2 + n + 2];
    }
    case "*": {
      const n = Number(line);
      if (n === -1) return [null, lineEnd + 2];
      const items: RespValue[] = [];
      let p = lineEnd + 2;
      for (let i = 0; i < n; i++) {
        const [v, next] = parseAt(buf, p);
        items.push(v);
        p = next;
      }
      return [items, p];
    }
    default:
      throw new RespProtocolError(`unknown RESP type byte 0x${buf[at]!.toString(16)}`);
  }
}

/** One complete reply's bytes → its value (bulk strings as Buffers). */
export function parseReply(raw: Uint8Array): RespValue {
  return parseAt(Buffer.from(raw), 0)[0];
}
