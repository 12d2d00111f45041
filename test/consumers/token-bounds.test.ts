// A consumer's budget (and a provider's window) reserves what the provider could bill: the
// largest output bound in the body, and every billed input field. Reproductions: a body with
// max_completion_tokens 4000 and max_tokens 1 was admitted against a 300 tokens/minute consumer
// (the scan kept the last bound, Azure/OpenAI honour max_completion_tokens), and 6,000 tokens of
// Responses `instructions` passed the same budget (only messages/input/prompt were counted).
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, BEARER, CONSUMER_KEY, type HostRig, rig } from "../../harness/rig/host-rig.ts";

describe("consumer budgets count what the provider may bill", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it.each([
    ["chat: max_completion_tokens 4000 beside max_tokens 1", "/v1/chat/completions",
      { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_completion_tokens: 4000, max_tokens: 1 }],
    ["responses: 6,000 tokens of instructions", "/v1/responses",
      { model: "gpt-4o", input: "hi", instructions: "word ".repeat(4800), max_output_tokens: 16 }],
    // Each of n choices may use the whole bound (issue 9): n 8 × max_tokens 50 is 400 output tokens.
    ["chat: n 8 choices of max_tokens 50", "/v1/chat/completions",
      { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 50, n: 8 }],
    ["chat: a large tool schema", "/v1/chat/completions",
      { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 16,
        tools: [{ type: "function", function: { name: "f", description: "d ".repeat(2000), parameters: { type: "object" } } }] }],
  ])("%s is larger than a 300 tokens/minute budget: refused, nothing goes upstream", async (_n, path, body) => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 300 }] }));
    const f = r.request(path, body, [BEARER]);
    expect(f.localReply).toBe(429);
    expect(f.header("x-ai-failover-error")).toBe("consumer_rate_limit_exceeded");
    expect(f.upstreamHeaders).toBeNull();
    f.complete();
  });

  it("a small request with the same fields is admitted", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 300 }] }));
    const f = r.request("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_completion_tokens: 40, max_tokens: 1 }, [BEARER]);
    expect(f.localReply).toBeNull();
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    f.complete();
  });
});
