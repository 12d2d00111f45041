// Review: response-path and mode-specific defects found by reading stream.ts.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, CHAT_OK, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, until, WEST_KEY, type HostRig } from "../support/host-rig.ts";

describe("review: response path and modes", () => {
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

  // Header-only mode keeps a copy of the body for retries while it streams through. When the
  // upstream answers (e.g. Envoy's 503 on connect failure) before the client finished the body,
  // the copy is partial — and is sent as the whole request to the next provider.
  it("header-only mode never fails over with a partial request body", async () => {
    r = await rig(baseConfig({ mode: "headers" }), { allowOnHeadersStopIteration: false });
    const body = Buffer.from(JSON.stringify(chatBody({ messages: [{ role: "user", content: "x".repeat(4000) }] })));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", body), false);
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.callOnRequestBody(body.subarray(0, 1000), false);
    f.callOnResponseHeaders([[":status", "503"], ["content-type", "text/plain"]], false);
    f.callOnResponseBody(Buffer.from("upstream connect error"), true);
    await new Promise((res) => setTimeout(res, 50));
    for (const c of r.callouts) {
      expect(c.body.length, `attempt to ${c.cluster} carried ${c.body.length} of ${body.length} bytes`).toBe(body.length);
    }
    f.complete();
  });

  // OpenAI selects the organization/project a key acts for from OpenAI-Organization /
  // OpenAI-Project. Forwarded from the client, they let a client steer the provider's credential
  // to another org/project it belongs to (billing, data). Hardening: strip them like credentials.
  it("client openai-organization / openai-project headers do not reach the provider with its key", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", chatBody(), [["openai-organization", "org-other"], ["openai-project", "proj-other"]]);
    expect(f.up("authorization")).toBe("Bearer " + OAI_KEY);
    expect(f.up("openai-organization")).toBeUndefined();
    expect(f.up("openai-project")).toBeUndefined();
    f.complete();
  });

  // A consumer redefined in a Higress rule (same name and key, other limits) shares the shared-data
  // key "ai-failover/consumer/<name>" with the global one but has another fingerprint: every
  // request under one view wipes the other's window, so a client alternating domains has no budget.
  it("a consumer's budget cannot be escaped by alternating between a rule's domain and the global config", async () => {
    const consumer = { name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 1000 };
    r = await rig(baseConfig({
      consumers: [consumer],
      _rules_: [{ _match_domain_: ["b.example.com"], consumers: [{ ...consumer, requestsPerMinute: 100 }] }],
    }));
    let admitted = 0;
    for (let k = 0; k < 8; k++) {
      const f = r.open();
      const b = Buffer.from(JSON.stringify(chatBody({ max_tokens: 400 })));
      const h = reqHeaders("/v1/chat/completions", b, [["authorization", "Bearer consumer-key-team-a-0001"]])
        .map(([n, v]) => [n, n === ":authority" ? (k % 2 ? "b.example.com" : "a.example.com") : v] as [string, string]);
      f.callOnRequestHeaders(h, false);
      if (f.localReply === null) f.callOnRequestBody(b, true);
      if (f.localReply === null) {
        admitted++;
        // Keep the reservation (the response has not ended yet): settle happens at completion.
      }
    }
    // Each view allows two such requests (~410 tokens each) per minute: at most four in all.
    expect(admitted).toBeLessThanOrEqual(4);
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

  // Coverage: retries never revisit a provider, and exhaustion returns the last provider's answer.
  it("three providers all failing: each tried once, the last answer reaches the client", async () => {
    r = await rig(baseConfig({
      providers: [...(baseConfig().providers as unknown[]), openai("oai", OAI_KEY, 2, { models: ["gpt-4o"] })],
      retry: { maxAttempts: 5 },
    }));
    r.script.answer = (c) => ({ kind: "response", headers: [[":status", "503"], ["content-type", "text/plain"]], body: Buffer.from("busy " + c.cluster), trailers: [] });
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(503, "busy east");
    await until(() => f.responseEnded);
    f.complete();
    expect(r.callouts.map((c) => c.cluster)).toEqual(["west", "oai"]);
    const keys = r.callouts.map((c) => c.headers.find(([k]) => k === "api-key" || k === "authorization")![1]);
    expect(keys).toEqual([WEST_KEY, "Bearer " + OAI_KEY]);
    expect(f.status).toBe(503);
    expect(f.body).toBe("busy oai");
    expect(f.header("x-ai-failover-attempts")).toBe("3");
  });
});
