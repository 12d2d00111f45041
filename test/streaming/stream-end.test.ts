// Streaming: how the end of a provider's stream is recognised (a clean end, or one cut short that
// gets an upstream_stream_incomplete error event appended).
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, rig, type HostRig } from "../../harness/rig/host-rig.ts";

describe("streaming: the end of a stream", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // A Responses API stream ends with response.completed, response.incomplete (e.g.
  // max_output_tokens reached) or response.failed. The gateway only accepts response.completed as
  // the end and appends an "upstream_stream_incomplete" error event to a stream that ended normally.
  it("a Responses stream that ends with response.incomplete gets no gateway error appended", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/responses", { model: "gpt-4o", input: "hi", stream: true, max_output_tokens: 16 });
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(
      'event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress","usage":null}}\n\n' +
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n' +
      'event: response.incomplete\ndata: {"type":"response.incomplete","response":{"id":"r1","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":16,"total_tokens":21}}}\n\n'), true);
    f.complete();
    expect(f.body).not.toContain("upstream_stream_incomplete");
  });

  // plan/response_scan.ts chunk: terminal events are found by a byte needle anywhere in the stream.
  // Model output that merely mentions "response.completed" (a user asking about the Responses
  // API) marks the stream complete, so a stream the provider then cuts short reaches the client
  // as a clean end with no upstream_stream_incomplete error. (Same for chat: "data: [DONE]" in
  // content.) The needle must match only at an event's start (`event: ` / `data: ` line).
  it("a Responses stream cut short is flagged even if the text mentions response.completed", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/responses", { model: "gpt-4o", input: "how does streaming end?", stream: true });
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(
      'event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress","usage":null}}\n\n' +
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"It ends with response.completed or response.failed"}\n\n'), false);
    f.callOnResponseBody(Buffer.alloc(0), true); // provider ended the stream here, unfinished
    f.complete();
    expect(f.body).toContain("upstream_stream_incomplete");
  });
});
