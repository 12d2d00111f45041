// Streaming: stream_options.include_usage injected into the request over every body shape a
// client may send (the provider gets valid JSON asking for usage), and the usage chunk the client
// did not ask for stripped from the answer and accounted.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, OAI_KEY, openai, rig, sentJson, type HostRig } from "../../harness/rig/host-rig.ts";

const MSGS = '[{"role":"user","content":"hello"}]';

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

describe("streaming: include_usage injection", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // Coverage: include_usage injection over shapes a client may send; the provider must get valid
  // JSON that asks for usage, and content-length (if kept) must match.
  it.each([
    ["compact", `{"model":"gpt-4o","messages":${MSGS},"stream":true}`],
    ["pretty-printed", `{\n  "model" : "gpt-4o" ,\n  "messages" : ${MSGS} ,\n  "stream" : true\n}\n`],
    ["stream_options empty", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stream_options":{}}`],
    ["stream_options blank", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stream_options":{ \n }}`],
    ["stream_options other member", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stream_options":{"x":1}}`],
    ["stream_options first", `{"stream_options":{},"stream":true,"model":"gpt-4o","messages":${MSGS}}`],
    ["escaped key", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stre\\u0061m_options":{}}`],
    ["stream_options null", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stream_options":null}`],
  ])("include_usage injection keeps the body valid (%s)", async (_, body) => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", body);
    expect(f.up("authorization")).toBe("Bearer " + OAI_KEY);
    const j = sentJson(f);
    expect(j.stream).toBe(true);
    expect(j.model).toBe("gpt-4o");
    expect(j.stream_options.include_usage).toBe(true);
    f.complete();
  });

  // Same mechanism for include_usage: null — the gateway inserts include_usage:true first and
  // plans to strip the usage chunk, but the client's later null wins at the provider.
  it("stream_options.include_usage: null still makes the provider send usage", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", `{"model":"gpt-4o","messages":${MSGS},"stream":true,"stream_options":{"include_usage":null}}`);
    expect(sentJson(f).stream_options.include_usage).toBe(true);
    f.complete();
  });

  // Coverage: include_usage edge cases reach the provider as valid JSON asking for usage, and
  // the injected usage chunk never reaches the client.
  it.each([
    ["stream_options null", { stream_options: null }],
    ["stream_options empty", { stream_options: {} }],
    ["stream_options with other key", { stream_options: { foo: 1 } }],
    ["include_usage string", { stream_options: { include_usage: "yes" } }],
    ["duplicate: null last", '{"model":"gpt-4o","stream":true,"messages":[],"stream_options":{"include_usage":false,"include_usage":null}}'],
  ])("include_usage injection: %s", async (_, extra) => {
    r = await rig(baseConfig());
    const body = typeof extra === "string" ? extra : chatBody({ stream: true, ...extra });
    const f = r.request("/v1/chat/completions", body);
    const sent = f.upstreamBody;
    const parsed = JSON.parse(sent);
    expect(parsed.stream_options.include_usage, sent).toBe(true);
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(sse({ choices: [{ index: 0, delta: { content: "x" } }], usage: null }) +
      sse({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }) + "data: [DONE]\n\n"), true);
    f.complete();
    expect(f.body).not.toContain("prompt_tokens");
  });

  // Coverage: a streamed response with the injected usage chunk: the client does not see it,
  // accounting gets the provider's numbers, [DONE] passes, content-length is dropped.
  it("the injected usage chunk is stripped and accounted", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    expect(JSON.parse(f.upstreamBody).stream_options).toEqual({ include_usage: true });
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"], ["content-length", "999"]], false);
    const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
    const chunks = [
      ev({ id: "c", choices: [{ index: 0, delta: { content: "Hi" } }], usage: null }),
      ev({ id: "c", choices: [], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } }),
      "data: [DONE]\n\n",
    ].join("");
    // Split at awkward places.
    for (let i = 0; i < chunks.length; i += 13) f.callOnResponseBody(Buffer.from(chunks.slice(i, i + 13)), false);
    f.callOnResponseBody(Buffer.alloc(0), true);
    f.complete();
    expect(f.header("content-length")).toBeUndefined();
    expect(f.body).not.toContain("prompt_tokens");
    expect(f.body).toContain("data: [DONE]");
    expect(f.body).not.toContain("upstream_stream_incomplete");
    const line = r.logs.find((l) => l.message.startsWith("ai-failover access:"))!.message;
    expect(line).toContain("prompt_tokens=11");
    expect(line).toContain("completion_tokens=7");
  });
});
