// SSE framing as the format defines it, through the filter: lines end with CRLF, LF or CR, a field
// may omit the space after its colon, and media types are case-insensitive. Reproductions (each
// failed before): CR-only framing held the stream and leaked the injected usage event and ended
// with a spurious "incomplete" error event; `data:[DONE]` without the space added that error
// event; `Text/Event-Stream` turned stripping and completion checks off.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const content = (sep: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}${sep}`;
const usage = (sep: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}${sep}`;

describe("SSE framing through the filter", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  async function streamed(contentType: string, body: string, pieces = 3): Promise<{ text: string; sent: string }> {
    r = await rig(baseConfig());
    // The client did not ask for usage: the filter injects include_usage and strips the usage event.
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    expect(JSON.parse(f.upstreamBody).stream_options).toEqual({ include_usage: true });
    f.callOnResponseHeaders([[":status", "200"], ["content-type", contentType]], false);
    const bytes = Buffer.from(body);
    const step = Math.ceil(bytes.length / pieces);
    for (let p = 0; p < bytes.length; p += step) f.callOnResponseBody(bytes.subarray(p, p + step), p + step >= bytes.length);
    f.complete();
    return { text: f.body, sent: body };
  }

  it.each(["\r\r", "\n\r\n", "\r\n\r\n"])("separator %j: the usage event is stripped and no error event is added", async (sep) => {
    const { text } = await streamed("text/event-stream", content(sep) + usage(sep) + `data: [DONE]${sep}`);
    expect(text).toBe(content(sep) + `data: [DONE]${sep}`);
  });

  it("`data:[DONE]` without the space ends the stream: no error event is added", async () => {
    const { text } = await streamed("text/event-stream", content("\n\n") + usage("\n\n") + "data:[DONE]\n\n");
    expect(text).toBe(content("\n\n") + "data:[DONE]\n\n");
    expect(text).not.toContain("upstream_stream_incomplete");
  });

  it("`Text/Event-Stream; charset=utf-8` is an event stream: usage stripped, a cut stream still reported", async () => {
    const full = await streamed("Text/Event-Stream; charset=utf-8", content("\n\n") + usage("\n\n") + "data: [DONE]\n\n");
    expect(full.text).toBe(content("\n\n") + "data: [DONE]\n\n");
    await r.close();
    const cut = await streamed("Text/Event-Stream", content("\n\n"), 1);
    expect(cut.text).toContain("upstream_stream_incomplete");
  });
});
