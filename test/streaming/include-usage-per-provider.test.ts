// Some OpenAI-compatible servers and old Azure api-versions reject stream_options (issue 9): a
// provider with `includeUsage: false` is never asked for the usage chunk — its streams pass
// through as sent and are accounted by estimate — while the others still are.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, EAST_KEY, rig, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

const STREAM = 'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi there"}}]}\n\ndata: [DONE]\n\n';

describe("includeUsage per provider", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it("a provider with includeUsage false gets the client's body without stream_options; its stream passes unchanged", async () => {
    r = await rig(baseConfig({ providers: [{ ...azure("east", EAST_KEY, 0), includeUsage: false }, azure("west", WEST_KEY, 1)] }));
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    expect(JSON.parse(f.upstreamBody).stream_options).toBeUndefined();
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(STREAM), true);
    f.complete();
    expect(f.body).toBe(STREAM);
    // No usage from the provider: the access log marks the usage estimated.
    const access = r.logs.find((l) => l.message.startsWith("ai-failover access: provider=east"))!.message;
    expect(access).toContain("estimated=true");
  });

  it("the other provider is still asked for usage", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0), { ...azure("west", WEST_KEY, 1), includeUsage: false }] }));
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    expect(JSON.parse(f.upstreamBody).stream_options).toEqual({ include_usage: true });
    f.complete();
  });
});
