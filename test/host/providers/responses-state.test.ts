// Mock providers: the Responses API's stored state lives per mock (per Azure resource / OpenAI
// organisation). Follow-ups work on the mock that made the response; any other mock answers
// with the real services' not-found errors.
import OpenAI, { AzureOpenAI } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { fetchGet } from "../../support/stack.ts";
import { apiError } from "../../support/sdk.ts";

const OA_KEY = "sk-org-a-0123456789";
const OB_KEY = "sk-org-b-9876543210";
const AZ_KEY = "azure-key-resp-0001";
const API_VERSION = "2025-04-01-preview";
let a: MockProvider; // OpenAI organisation A
let b: MockProvider; // OpenAI organisation B
let az: MockProvider; // Azure resource
const timing = { responseQueuedMs: 60, responseInProgressMs: 60 };

beforeAll(async () => {
  a = await startMockProvider({ kind: "openai", name: "org-a", keys: [OA_KEY], models: { "gpt-4o": {}, o3: { reasoning: true, reasoningTokens: 12 } }, timing });
  b = await startMockProvider({ kind: "openai", name: "org-b", keys: [OB_KEY], models: { "gpt-4o": {}, o3: { reasoning: true } }, timing });
  az = await startMockProvider({
    kind: "azure",
    name: "aoai-resp",
    keys: [AZ_KEY],
    deployments: { gpt4o: { model: "gpt-4o-2024-08-06", tokensPerMinute: 100_000 }, o3: { model: "o3-2025-04-16", reasoning: true } },
    timing,
  });
});
afterAll(async () => {
  await Promise.all([a.close(), b.close(), az.close()]);
});
beforeEach(() => {
  for (const p of [a, b, az]) p.reset();
});

const clientA = () => new OpenAI({ baseURL: `${a.url}/v1`, apiKey: OA_KEY, maxRetries: 0 });
const clientB = () => new OpenAI({ baseURL: `${b.url}/v1`, apiKey: OB_KEY, maxRetries: 0 });
const azureClassic = () => new AzureOpenAI({ endpoint: az.url, apiKey: AZ_KEY, apiVersion: API_VERSION, maxRetries: 0 });
const azureV1 = () => new OpenAI({ baseURL: `${az.url}/openai/v1`, apiKey: AZ_KEY, maxRetries: 0 });


const notFoundPrevious = (id: string) => ({
  message: `Previous response with id '${id}' not found.`,
  type: "invalid_request_error",
  param: "previous_response_id",
  code: "previous_response_not_found",
});

describe("responses chain: state belongs to one organisation / resource", () => {
  it("previous_response_id works on the mock that made it, and is previous_response_not_found on another", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "Say hello" });
    expect(r1.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect((r1 as unknown as { store: boolean }).store).toBe(true);
    expect(r1.output[0]).toMatchObject({ type: "message", role: "assistant" });
    expect((r1.output[0] as { id: string }).id).toMatch(/^msg_[0-9a-f]{48}$/);
    expect(a.owns(r1.id)).toBe(true);
    expect(b.owns(r1.id)).toBe(false);

    const r2 = await clientA().responses.create({ model: "gpt-4o", input: "And again", previous_response_id: r1.id });
    expect(r2.previous_response_id).toBe(r1.id);
    // input_tokens = own estimate (3 + 4 + ceil(9/4) = 10) + the replayed history (r1: 10 in + 8 out)
    expect(r1.usage).toMatchObject({ input_tokens: 10, output_tokens: 8 });
    expect(r2.usage).toMatchObject({ input_tokens: 10 + 18, output_tokens: 8 });
    expect(a.storedIds().responses).toEqual([r1.id, r2.id]);

    const e = await apiError(clientB().responses.create({ model: "gpt-4o", input: "And again", previous_response_id: r1.id }));
    expect(e).toEqual({ status: 400, error: notFoundPrevious(r1.id) });
    expect(b.records.at(-1)).toMatchObject({ api: "responses", op: "create", status: 400, outcome: "previous-response-not-found" });
    expect(b.stats().admitted).toBe(0); // refused before admission: no budget spent
  });

  it("the 400 is byte for byte the service's body", async () => {
    const r = await fetch(`${b.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${OB_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", input: "x", previous_response_id: "resp_abc" }),
    });
    expect(r.status).toBe(400);
    expect(await r.text()).toBe(
      `{"error":{"message":"Previous response with id 'resp_abc' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}`,
    );
  });

  it("store:false keeps nothing: no follow-up, no GET", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "ephemeral", store: false });
    expect((r1 as unknown as { store: boolean }).store).toBe(false);
    expect(a.owns(r1.id)).toBe(false);
    expect(await apiError(clientA().responses.create({ model: "gpt-4o", input: "x", previous_response_id: r1.id }))).toEqual({
      status: 400,
      error: notFoundPrevious(r1.id),
    });
    expect((await apiError(clientA().responses.retrieve(r1.id))).status).toBe(404);
  });

  it("a streamed response is stored too and can be continued", async () => {
    const stream = await clientA().responses.create({ model: "gpt-4o", input: "stream it", stream: true });
    let id = "";
    for await (const ev of stream) if (ev.type === "response.completed") id = ev.response.id;
    expect(id).toMatch(/^resp_/);
    const r2 = await clientA().responses.create({ model: "gpt-4o", input: "more", previous_response_id: id });
    expect(r2.previous_response_id).toBe(id);
  });
});

describe("GET / DELETE / cancel / input_items", () => {
  it("retrieve returns the stored response; input_items lists its input with ids; delete removes it", async () => {
    const r1 = await clientA().responses.create({
      model: "gpt-4o",
      instructions: "Be brief",
      input: [
        { role: "user", content: "first" },
        { role: "user", content: [{ type: "input_text", text: "second" }] },
      ],
    });
    const got = await clientA().responses.retrieve(r1.id);
    expect(got).toEqual(r1);

    const items = await clientA().responses.inputItems.list(r1.id);
    const data = items.data as Array<{ id: string; type: string; role: string; content: Array<{ text: string }> }>;
    expect(data.map((i) => i.content[0]!.text)).toEqual(["second", "first"]); // newest first (default order desc)
    for (const i of data) expect(i).toMatchObject({ id: expect.stringMatching(/^msg_/), type: "message", role: "user" });
    const asc = await clientA().responses.inputItems.list(r1.id, { order: "asc" });
    expect((asc.data as Array<{ id: string }>).map((i) => i.id)).toEqual(data.map((i) => i.id).reverse());

    const del = await fetch(`${a.url}/v1/responses/${r1.id}`, { method: "DELETE", headers: { authorization: `Bearer ${OA_KEY}` } });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id: r1.id, object: "response", deleted: true });
    expect(a.owns(r1.id)).toBe(false);

    const gone = await fetchGet(a.url, `/v1/responses/${r1.id}`, { authorization: `Bearer ${OA_KEY}` });
    expect(gone.status).toBe(404);
    expect(gone.text).toBe(`{"error":{"message":"Response with id '${r1.id}' not found.","type":"invalid_request_error","param":null,"code":null}}`);
    expect(a.records.at(-1)).toMatchObject({ method: "GET", api: "responses", op: "get", status: 404, outcome: "response-not-found" });
  });

  it("another organisation's id is 404 on GET, DELETE, cancel and input_items", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "mine" });
    const want = { status: 404, error: { message: `Response with id '${r1.id}' not found.`, type: "invalid_request_error", param: null, code: null } };
    expect(await apiError(clientB().responses.retrieve(r1.id))).toEqual(want);
    expect(await apiError(clientB().responses.delete(r1.id))).toEqual(want);
    expect(await apiError(clientB().responses.cancel(r1.id))).toEqual(want);
    expect(await apiError(clientB().responses.inputItems.list(r1.id))).toEqual(want);
    expect(a.owns(r1.id)).toBe(true); // untouched on its own mock
  });

  it("cancel of a synchronous response is a 400", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "sync" });
    expect(await apiError(clientA().responses.cancel(r1.id))).toEqual({
      status: 400,
      error: { message: "Cannot cancel a synchronous response.", type: "invalid_request_error", param: null, code: null },
    });
  });

  it("a wrong key gets 401 on the stored-state paths; faults apply to them", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "x" });
    const wrong = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: "sk-wrong-key-000000", maxRetries: 0 });
    expect((await apiError(wrong.responses.retrieve(r1.id))).status).toBe(401);
    a.setFault({ type: "status", status: 503, api: "responses", count: 1 });
    expect((await apiError(clientA().responses.retrieve(r1.id))).status).toBe(503);
    expect((await clientA().responses.retrieve(r1.id)).id).toBe(r1.id);
    expect(a.credentialsSeen()).toEqual([
      { scheme: "bearer", value: OA_KEY },
      { scheme: "bearer", value: "sk-wrong-key-000000" },
    ]);
    // GETs carry no rate-limit headers and spend nothing
    expect(a.stats().admitted).toBe(1);
  });
});

describe("reasoning items and item references", () => {
  it("rs_ items can be passed back on the same organisation; another one answers Item not found (404)", async () => {
    const r1 = await clientA().responses.create({ model: "o3", input: "think" });
    const [rs, msg] = r1.output as Array<{ id: string; type: string }>;
    expect(rs).toEqual({ id: expect.stringMatching(/^rs_[0-9a-f]{48}$/), type: "reasoning", summary: [] });
    expect(msg!.type).toBe("message");
    expect(r1.usage).toMatchObject({ output_tokens: 8 + 12, output_tokens_details: { reasoning_tokens: 12 } });

    const input = [...(r1.output as never[]), { role: "user" as const, content: "next" }];
    const r2 = await clientA().responses.create({ model: "o3", input, store: false });
    expect(r2.status).toBe("completed");
    const ref = await clientA().responses.create({ model: "o3", input: [{ type: "item_reference", id: msg!.id }, { role: "user", content: "x" }] });
    expect(ref.status).toBe("completed");

    const e = await apiError(clientB().responses.create({ model: "o3", input, store: false }));
    expect(e).toEqual({
      status: 404,
      error: {
        message: `Item with id '${rs!.id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
        type: "invalid_request_error",
        param: "input",
        code: null,
      },
    });
  });
});

describe("conversations", () => {
  it("responses in a conversation add to its items and history; another organisation does not know it", async () => {
    const conv = await clientA().conversations.create({ metadata: { topic: "demo" } });
    expect(conv).toMatchObject({ id: expect.stringMatching(/^conv_[0-9a-f]{48}$/), object: "conversation", metadata: { topic: "demo" } });
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "Say hello", conversation: conv.id });
    expect(r1.conversation).toEqual({ id: conv.id });
    const r2 = await clientA().responses.create({ model: "gpt-4o", input: "And again", conversation: { id: conv.id } });
    expect(r2.usage!.input_tokens).toBe(10 + 18); // the conversation's history is replayed

    const items = await clientA().conversations.items.list(conv.id, { order: "asc" });
    const roles = (items.data as Array<{ type: string; role: string }>).map((i) => `${i.type}:${i.role}`);
    expect(roles).toEqual(["message:user", "message:assistant", "message:user", "message:assistant"]);
    expect((items.data[1] as { id: string }).id).toBe((r1.output[0] as { id: string }).id);
    expect((await clientA().conversations.retrieve(conv.id)).id).toBe(conv.id);

    const e = await apiError(clientB().responses.create({ model: "gpt-4o", input: "x", conversation: conv.id }));
    expect(e).toEqual({ status: 404, error: { message: `Conversation with id '${conv.id}' not found.`, type: "invalid_request_error", param: null, code: null } });
    expect((await apiError(clientB().conversations.retrieve(conv.id))).status).toBe(404);

    const both = await apiError(clientA().responses.create({ model: "gpt-4o", input: "x", conversation: conv.id, previous_response_id: r1.id }));
    expect(both.status).toBe(400);
    expect(both.error).toMatchObject({ code: "mutually_exclusive_parameters" });

    expect(await clientA().conversations.delete(conv.id)).toEqual({ id: conv.id, object: "conversation.deleted", deleted: true });
    expect((await apiError(clientA().conversations.retrieve(conv.id))).status).toBe(404);
  });
});

describe("background responses", () => {
  // A controlled clock: the status is read off the provider clock, so the test steps through it.
  let now = 1_000_000;
  let bg: MockProvider;
  beforeAll(async () => {
    bg = await startMockProvider({ kind: "openai", name: "org-bg", keys: [OA_KEY], clock: () => now, timing: { responseQueuedMs: 1000, responseInProgressMs: 2000 } });
  });
  afterAll(() => bg.close());
  const client = () => new OpenAI({ baseURL: `${bg.url}/v1`, apiKey: OA_KEY, maxRetries: 0 });

  it("queued → in_progress → completed on the clock, polled with GET", async () => {
    const r = await client().responses.create({ model: "gpt-4o", input: "Say hello", background: true });
    expect(r).toMatchObject({ status: "queued", background: true, output: [], usage: null });
    now += 999;
    expect((await client().responses.retrieve(r.id)).status).toBe("queued");
    now += 1;
    expect((await client().responses.retrieve(r.id)).status).toBe("in_progress");
    now += 2000;
    const last = await client().responses.retrieve(r.id);
    expect(last.status).toBe("completed");
    expect(last.output_text).toBe("org-bg says hello from a mock model today");
    expect(last.usage).toMatchObject({ input_tokens: 10, output_tokens: 8 });
  });

  it("background with stream: streamed to completion and stored as completed", async () => {
    const stream = await client().responses.create({ model: "gpt-4o", input: "Say hello", background: true, stream: true });
    let id = "";
    for await (const ev of stream) if (ev.type === "response.completed") id = ev.response.id;
    expect((await client().responses.retrieve(id)).status).toBe("completed");
  });

  it("background responses poll in real time with the default clock", async () => {
    const r = await clientA().responses.create({ model: "gpt-4o", input: "Say hello", background: true });
    let last = r;
    const deadline = Date.now() + 5000;
    while (last.status !== "completed" && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      last = await clientA().responses.retrieve(r.id);
    }
    expect(last.status).toBe("completed");
  });

  it("cancel stops a queued response; cancel again is idempotent; a completed one cannot be cancelled", async () => {
    const r = await client().responses.create({ model: "gpt-4o", input: "cancel me", background: true });
    const c = await client().responses.cancel(r.id);
    expect(c).toMatchObject({ id: r.id, status: "cancelled", output: [] });
    now += 10_000;
    expect((await client().responses.retrieve(r.id)).status).toBe("cancelled");
    expect((await client().responses.cancel(r.id)).status).toBe("cancelled");

    const done = await client().responses.create({ model: "gpt-4o", input: "quick", background: true });
    now += 10_000;
    expect(await apiError(client().responses.cancel(done.id))).toEqual({
      status: 400,
      error: { message: "Cannot cancel a response with status 'completed'.", type: "invalid_request_error", param: null, code: null },
    });
  });
});

describe("Azure paths", () => {
  it("classic /openai/responses?api-version and v1 /openai/v1/responses share the resource's state", async () => {
    const r1 = await azureClassic().responses.create({ model: "gpt4o", input: "Say hello" });
    expect(r1.model).toBe("gpt-4o-2024-08-06");
    const got = await azureClassic().responses.retrieve(r1.id);
    expect(got.id).toBe(r1.id);
    const r2 = await azureV1().responses.create({ model: "gpt4o", input: "more", previous_response_id: r1.id });
    expect(r2.previous_response_id).toBe(r1.id);
    await azureClassic().responses.delete(r2.id);
    expect((await apiError(azureV1().responses.retrieve(r2.id))).status).toBe(404);

    expect(az.records.map((r) => [r.method, r.path, r.op, r.apiVersion ?? null, r.status])).toEqual([
      ["POST", "/openai/responses", "create", API_VERSION, 200],
      ["GET", `/openai/responses/${r1.id}`, "get", API_VERSION, 200],
      ["POST", "/openai/v1/responses", "create", null, 200],
      ["DELETE", `/openai/responses/${r2.id}`, "delete", API_VERSION, 200],
      ["GET", `/openai/v1/responses/${r2.id}`, "get", null, 404],
    ]);
    expect(az.credentialsSeen()).toEqual([
      { scheme: "api-key", value: AZ_KEY },
      { scheme: "bearer", value: AZ_KEY },
    ]);
  });

  it("classic stored-state paths without api-version are Azure's 404", async () => {
    const r1 = await azureClassic().responses.create({ model: "gpt4o", input: "x" });
    const r = await fetchGet(az.url, `/openai/responses/${r1.id}`, { "api-key": AZ_KEY });
    expect(r.status).toBe(404);
    expect(r.text).toBe('{"error":{"code":"404","message":"Resource not found"}}');
  });

  it("an OpenAI organisation's response id is unknown to the Azure resource", async () => {
    const r1 = await clientA().responses.create({ model: "gpt-4o", input: "x" });
    const e = await apiError(azureClassic().responses.create({ model: "gpt4o", input: "y", previous_response_id: r1.id }));
    expect(e).toEqual({ status: 400, error: notFoundPrevious(r1.id) });
  });

  it("unknown deployment is DeploymentNotFound before any state check", async () => {
    const e = await apiError(azureClassic().responses.create({ model: "nope", input: "x", previous_response_id: "resp_x" }));
    expect(e.status).toBe(404);
    expect(e.error).toMatchObject({ code: "DeploymentNotFound" });
  });

  it("follow-ups count their replayed history against the deployment's window", async () => {
    const r1 = await azureClassic().responses.create({ model: "gpt4o", input: "Say hello", max_output_tokens: 100 });
    const { response } = await azureClassic()
      .responses.create({ model: "gpt4o", input: "Say hello", previous_response_id: r1.id, max_output_tokens: 100 })
      .withResponse();
    // r1 reserved 10 + 100; r2 reserved (10 + 18) + 100
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe(String(100_000 - 110 - 128));
    expect(az.records.at(-1)).toMatchObject({ promptTokens: 28, reservedTokens: 128 });
  });
});

describe("bounded store", () => {
  it("keeps at most maxStored responses, dropping the oldest", async () => {
    const small = await startMockProvider({ kind: "openai", name: "small", keys: [OA_KEY], maxStored: 2 });
    try {
      const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: OA_KEY, maxRetries: 0 });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await c.responses.create({ model: "gpt-4o", input: `n${i}` })).id);
      expect(small.storedIds().responses).toEqual(ids.slice(1));
      expect(small.stats().stored.responses).toBe(2);
      expect((await apiError(c.responses.retrieve(ids[0]!))).status).toBe(404);
    } finally {
      await small.close();
    }
  });
});
