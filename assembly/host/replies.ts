// Replies the gateway itself sends, in OpenAI's error shape so SDKs surface the message.

import { ByteBuilder } from "../lib/bytes";
import { writeJsonString } from "../lib/json_text";
import { sendLocalResponse } from "./calls";

export function errorBody(message: string, type: string, code: string): ArrayBuffer {
  const b = new ByteBuilder(128 + message.length);
  b.str("{\"error\":{\"message\":");
  writeJsonString(b, message);
  b.str(",\"type\":");
  writeJsonString(b, type);
  b.str(",\"param\":null,\"code\":");
  writeJsonString(b, code);
  b.str("}}");
  return b.finish().buffer;
}

/** Sends an OpenAI-shaped error. `extra` are additional [name, value, …] headers. */
export function sendError(status: u32, details: string, message: string, type: string, code: string, extra: string[]): void {
  const headers = ["content-type", "application/json", "x-ai-failover-error", code];
  for (let i = 0; i < extra.length; i++) headers.push(unchecked(extra[i]));
  sendLocalResponse(status, details, errorBody(message, type, code), headers);
}
