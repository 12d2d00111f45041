// firstTokenTimeout, callback by callback (plugin/request/response.ts holdForFirstToken /
// heldStreamChunk): a 200 event stream is held — headers kept (StopIteration), body buffered
// (StopIterationAndBuffer, each callback then sees the whole buffer) — until a callback brings its
// first token: a content event, its end, its usage, or an error event. Then headers and buffer go
// at once, rewritten where the scan changes them (the usage event the client did not ask for).
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, header, rig, type HostRig } from "../../harness/rig/host-rig.ts";

let r: HostRig;
afterEach(async () => { await r?.close(); });

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  sse({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });
const FILTER = sse({ choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] });
const ROLE = chunk({ role: "assistant", content: "" });
const USAGE = sse({ id: "c1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
const HEADERS: Array<[string, string]> = [[":status", "200"], ["content-type", "text/event-stream"], ["content-length", "9999"]];

async function held() {
  r = await rig(baseConfig({ firstTokenTimeout: "30s" }));
  const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
  f.callOnResponseHeaders(HEADERS, false);
  return f;
}

describe("a stream held until its first token", () => {
  it("the preamble is buffered over several callbacks; the first content event releases headers and buffer at once, the unasked usage event stripped", async () => {
    const f = await held();
    expect(f.responseHeaders).toBeNull();
    f.callOnResponseBody(FILTER, false);
    f.callOnResponseBody(ROLE, false);
    expect(f.responseHeaders).toBeNull();
    expect(f.responseData).toEqual([]);
    // The first token, the end and the usage the gateway asked for in one callback.
    f.callOnResponseBody(chunk({ content: "Hi" }) + chunk({ content: "!" }, "stop") + USAGE + "data: [DONE]\n\n", true);
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("east");
    // The scan changes the bytes: content-length goes.
    expect(f.header("content-length")).toBeUndefined();
    expect(f.body).toBe(FILTER + ROLE + chunk({ content: "Hi" }) + chunk({ content: "!" }, "stop") + "data: [DONE]\n\n");
    expect(f.responseEnded).toBe(true);
    f.complete();
    expect(r.lines("ai-failover access: provider=east").some((l) => l.includes(" prompt_tokens=9 completion_tokens=2 estimated=false "))).toBe(true);
  });

  it("after the release, chunks pass one by one as they come", async () => {
    const f = await held();
    f.callOnResponseBody(ROLE, false);
    f.callOnResponseBody(chunk({ content: "Hi" }), false);
    expect(f.body).toBe(ROLE + chunk({ content: "Hi" }));
    f.callOnResponseBody(chunk({ content: " there" }), false);
    expect(f.responseData.at(-1)!.toString()).toBe(chunk({ content: " there" }));
    f.callOnResponseBody(chunk({}, "stop") + "data: [DONE]\n\n", true);
    expect(f.body).toContain("data: [DONE]");
    f.complete();
  });

  it("an error event releases the stream (the client gets it), even with its key split by a chunk", async () => {
    const f = await held();
    f.callOnResponseBody(ROLE + 'data: {"err', false);
    expect(f.responseHeaders).toBeNull();
    f.callOnResponseBody('or":{"message":"The server had an error","type":"server_error"}}\n\n', false);
    expect(f.status).toBe(200);
    expect(f.body).toBe(ROLE + 'data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n');
    f.complete();
  });

  it("a Responses API stream: response.created (its \"error\": null included) is preamble; the first output_text delta releases it", async () => {
    r = await rig(baseConfig({ firstTokenTimeout: "30s" }));
    const f = r.request("/v1/responses", { model: "gpt-4o", input: "hi", stream: true });
    f.callOnResponseHeaders(HEADERS, false);
    const created = 'event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress","error":null,"usage":null}}\n\n';
    const progress = 'event: response.in_progress\ndata: {"type":"response.in_progress","response":{"id":"r1","status":"in_progress","error" : null}}\n\n';
    f.callOnResponseBody(created, false);
    f.callOnResponseBody(progress, false);
    expect(f.responseHeaders).toBeNull();
    const delta = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n';
    f.callOnResponseBody(delta, false);
    expect(f.status).toBe(200);
    expect(f.body).toBe(created + progress + delta);
    f.complete();
  });

  it("a Responses API error event releases the stream", async () => {
    r = await rig(baseConfig({ firstTokenTimeout: "30s" }));
    const f = r.request("/v1/responses", { model: "gpt-4o", input: "hi", stream: true });
    f.callOnResponseHeaders(HEADERS, false);
    f.callOnResponseBody('event: response.created\ndata: {"type":"response.created","response":{"id":"r1","error":null}}\n\nevent: er', false);
    expect(f.responseHeaders).toBeNull();
    f.callOnResponseBody('ror\ndata: {"type":"error","code":"server_error","message":"oops"}\n\n', false);
    expect(f.status).toBe(200);
    expect(f.body).toContain('"type":"error"');
    f.complete();
  });

  it("a stream that ends within its preamble goes on at its end (with the gateway's incomplete-stream error)", async () => {
    const f = await held();
    f.callOnResponseBody(FILTER + ROLE, false);
    f.callOnResponseBody("", true);
    expect(f.status).toBe(200);
    expect(f.body.startsWith(FILTER + ROLE)).toBe(true);
    expect(f.body).toContain("upstream_stream_incomplete");
    expect(f.responseEnded).toBe(true);
    f.complete();
  });

  it("a held stream that ends with trailers goes on with its headers decorated", async () => {
    const f = await held();
    f.callOnResponseBody(ROLE, false);
    f.callOnResponseTrailers([["x-trailer", "1"], ["api-key", "leaked"]]);
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("east");
    expect(f.body).toBe(ROLE);
    expect(header(f.responseTrailers, "api-key")).toBeUndefined();
    f.complete();
  });

  it("a 200 that is not an event stream is not held", async () => {
    r = await rig(baseConfig({ firstTokenTimeout: "30s" }));
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "application/json"]], false);
    expect(f.status).toBe(200);
    f.callOnResponseBody('{"id":"x"}', true);
    expect(f.body).toBe('{"id":"x"}');
    f.complete();
  });

  it("header mode never holds (a held header there would stop the body too)", async () => {
    r = await rig(baseConfig({ firstTokenTimeout: "30s", mode: "headers" }));
    const f = r.open();
    const body = Buffer.from(JSON.stringify(chatBody({ stream: true })));
    f.callOnRequestHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"], ["content-type", "application/json"],
      ["content-length", String(body.length)], ["x-ai-model", "gpt-4o"]], false);
    f.callOnRequestBody(body, true);
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    expect(f.status).toBe(200);
    f.complete();
  });
});
