// Review: shared state (reservations, cooldowns) on less travelled paths.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, CHAT_OK, EAST_KEY, reqHeaders, rig, until, type HostRig } from "../support/host-rig.ts";

const SSE_NO_USAGE = [
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  "data: [DONE]\n\n",
].join("");

describe("review: reservations and cooldowns", () => {
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

  // retry-after(-ms) is added to now() in i64 without a bound: a huge value saturates to
  // i64.MAX and the sum wraps negative, so the provider gets no cooldown at all.
  it("a 429 with an absurd retry-after-ms still cools the provider down", async () => {
    r = await rig(baseConfig({ retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', [["retry-after-ms", "99999999999999999999"]]);
    f.complete();
    const s = r.providerState("east")!;
    expect(s.cooldownUntilMs).toBeGreaterThan(BigInt(Date.now()));
    const next = r.request("/v1/chat/completions", chatBody());
    expect(next.up(":authority")).toBe("west.openai.azure.com");
    next.complete();
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

  // Client disconnect while an http_call failover attempt is in flight: the stream is gone when
  // the attempt answers, and the answer is dropped — the attempt provider's reservation is never
  // settled or released, and its outcome (here a 401: bad key) never reaches passive health.
  it("an attempt that answers after the client left still updates the attempt provider", async () => {
    r = await rig(baseConfig());
    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    r.script.answer = async () => {
      await gate;
      return { kind: "response", headers: [[":status", "401"], ["content-type", "application/json"]], body: Buffer.from('{"error":{"code":"401","message":"Access denied"}}'), trailers: [] };
    };
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    release();
    await new Promise((res) => setTimeout(res, 50));
    const west = r.providerState("west")!;
    expect(west.credentialBad).toBe(true);
    expect(west.requestsReserved).toBe(0n);
  });

  // Coverage: a local reply after consumer admission (no provider) gives the consumer's reservation back.
  it("consumer reservation is released when no provider can take the request", async () => {
    r = await rig(baseConfig({
      providers: [{ ...JSON.parse(JSON.stringify(baseConfig().providers))[0], limits: { tokensPerMinute: 100 } }],
      consumers: [{ name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 100000 }],
    }));
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 5000 }), [["authorization", "Bearer consumer-key-team-a-0001"]]);
    expect(f.localReply).toBe(429);
    f.complete();
    const c = r.consumerState("team-a")!;
    expect(c.tokensReserved).toBe(0n);
    expect(c.requestsReserved).toBe(0n);
  });

  // Coverage: a client disconnect before any response releases the consumer's reservation.
  it("client disconnect before the response releases the consumer reservation", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 100000 }] }));
    const f = r.request("/v1/chat/completions", chatBody(), [["api-key", "consumer-key-team-a-0001"]]);
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.reset("downstream_remote_disconnect", "downstream");
    const c = r.consumerState("team-a")!;
    expect(c.tokensReserved).toBe(0n);
  });

  // Coverage: a 400 (content filter) neither ejects nor keeps a reservation.
  it("a client error releases the reservation and never counts against the provider", async () => {
    r = await rig(baseConfig());
    for (let k = 0; k < 5; k++) {
      const f = r.request("/v1/chat/completions", chatBody());
      f.respond(400, '{"error":{"code":"content_filter","message":"filtered"}}');
      f.complete();
      expect(f.status).toBe(400);
    }
    const s = r.providerState("east")!;
    expect(s.consecutiveFailures).toBe(0);
    expect(s.requestsReserved).toBe(0n);
    expect(s.cooldownUntilMs).toBe(0n);
  });
});
