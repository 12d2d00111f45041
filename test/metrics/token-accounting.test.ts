// Token accounting: what the filter records equals what the provider reported, for JSON and
// streaming chat, embeddings and the Responses API; one access-log line per request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

/** Sum of a labelled counter for the given label values, from the host's metrics. */
function tokens(s: Stack, type: "input" | "output", estimated = "false"): number {
  let n = 0;
  for (const m of s.gateway.host.metrics()) {
    if (!m.name.startsWith("ai_failover_tokens_total")) continue;
    if (!m.name.includes(`_token_type=.=${type};.;`) || !m.name.includes(`_estimated=.=${estimated};.;`)) continue;
    n += Number(m.value);
  }
  return n;
}

async function streamText(url: string, body: unknown): Promise<{ status: number; text: string; error?: string }> {
  try {
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, text: await r.text() };
  } catch (e) {
    return { status: -1, text: "", error: String((e as Error).cause ?? e) };
  }
}

describe("token accounting", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }), east: { completionTokens: 9 } });
  });
  afterAll(async () => { await s?.close(); });

  const cases: Array<[string, string, unknown]> = [
    ["chat, JSON", "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "Count the tokens of this prompt please" }], max_tokens: 40 }],
    ["chat, stream (client did not ask for usage)", "/v1/chat/completions", { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "Stream me something" }], max_tokens: 40 }],
    ["chat, stream with usage", "/v1/chat/completions", { model: "gpt-4o", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Stream with usage" }] }],
    ["embeddings", "/v1/embeddings", { model: "gpt-4o", input: "embed this sentence for me" }],
    ["responses, JSON", "/v1/responses", { model: "gpt-4o", input: "Respond briefly", max_output_tokens: 30 }],
    ["responses, stream", "/v1/responses", { model: "gpt-4o", input: "Respond in a stream", stream: true }],
  ];

  for (const [what, path, body] of cases) {
    it(`records the provider's usage exactly: ${what}`, async () => {
      const in0 = tokens(s, "input");
      const out0 = tokens(s, "output");
      const before = s.east.records.length;
      const r = await streamText(s.gateway.url + path, body);
      expect(r.status).toBe(200);
      const rec = s.east.records.slice(before).find((x) => x.method === "POST")!;
      expect(rec.status).toBe(200);
      expect(tokens(s, "input") - in0).toBe(rec.promptTokens);
      expect(tokens(s, "output") - out0).toBe(rec.completionTokens ?? 0);
      const line = s.logs.filter((l) => l.message.startsWith("ai-failover access: ")).at(-1)!.message;
      expect(line).toContain(`prompt_tokens=${rec.promptTokens} completion_tokens=${rec.completionTokens ?? 0} estimated=false`);
      expect(line).toMatch(/provider=aoai-east-ptu consumer=none api=\w+ model=gpt-4o status=200 attempts=1/);
      expect(line).toMatch(/ttfb_ms=\d+ total_ms=\d+$/);
    });
  }

  it("never logs credentials or message content", () => {
    const all = s.logs.map((l) => l.message).join("\n");
    expect(all).not.toContain(EAST_KEY);
    expect(all).not.toContain(WEST_KEY);
    expect(all).not.toContain("Count the tokens of this prompt");
    expect(all).not.toContain("embed this sentence");
  });

  it("a stream cut mid-answer is not a clean end, and its tokens are estimated", async () => {
    s.east.setFault({ type: "cutStream", afterChunks: 3, count: 1 });
    const est0 = tokens(s, "input", "true");
    const r = await streamText(`${s.gateway.url}/v1/chat/completions`, { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "cut me" }] });
    // The client sees a broken transfer (or an explicit error event), never a silent clean end.
    if (r.status === 200) expect(r.text).toContain("upstream_stream_incomplete");
    else expect(r.error).toBeDefined();
    await new Promise((res) => setTimeout(res, 50));
    const line = s.logs.filter((l) => l.message.startsWith("ai-failover access: ")).at(-1)!.message;
    expect(line).toContain("estimated=true");
    expect(tokens(s, "input", "true")).toBeGreaterThan(est0);
  });
});
