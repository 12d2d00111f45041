// How a stream ended, judged by its content (issue 19): a stream is complete when it ended cleanly
// and carried its finish (finish_reason on every choice, response.completed/incomplete/failed) or
// an explicit `data: [DONE]`; only an unfinished clean end gets the gateway's
// upstream_stream_incomplete event. Cut streams (that clean end, or a reset after the headers) say
// so in the access log (stream=cut) and the requests metric (status_class="cut"), and are charged
// what they streamed — also when the provider writes its JSON with spaces.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, post, sleep, startStack, until, WEST_KEY, type Stack } from "../support/stack.ts";

const TEAM = "team-stream-key-0123456789";
const AUTH = { authorization: `Bearer ${TEAM}` };

const ask = (extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o", stream: true, messages: [{ role: "user", content: "Tell me a long story" }], max_tokens: 400, ...extra,
});

/** Sum of ai_failover_requests_total for a status class. */
function requests(s: Stack, statusClass: string): number {
  let n = 0;
  for (const m of s.gateway.host.metrics()) {
    if (m.name.startsWith("ai_failover_requests_total") && m.name.includes(`_status_class=.=${statusClass};.;`)) n += Number(m.value);
  }
  return n;
}

/** Sum of ai_failover_tokens_total for a token type and estimated flag. */
function tokens(s: Stack, type: "input" | "output", estimated: boolean): number {
  let n = 0;
  for (const m of s.gateway.host.metrics()) {
    if (!m.name.startsWith("ai_failover_tokens_total")) continue;
    if (m.name.includes(`_token_type=.=${type};.;`) && m.name.includes(`_estimated=.=${estimated};.;`)) n += Number(m.value);
  }
  return n;
}

/** A POST whose transfer may break: the bytes that arrived, and whether the body ended cleanly. */
async function streamPost(url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string; clean: boolean }> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...AUTH, ...headers }, body: JSON.stringify(body) });
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    return { status: r.status, text, clean: true };
  } catch {
    return { status: r.status, text, clean: false };
  }
}

describe("streams judged by their content (through the gateway)", () => {
  let s: Stack;
  const accessLines = () => s.logs.filter((l) => l.message.startsWith("ai-failover access: ")).map((l) => l.message);
  /** The access line that appears after `before` lines (the request just made). */
  async function nextAccess(before: number): Promise<string> {
    await until(() => accessLines().length > before, 3000);
    return accessLines()[before]!;
  }
  const field = (line: string, name: string) => new RegExp(` ${name}=(\\S+)`).exec(line)?.[1];

  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        consumers: [{ name: "team-stream", apiKey: TEAM, tokensPerMinute: 10_000_000 }],
      }),
      east: { completionTokens: 12 },
      west: { completionTokens: 12 },
    });
  });
  afterAll(async () => { await s?.close(); });

  for (const asked of [true, false]) {
    it(`a complete stream without [DONE] reaches the client with no error event (client ${asked ? "asked" : "did not ask"} for usage)`, async () => {
      const before = accessLines().length;
      const recs = s.east.records.length + s.west.records.length;
      const cut0 = requests(s, "cut");
      const r = await streamPost(`${s.gateway.url}/v1/chat/completions`, ask(asked ? { stream_options: { include_usage: true } } : {}), { "x-mock-done": "omit" });
      expect(r.status).toBe(200);
      expect(r.clean).toBe(true);
      expect(r.text).toContain('"finish_reason":"stop"');
      expect(r.text).not.toContain("[DONE]");
      expect(r.text).not.toContain("upstream_stream_incomplete");
      expect(r.text).not.toContain("event: error");
      const line = await nextAccess(before);
      expect(line).toContain(" stream=true ");
      // Charged exactly the provider's usage (the gateway asked for it upstream).
      const rec = [...s.east.records, ...s.west.records].slice(-1)[0]!;
      expect(s.east.records.length + s.west.records.length).toBe(recs + 1);
      expect(line).toContain(`prompt_tokens=${rec.promptTokens} completion_tokens=${rec.completionTokens} estimated=false`);
      expect(requests(s, "cut")).toBe(cut0);
    });
  }

  it("the openai SDK reads a complete stream without [DONE] to its end (no APIError from an appended error event)", async () => {
    const client = new OpenAI({ baseURL: `${s.gateway.url}/v1`, apiKey: TEAM, maxRetries: 0, defaultHeaders: { "x-mock-done": "omit" } });
    const stream = await client.chat.completions.create({ ...ask(), stream: true } as any) as any;
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("stop");
    expect(text.split(" ").filter(Boolean).length).toBeGreaterThan(5);
  });

  it("a spaced-JSON stream cut after 40 events is charged what it streamed (> 0 output tokens), logged stream=cut, counted as cut", async () => {
    const before = accessLines().length;
    const cut0 = requests(s, "cut");
    const ok0 = requests(s, "2xx");
    const out0 = tokens(s, "output", true);
    const r = await streamPost(`${s.gateway.url}/v1/chat/completions`, ask({ stream_options: { include_usage: true } }),
      { "x-mock-json": "spaced", "x-mock-fault": "cut-stream:40", "x-mock-completion-tokens": "100" });
    expect(r.status).toBe(200);
    // The provider's spaced JSON reached the client as sent.
    expect(r.text).toContain('"delta": {"content": ');
    // The client saw the transfer break (the upstream reset after the headers).
    expect(r.clean).toBe(false);
    const line = await nextAccess(before);
    const rec = [...s.east.records, ...s.west.records].find((x) => x.outcome === "fault:cut-stream")!;
    expect(rec.completionTokens).toBeGreaterThanOrEqual(30);
    expect(line).toContain(" status=200 ");
    expect(line).toContain(" estimated=true");
    const charged = Number(field(line, "completion_tokens"));
    // At least one token per streamed content event, never more than the request's bound.
    expect(charged).toBeGreaterThanOrEqual(rec.completionTokens!);
    expect(charged).toBeLessThanOrEqual(400);
    expect(tokens(s, "output", true) - out0).toBe(charged);
    expect(line).toContain(" stream=cut ");
    expect(requests(s, "cut")).toBe(cut0 + 1);
    expect(requests(s, "2xx")).toBe(ok0);
  });

  it("a complete spaced-JSON stream is charged exactly its usage", async () => {
    const before = accessLines().length;
    const r = await streamPost(`${s.gateway.url}/v1/chat/completions`, ask(), { "x-mock-json": "spaced" });
    expect(r.status).toBe(200);
    expect(r.clean).toBe(true);
    expect(r.text).toContain('"finish_reason": "stop"');
    expect(r.text).not.toContain("upstream_stream_incomplete");
    // The usage event the gateway asked for is removed from a spaced stream as well.
    expect(r.text).not.toContain('"usage": {');
    const line = await nextAccess(before);
    const rec = [...s.east.records, ...s.west.records].slice(-1)[0]!;
    expect(line).toContain(" stream=true ");
    expect(line).toContain(`prompt_tokens=${rec.promptTokens} completion_tokens=${rec.completionTokens} estimated=false`);
  });

  it("a stream of pretty-printed JSON (one data: line per JSON line) is complete, its usage read and stripped", async () => {
    const before = accessLines().length;
    const r = await streamPost(`${s.gateway.url}/v1/chat/completions`, ask(), { "x-mock-json": "pretty", "x-mock-done": "omit" });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/\ndata: +"finish_reason": "stop"/);
    expect(r.text).not.toContain("upstream_stream_incomplete");
    expect(r.text).not.toContain('"usage": {');
    const line = await nextAccess(before);
    const rec = [...s.east.records, ...s.west.records].slice(-1)[0]!;
    expect(line).toContain(" stream=true ");
    expect(line).toContain(`completion_tokens=${rec.completionTokens} estimated=false`);
  });

  it("a stream that ends cleanly but unfinished gets the error event, is logged stream=cut and counted as cut", async () => {
    const before = accessLines().length;
    const cut0 = requests(s, "cut");
    const r = await streamPost(`${s.gateway.url}/v1/chat/completions`, ask(), { "x-mock-json": "spaced", "x-mock-fault": "end-stream:8" });
    expect(r.status).toBe(200);
    expect(r.clean).toBe(true);
    expect(r.text).toContain("event: error");
    expect(r.text).toContain("upstream_stream_incomplete");
    const line = await nextAccess(before);
    expect(line).toContain(" stream=cut ");
    expect(line).toContain(" estimated=true");
    expect(Number(field(line, "completion_tokens"))).toBeGreaterThan(0);
    expect(requests(s, "cut")).toBe(cut0 + 1);
  });

  it("a spaced JSON answer (not streamed) is charged exactly its usage", async () => {
    const before = accessLines().length;
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...ask(), stream: false }, { ...AUTH, "x-mock-json": "spaced" });
    expect(r.status).toBe(200);
    expect(r.body).toContain('"usage": {"prompt_tokens": ');
    const line = await nextAccess(before);
    const rec = [...s.east.records, ...s.west.records].slice(-1)[0]!;
    expect(line).toContain(" stream=false ");
    expect(line).toContain(`prompt_tokens=${rec.promptTokens} completion_tokens=${rec.completionTokens} estimated=false`);
  });

  it("Responses API: a spaced stream is complete without [DONE]; cut after its headers it is charged and counted as cut", async () => {
    const body = { model: "gpt-4o", input: "Tell me a story", stream: true, max_output_tokens: 300 };
    let before = accessLines().length;
    const ok = await streamPost(`${s.gateway.url}/v1/responses`, body, { "x-mock-json": "spaced" });
    expect(ok.clean).toBe(true);
    expect(ok.text).toContain("event: response.completed");
    expect(ok.text).not.toContain("upstream_stream_incomplete");
    let line = await nextAccess(before);
    expect(line).toContain(" stream=true ");
    expect(line).toContain(" estimated=false");

    before = accessLines().length;
    const cut0 = requests(s, "cut");
    const cut = await streamPost(`${s.gateway.url}/v1/responses`, body, { "x-mock-json": "spaced", "x-mock-fault": "cut-stream:20", "x-mock-completion-tokens": "60" });
    expect(cut.clean).toBe(false);
    line = await nextAccess(before);
    expect(line).toContain(" stream=cut ");
    expect(line).toContain(" estimated=true");
    expect(Number(field(line, "completion_tokens"))).toBeGreaterThan(0);
    expect(requests(s, "cut")).toBe(cut0 + 1);
  });

  it("the prometheus endpoint shows the cut requests under status_class=\"cut\"", async () => {
    await sleep(10);
    const text = await s.prometheus();
    const cut = text.split("\n").filter((l) => l.startsWith("ai_failover_requests_total{") && l.includes('status_class="cut"'));
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.reduce((n, l) => n + Number(l.split(" ").at(-1)), 0)).toBe(requests(s, "cut"));
  });

  it("the mocks saw only their own keys", () => {
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});
