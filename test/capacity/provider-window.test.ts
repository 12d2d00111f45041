// Capacity: each provider's token/request window in shared data — what a request reserves at
// admission, what its answer settles, what the provider's own rate-limit headers say, across a
// failover.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, CHAT_OK, chatBody, EAST_KEY, rig, sleep, until, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

const SSE_NO_USAGE = [
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  "data: [DONE]\n\n",
].join("");

describe("capacity: the provider's window", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // A 200 without usage (client set include_usage:false, a cut stream, an API without usage)
  // is accounted with an estimate for the consumer and the metrics. The provider's window,
  // though, keeps what the provider itself counted at admission (prompt estimate + max_tokens:
  // Azure and OpenAI refund nothing when the answer is shorter), so the gateway never admits
  // more than the provider will (first review finding reversed after the PTU/PAYG scenario
  // showed one provider 429 per window from refunding).
  it("a successful response without usage keeps the provider's admission count: no over-admission", async () => {
    r = await rig(baseConfig({ providers: [
      { ...JSON.parse(JSON.stringify(baseConfig().providers))[0], limits: { tokensPerMinute: 10000 } },
      JSON.parse(JSON.stringify(baseConfig().providers))[1],
    ] }));
    const sent: string[] = [];
    for (let k = 0; k < 6; k++) {
      const f = r.request("/v1/chat/completions", chatBody({ stream: true, stream_options: { include_usage: false }, max_tokens: 2000 }));
      sent.push(f.up(":authority") ?? "local " + f.localReply);
      f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
      f.callOnResponseBody(Buffer.from(SSE_NO_USAGE), true);
      f.complete();
    }
    const east = r.providerState("east")!;
    const onEast = sent.filter((a) => a === "east.openai.azure.com").length;
    // Each request reserved prompt estimate + 2000: four fit in 10,000, the rest spilled.
    expect(onEast).toBe(4);
    expect(sent.slice(4).every((a) => a === "west.openai.azure.com"), sent.join(", ")).toBe(true);
    expect(east.tokensReserved).toBeGreaterThan(8000n);
    expect(east.tokensReserved).toBeLessThanOrEqual(10000n);
  });

  // A response whose usage exceeds the reservation (the estimate was low) adds the overrun.
  it("usage above the reservation is added to the provider's window", async () => {
    r = await rig(baseConfig({ providers: [
      { ...JSON.parse(JSON.stringify(baseConfig().providers))[0], limits: { tokensPerMinute: 10000 } },
      JSON.parse(JSON.stringify(baseConfig().providers))[1],
    ] }));
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 10 }));
    const before = r.providerState("east")!.tokensReserved;
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "application/json"]], false);
    f.callOnResponseBody(Buffer.from('{"usage":{"prompt_tokens":500,"completion_tokens":10,"total_tokens":510}}'), true);
    f.complete();
    expect(r.providerState("east")!.tokensReserved).toBe(510n);
    expect(before).toBeLessThan(510n);
  });

  // tokensAtReport / requestsAtReport are stored as i32 in shared data while tokensReserved is
  // i64: once more than 2^31 tokens are reserved in a window (22 concurrent requests with
  // max_tokens 1e8, which the scanner accepts), the next x-ratelimit-remaining report is stored
  // truncated and the provider's computed capacity goes hugely negative until the window ends.
  it("remaining-token reports stay consistent when more than 2^31 tokens are reserved", async () => {
    r = await rig(baseConfig({ retry: { maxAttempts: 1 } }));
    const held = [];
    for (let k = 0; k < 22; k++) {
      const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 100000000 }));
      expect(f.up(":authority")).toBe("east.openai.azure.com");
      held.push(f);
    }
    // The first one completes and east reports plenty left.
    held[0]!.respond(200, CHAT_OK, [["x-ratelimit-remaining-tokens", "5000000"], ["x-ratelimit-remaining-requests", "1000"]]);
    held[0]!.complete();
    // A small request: east has 5M tokens left by its own report (nothing sent since).
    const small = r.request("/v1/chat/completions", chatBody({ max_tokens: 10 }));
    expect(small.up(":authority")).toBe("east.openai.azure.com");
    small.complete();
    for (const f of held.slice(1)) f.complete();
  });

  // admission/window.ts tokensLeft/fits + health/transitions.ts: a 429 carrying x-ratelimit-remaining-tokens: 0
  // (Azure and OpenAI send the window headers on 429s) is remembered until the gateway's own
  // window rolls (up to limits.window, 60 s), not until the provider's retry-after. After a
  // 100 ms retry-after the provider is refused for the rest of the minute: the client gets a 429
  // with retry-after ~60 s while the provider has capacity again.
  it("a 429's remaining=0 report does not outlive the provider's retry-after", async () => {
    // The 429 reaches the client (no wait for its 100 ms retry-after at the same provider).
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0)], retry: { maxAttempts: 1, sameProviderRetries: 0 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}',
      [["retry-after-ms", "100"], ["x-ratelimit-remaining-tokens", "0"], ["x-ratelimit-remaining-requests", "0"]]);
    f.complete();
    expect(f.status).toBe(429);
    await sleep(250);
    const g = r.request("/v1/chat/completions", chatBody());
    expect(g.localReply, `gateway answered ${g.localReply} ${g.header("retry-after") ?? ""}`).toBeNull();
    expect(g.up(":authority")).toBe("east.openai.azure.com");
    g.complete();
  });

  // Coverage: reservations across a live failover: the failed provider's reservation released,
  // the attempt provider keeps its admission count (refund=false), nothing counted twice.
  it("live failover: east released, west keeps exactly one reservation", async () => {
    r = await rig(baseConfig({ providers: [
      azure("east", EAST_KEY, 0, { limits: { tokensPerMinute: 100000 } }), azure("west", WEST_KEY, 1, { limits: { tokensPerMinute: 100000 } }),
    ] }));
    r.script.answer = () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}'), trailers: [] });
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 100 }));
    f.respond(503, "unavailable");
    await until(() => f.responseEnded);
    f.complete();
    const east = r.providerState("east")!;
    const west = r.providerState("west")!;
    expect(east.requestsReserved).toBe(0n);
    expect(east.tokensReserved).toBe(0n);
    expect(west.requestsReserved).toBe(1n);
    expect(west.tokensReserved).toBe(112n); // prompt estimate 12 + max_tokens 100, no refund
  });
});
