// Failover attempts (http_call to the next provider): each provider tried once with its own key,
// the whole request body resent, the last answer reaching the client, and a failed-over answer
// accounted like a direct one.
import { afterEach, describe, expect, it } from "vitest";
import {
  baseConfig, BEARER, chatBody, CONSUMER_KEY, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, until, WEST_KEY, type HostRig,
} from "../../harness/rig/host-rig.ts";

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

const accessLine = (r: HostRig) => r.logs.filter((l) => l.message.startsWith("ai-failover access:")).map((l) => l.message);

describe("failover: attempts", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

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

  // Coverage: retries never revisit a provider, and exhaustion returns the last provider's answer.
  it("three providers all failing: each tried once, the last answer reaches the client", async () => {
    r = await rig(baseConfig({
      providers: [...(baseConfig().providers as unknown[]), openai("oai", OAI_KEY, 2, { models: ["gpt-4o"] })],
      // No second try at the last provider (retry.sameProviderRetries: tested in same-provider-retry.test.ts).
      retry: { maxAttempts: 5, sameProviderRetries: 0 },
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

  // plugin/request/failover.ts attemptAnswered + plugin/request/attempt.ts finish: an answer delivered through http_call (a failover) never
  // sets `events` nor counts `responseBytes`, so without usage (include_usage:false, an API
  // without usage) the completion estimate is 0: the consumer is settled (refund=true) at the
  // prompt estimate only, and the tokens metric/access log say 0 output. The same stream
  // answered by the first provider is estimated from its events.
  it("a failed-over answer without usage is estimated like a direct one (not 0 output tokens)", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000 }] }));
    const stream = [
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "One" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: " two" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: " three" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      "data: [DONE]\n\n",
    ].join("");
    r.script.answer = () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "text/event-stream"]], body: Buffer.from(stream), trailers: [] });
    const body = chatBody({ stream: true, stream_options: { include_usage: false } });
    const f = r.request("/v1/chat/completions", body, [BEARER]);
    f.respond(503, "unavailable");
    await until(() => f.responseEnded);
    f.complete();
    expect(f.status).toBe(200);
    const line = accessLine(r).at(-1)!;
    expect(line).toContain("estimated=true");
    expect(line, line).not.toContain("completion_tokens=0");
  });
});
