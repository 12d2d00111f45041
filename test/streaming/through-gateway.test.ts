// Streaming through the gateway: chunks pass as they arrive, usage is read without
// buffering, the injected usage chunk is removed when the client did not ask for it.
import http from "node:http";
import OpenAI, { AzureOpenAI } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EAST_KEY, fetchPost, startStack, type Stack } from "../support/stack.ts";

interface Arrival { at: number; bytes: string }

/** POSTs and records when each body chunk arrives. */
function streamRequest(url: string, body: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; arrivals: Arrival[]; sentAt: number; text: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    const req = http.request(url, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": payload.length } }, (res) => {
      const arrivals: Arrival[] = [];
      res.on("data", (c: Buffer) => arrivals.push({ at: performance.now(), bytes: c.toString() }));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, arrivals, sentAt, text: arrivals.map((a) => a.bytes).join("") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** The same request straight to the mock (what the provider sends). */
async function direct(s: Stack, body: unknown, deployment = "gpt4o-ptu"): Promise<string> {
  return (await fetchPost(s.east.url, `/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`, body, { "api-key": EAST_KEY })).text;
}

const ask = (extra: Record<string, unknown> = {}) => ({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 64, ...extra });

// On upstream Envoy and on Higress (the same module, read as ABI 0_2_0 and 0_2_100).
describe.each(["envoy", "higress"] as const)("streaming through the gateway (%s)", (flavour) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      flavour,
      edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }),
      east: { stream: { firstChunkMs: 50, chunkIntervalMs: 20 }, completionTokens: 12, region: "East US" },
    });
  });
  afterAll(async () => { await s?.close(); });

  for (const asked of [true, false]) {
    // Timing on a shared 2-core machine: a real buffering regression fails every try.
    it(`delivers every chunk as the provider sends it (client ${asked ? "asked" : "did not ask"} for usage)`, { retry: 2 }, async () => {
      const before = s.east.records.length;
      const r = await streamRequest(`${s.gateway.url}/v1/chat/completions`, asked ? ask({ stream_options: { include_usage: true } }) : ask());
      expect(r.status).toBe(200);
      const rec = s.east.records.slice(before).find((x) => x.method === "POST")!;
      const sent = rec.frameSentAt!;
      // When each provider frame reached the client: arrivals in order, one per "data: " line.
      const arrivedAt: number[] = [];
      for (const a of r.arrivals) for (let k = 0; k < a.bytes.split("data: ").length - 1; k++) arrivedAt.push(a.at);
      // The injected usage frame (second to last) never reaches a client that did not ask.
      const frames = asked ? sent : [...sent.slice(0, -2), sent[sent.length - 1]];
      expect(arrivedAt).toHaveLength(frames.length);
      expect(frames.length).toBeGreaterThanOrEqual(10);
      const lag = frames.map((t, k) => arrivedAt[k] - t);
      // Each frame reaches the client before the provider sends the next one (20 ms later)…
      for (let k = 0; k + 1 < frames.length; k++) expect(arrivedAt[k], `frame ${k}`).toBeLessThan(frames[k + 1]);
      // … within a few ms of being sent.
      const sorted = [...lag].sort((a, b) => a - b);
      expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(5);
      expect(arrivedAt[0] - frames[0]).toBeLessThan(15);
    });
  }

  it("injects include_usage upstream and removes the usage chunk when the client did not ask", async () => {
    const before = s.east.records.length;
    const r = await streamRequest(`${s.gateway.url}/v1/chat/completions`, ask());
    const upstream = s.east.records.slice(before).find((x) => x.method === "POST")!;
    expect(upstream.includeUsage).toBe(true);
    // What the provider sends for that request, minus the usage-only event, byte for byte
    // (ids and timestamps aside).
    const provider = await direct(s, ask({ stream_options: { include_usage: true } }));
    const norm = (t: string) => t.replace(/"id":"[^"]*"/g, '"id":"x"').replace(/"created":\d+/g, '"created":0');
    const providerEvents = norm(provider).split("\n\n").filter(Boolean);
    const usageEvent = providerEvents.filter((e) => e.includes('"choices":[]') && e.includes('"usage":{'));
    expect(usageEvent).toHaveLength(1);
    expect(norm(r.text).split("\n\n").filter(Boolean)).toEqual(providerEvents.filter((e) => e !== usageEvent[0]));
    expect(r.text).toContain("data: [DONE]");
  });

  it("passes the stream unchanged when the client asked for usage", async () => {
    const body = ask({ stream_options: { include_usage: true } });
    const r = await streamRequest(`${s.gateway.url}/v1/chat/completions`, body);
    const provider = await direct(s, body);
    const norm = (t: string) => t.replace(/"id":"[^"]*"/g, '"id":"x"').replace(/"created":\d+/g, '"created":0');
    expect(norm(r.text)).toBe(norm(provider));
    expect(r.text).toMatch(/"choices":\[\],"usage":\{"prompt_tokens":\d+/);
  });

  it("works for the official openai SDK (OpenAI and AzureOpenAI clients), text and usage", async () => {
    const openai = new OpenAI({ baseURL: `${s.gateway.url}/v1`, apiKey: "client-key-ignored", maxRetries: 0 });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    const stream = await openai.chat.completions.create({ ...ask(), stream: true, stream_options: { include_usage: true } } as any) as any;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(10);
    expect(usage?.completion_tokens).toBe(12);

    const azure = new AzureOpenAI({ endpoint: s.gateway.url, apiKey: "client-key-ignored", apiVersion: "2024-10-21", deployment: "gpt-4o", maxRetries: 0 });
    let azText = "";
    let sawUsage = false;
    const azStream = await azure.chat.completions.create({ ...ask(), stream: true } as any) as any;
    for await (const chunk of azStream) {
      azText += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) sawUsage = true;
    }
    expect(azText).toBe(text);
    // It did not ask for usage: the injected chunk never reached it.
    expect(sawUsage).toBe(false);
  });
});
