import OpenAI, { AzureOpenAI } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { AZURE_401, AZURE_404_DEPLOYMENT, fetchGet, fetchPost, mockChat } from "../../support/stack.ts";

const API_VERSION = "2024-10-21";
const KEY = "azure-key-east-0001";
const ENTRA = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mock-entra-token";
let p: MockProvider;

beforeAll(async () => {
  p = await startMockProvider({
    kind: "azure",
    name: "aoai-east",
    keys: [KEY],
    entraTokens: [ENTRA],
    deployments: {
      gpt4o: { model: "gpt-4o-2024-08-06", tokensPerMinute: 100_000, requestsPerMinute: 1000 },
      embed: { model: "text-embedding-3-small" },
    },
  });
});
afterAll(() => p.close());
beforeEach(() => p.reset());

const azure = (opts: Partial<ConstructorParameters<typeof AzureOpenAI>[0]> = {}) =>
  new AzureOpenAI({ endpoint: p.url, apiKey: KEY, apiVersion: API_VERSION, maxRetries: 0, ...opts });
const classic = `/openai/deployments/gpt4o/chat/completions?api-version=${API_VERSION}`;

describe("Azure classic path through the AzureOpenAI SDK", () => {
  it("answers JSON with usage equal to what was counted, and Azure's headers", async () => {
    const { data, response } = await azure()
      .chat.completions.create({ model: "gpt4o", messages: [{ role: "user", content: "Say hello" }], max_tokens: 50 })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("aoai-east says hello from a mock model today");
    expect(data.model).toBe("gpt-4o-2024-08-06"); // the model version, never the deployment name
    // prompt estimate: 3 + (4 + ceil(9/4)) = 10; 8 generated words
    expect(data.usage).toEqual({ prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
    for (const h of ["apim-request-id", "x-request-id", "x-ms-region"]) expect(response.headers.get(h)).toBeTruthy();
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe(String(100_000 - (10 + 50)));
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("999");

    const rec = p.records[0]!;
    expect(rec).toMatchObject({
      method: "POST",
      path: "/openai/deployments/gpt4o/chat/completions",
      apiVersion: API_VERSION,
      surface: "azure-classic",
      api: "chat",
      deployment: "gpt4o",
      credential: { scheme: "api-key", value: KEY },
      status: 200,
      promptTokens: 10,
      reservedTokens: 60,
      completionTokens: 8,
      stream: false,
    });
  });

  it("caps the answer at max_tokens with finish_reason length", async () => {
    const r = await azure().chat.completions.create({ model: "gpt4o", messages: [{ role: "user", content: "x" }], max_tokens: 3 });
    expect(r.choices[0]!.message.content).toBe("aoai-east says hello");
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.usage!.completion_tokens).toBe(3);
  });

  it("streams the full text, with usage only when include_usage is asked", async () => {
    const stream = await azure().chat.completions.create({
      model: "gpt4o",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: unknown = undefined;
    const chunks: Array<{ choices: unknown[] }> = [];
    for await (const c of stream) {
      chunks.push(c);
      text += c.choices[0]?.delta?.content ?? "";
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe("aoai-east says hello from a mock model today");
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
    // Azure opens with the empty prompt_filter_results frame, and ends with the choices:[] usage chunk
    expect(chunks[0]).toMatchObject({ id: "", model: "", choices: [], prompt_filter_results: expect.any(Array) });
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(p.records[0]).toMatchObject({ stream: true, includeUsage: true, completed: true, completionTokens: 8 });

    const raw = await fetchPost(p.url, classic, mockChat({ stream: true }), { "api-key": KEY });
    expect(raw.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(raw.text).not.toContain('"usage"');
    expect(raw.text.endsWith("data: [DONE]\n\n")).toBe(true);
  });
});

describe("Azure authentication", () => {
  it("wrong key → 401 with Azure's exact body; the record keeps the wrong key", async () => {
    const r = await fetchPost(p.url, classic, mockChat(), { "api-key": "someone-elses-key" });
    expect(r.status).toBe(401);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.text).toBe(AZURE_401);
    expect(p.records[0]).toMatchObject({ status: 401, outcome: "unauthorized", credential: { scheme: "api-key", value: "someone-elses-key" } });

    const err = await azure({ apiKey: "bad" })
      .chat.completions.create({ model: "gpt4o", messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
  });

  it("an empty api-key is wrong (not missing) and is recorded as empty", async () => {
    const r = await fetchPost(p.url, classic, mockChat(), { "api-key": "" });
    expect(r.status).toBe(401);
    expect(r.text).toBe(AZURE_401);
    expect(p.records[0]!.credential).toEqual({ scheme: "api-key", value: "" });
  });

  it("no credential at all → 401 missing subscription key", async () => {
    const r = await fetchPost(p.url, classic, mockChat());
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error.message).toMatch(/^Access denied due to missing subscription key/);
    expect(p.records[0]!.credential).toEqual({ scheme: "none", value: "" });
  });

  it("Bearer: an Entra token works everywhere; an API key as Bearer only on /openai/v1", async () => {
    const entra = azure({ apiKey: undefined, azureADTokenProvider: async () => ENTRA });
    const r = await entra.chat.completions.create({ model: "gpt4o", messages: [{ role: "user", content: "x" }] });
    expect(r.choices[0]!.finish_reason).toBe("stop");
    expect(p.records[0]!.credential).toEqual({ scheme: "bearer", value: ENTRA });

    expect((await fetchPost(p.url, classic, mockChat(), { authorization: `Bearer ${KEY}` })).status).toBe(401);
    expect((await fetchPost(p.url, "/openai/v1/chat/completions", mockChat({ model: "gpt4o" }), { authorization: `Bearer ${KEY}` })).status).toBe(200);
  });
});

describe("Azure routing", () => {
  it("unknown deployment → 404 DeploymentNotFound, exact body (classic and v1)", async () => {
    const a = await fetchPost(p.url, `/openai/deployments/nope/chat/completions?api-version=${API_VERSION}`, mockChat(), { "api-key": KEY });
    expect(a.status).toBe(404);
    expect(a.text).toBe(AZURE_404_DEPLOYMENT);
    const b = await fetchPost(p.url, "/openai/v1/chat/completions", mockChat({ model: "nope" }), { "api-key": KEY });
    expect(b.status).toBe(404);
    expect(b.text).toBe(AZURE_404_DEPLOYMENT);
    const err = await azure().chat.completions.create({ model: "nope", messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("classic path without api-version → 404 Resource not found; v1 needs none", async () => {
    const r = await fetchPost(p.url, "/openai/deployments/gpt4o/chat/completions", mockChat(), { "api-key": KEY });
    expect(r.status).toBe(404);
    expect(r.text).toBe('{"error":{"code":"404","message":"Resource not found"}}');
    expect(p.records[0]).toMatchObject({ status: 404, outcome: "missing-api-version" });
  });

  it("v1 path through the plain OpenAI SDK (Bearer key): chat, embeddings, responses", async () => {
    const client = new OpenAI({ baseURL: `${p.url}/openai/v1`, apiKey: KEY, maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: "gpt4o", messages: [{ role: "user", content: "Say hello" }] });
    expect(chat.choices[0]!.message.content).toBe("aoai-east says hello from a mock model today");
    const emb = await client.embeddings.create({ model: "embed", input: ["a", "b"] });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0]!.embedding).toHaveLength(8);
    expect(emb.model).toBe("text-embedding-3-small");
    const resp = await client.responses.create({ model: "gpt4o", input: "Say hello" });
    expect(resp.output_text).toBe("aoai-east says hello from a mock model today");
    expect(resp.usage).toMatchObject({ input_tokens: 10, output_tokens: 8, total_tokens: 18 });
    expect(p.records.map((r) => [r.surface, r.api, r.deployment, r.credential.scheme])).toEqual([
      ["azure-v1", "chat", "gpt4o", "bearer"],
      ["azure-v1", "embeddings", "embed", "bearer"],
      ["azure-v1", "responses", "gpt4o", "bearer"],
    ]);
  });

  it("models endpoint (classic and v1) answers with the key and records the probe; wrong key → 401", async () => {
    const page = await azure().models.list();
    expect(page.data.map((m) => m.id).sort()).toEqual(["gpt-4o-2024-08-06", "text-embedding-3-small"]);
    expect(p.records[0]).toMatchObject({ method: "GET", path: "/openai/models", api: "models", apiVersion: API_VERSION, status: 200 });
    expect((await fetchGet(p.url, "/openai/v1/models", { "api-key": KEY })).status).toBe(200);
    const bad = await fetchGet(p.url, `/openai/models?api-version=${API_VERSION}`, { "api-key": "other" });
    expect(bad.status).toBe(401);
    expect(bad.text).toBe(AZURE_401);
    expect(p.records.at(-1)!.credential.value).toBe("other");
  });
});
