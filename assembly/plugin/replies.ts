// Replies the gateway itself sends, in OpenAI's error shape so SDKs surface the message.

import { ByteBuilder } from "../lib/bytes";
import { sendLocalResponse } from "../host/calls";

function jsonString(b: ByteBuilder, s: string): void {
  b.byte(0x22);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) b.str("\\\"");
    else if (c == 0x5c) b.str("\\\\");
    else if (c < 0x20) {
      b.str("\\u00");
      const hex = "0123456789abcdef";
      b.str(hex.charAt(c >> 4)).str(hex.charAt(c & 15));
    } else b.str(String.fromCharCode(c));
  }
  b.byte(0x22);
}

export function errorBody(message: string, type: string, code: string): ArrayBuffer {
  const b = new ByteBuilder(128 + message.length);
  b.str("{\"error\":{\"message\":");
  jsonString(b, message);
  b.str(",\"type\":");
  jsonString(b, type);
  b.str(",\"param\":null,\"code\":");
  jsonString(b, code);
  b.str("}}");
  return b.finish().buffer;
}

/** Sends an OpenAI-shaped error. `extra` are additional [name, value, …] headers. */
export function sendError(status: u32, details: string, message: string, type: string, code: string, extra: string[]): void {
  const headers = ["content-type", "application/json", "x-ai-failover-error", code];
  for (let i = 0; i < extra.length; i++) headers.push(unchecked(extra[i]));
  sendLocalResponse(status, details, errorBody(message, type, code), headers);
}

/** A JSON string literal (with quotes) for building small bodies. */
export function quote(s: string): string {
  const b = new ByteBuilder(s.length + 8);
  jsonString(b, s);
  return String.UTF8.decode(b.finish().buffer);
}
