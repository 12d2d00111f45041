import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { fetchGet, fetchPost, mockChat } from "../../support/stack.ts";

const KEY = "sk-test-0123456789";
let p: MockProvider;

beforeAll(async () => {
  p = await startMockProvider({
    kind: "openai",
    name: "openai-main",
    keys: [KEY],
    models: { "gpt-4o": { model: "gpt-4o-2024-08-06", tokensPerMinute: 30_000, requestsPerMinute: 500 }, "text-embedding-3-small": {} },
    completionText: "This is a test!",
  });
});
afterAll(() => p.close());
beforeEach(() => p.reset());

const client = () => new OpenAI({ baseURL: `${p.url}/v1`, apiKey: KEY, maxRetries: 0 });
const auth = { authorization: `Bearer ${KEY}` };

describe("OpenAI chat completions", () => {
  it("non-stream body is byte for byte the documented shape", async () => {
    const r = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o" }), auth);
    expect(r.status).toBe(200);
    const { id, created } = JSON.parse(r.text) as { id: string; created: number };
    expect(id).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/);
    expect(r.text).toBe(
      `{"id":"${id}","object":"chat.completion","created":${created},"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"This is a test!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14},"system_fingerprint":null}`,
    );
  });

  it("stream with include_usage is byte for byte the documented shape", async () => {
    const r = await fetchPost(
      p.url,
      "/v1/chat/completions",
      mockChat({ model: "gpt-4o", stream: true, stream_options: { include_usage: true } }),
      auth,
    );
    const m = /"id":"(chatcmpl-[^"]+)","object":"chat.completion.chunk","created":(\d+)/.exec(r.text)!;
    const head = `{"id":"${m[1]}","object":"chat.completion.chunk","created":${m[2]},"model":"gpt-4o-2024-08-06"`;
    const chunk = (delta: string, finish: string) =>
      `data: ${head},"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}],"usage":null}\n\n`;
    expect(r.text).toBe(
      chunk('{"role":"assistant","content":""}', "null") +
        ["This", " is", " a", " test!"].map((w) => chunk(`{"content":"${w}"}`, "null")).join("") +
        chunk("{}", '"stop"') +
        `data: ${head},"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}\n\n` +
        "data: [DONE]\n\n",
    );
  });

  it("the SDK streams the full text and the usage", async () => {
    const stream = await client().chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? "";
      usage = c.usage ?? usage;
    }
    expect(text).toBe("This is a test!");
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 });
  });

  it("every response carries OpenAI's rate-limit headers (limit, remaining, Go-style reset)", async () => {
    const r = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o", max_completion_tokens: 90 }), auth);
    expect(r.headers.get("x-ratelimit-limit-tokens")).toBe("30000");
    expect(r.headers.get("x-ratelimit-limit-requests")).toBe("500");
    expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe(String(30_000 - 100));
    expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("499");
    expect(r.headers.get("x-ratelimit-reset-tokens")).toMatch(/^(\d+m)?\d+(\.\d+)?s$|^\d+ms$/);
    expect(r.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("stream_options without stream → 400 (what an include_usage injection bug would hit)", async () => {
    const r = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o", stream_options: { include_usage: true } }), auth);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error.param).toBe("stream_options");
  });
});

describe("OpenAI errors", () => {
  it("wrong key → 401 invalid_api_key with the masked key; missing key → 401", async () => {
    const r = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o" }), { authorization: "Bearer sk-test-wrong-6789" });
    expect(r.status).toBe(401);
    expect(r.text).toBe(
      '{"error":{"message":"Incorrect API key provided: sk-te****6789.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
    );
    expect(p.records[0]!.credential).toEqual({ scheme: "bearer", value: "sk-test-wrong-6789" });
    // OpenAI ignores Azure's api-key header: that is a missing key, but it is still recorded
    const m = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o" }), { "api-key": KEY });
    expect(m.status).toBe(401);
    expect(JSON.parse(m.text).error.message).toMatch(/^You didn't provide an API key/);
    expect(p.records[1]!.credentials).toEqual([{ scheme: "api-key", value: KEY }]);
    const err = await new OpenAI({ baseURL: `${p.url}/v1`, apiKey: "sk-nope", maxRetries: 0 }).models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("unknown model → 404 model_not_found; unknown path → 404 Invalid URL", async () => {
    const r = await fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-9" }), auth);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error.code).toBe("model_not_found");
    const u = await fetchPost(p.url, "/v1/nothing", {}, auth);
    expect(u.status).toBe(404);
    expect(JSON.parse(u.text).error.message).toBe("Invalid URL (POST /v1/nothing)");
  });
});

describe("OpenAI other APIs", () => {
  it("models list through the SDK", async () => {
    const page = await client().models.list();
    expect(page.data.map((m) => m.id)).toEqual(["gpt-4o", "text-embedding-3-small"]);
    expect(p.records[0]).toMatchObject({ method: "GET", path: "/v1/models", status: 200, credential: { scheme: "bearer", value: KEY } });
    expect((await fetchGet(p.url, "/v1/models")).status).toBe(401);
  });

  it("embeddings: SDK default (base64) decodes to floats; float format too; usage = estimate", async () => {
    const a = await client().embeddings.create({ model: "text-embedding-3-small", input: "hello world!" });
    const b = await client().embeddings.create({ model: "text-embedding-3-small", input: "hello world!", encoding_format: "float" });
    expect(a.data[0]!.embedding).toHaveLength(8);
    expect(a.data[0]!.embedding).toEqual(b.data[0]!.embedding); // same input, same vector, both encodings
    expect(a.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(p.records[0]!.body).toContain('"encoding_format":"base64"');
  });

  it("Responses API: JSON usage {input,output,total}; stream of named events, usage in response.completed, no [DONE]", async () => {
    const r = await client().responses.create({ model: "gpt-4o", input: "Say hello", max_output_tokens: 50 });
    expect(r.output_text).toBe("This is a test!");
    expect(r.usage).toMatchObject({ input_tokens: 10, output_tokens: 4, total_tokens: 14 });

    const stream = client().responses.stream({ model: "gpt-4o", input: "Say hello" });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(deltas.join("")).toBe("This is a test!");
    expect(final.usage).toMatchObject({ input_tokens: 10, output_tokens: 4, total_tokens: 14 });

    const raw = await fetchPost(p.url, "/v1/responses", { model: "gpt-4o", input: "Say hello", stream: true }, auth);
    const events = [...raw.text.matchAll(/^event: (\S+)\ndata: /gm)].map((x) => x[1]);
    expect(events[0]).toBe("response.created");
    expect(events.filter((e) => e === "response.output_text.delta")).toHaveLength(4);
    expect(events.at(-1)).toBe("response.completed");
    expect(raw.text).not.toContain("[DONE]");
    const completed = JSON.parse(raw.text.trimEnd().split("\n").at(-1)!.slice(6));
    expect(completed.response.usage).toMatchObject({ input_tokens: 10, output_tokens: 4, total_tokens: 14 });
  });

  it("legacy completions, JSON and stream", async () => {
    const r = await client().completions.create({ model: "gpt-4o", prompt: "Say hello" });
    expect(r.choices[0]!.text).toBe("This is a test!");
    expect(r.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const s = await client().completions.create({ model: "gpt-4o", prompt: "Say hello", stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    expect(text).toBe("This is a test!");
  });
});
