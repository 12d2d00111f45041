import OpenAI, { AzureOpenAI } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockProviderOptions } from "../../../harness/providers/index.ts";
import { AZURE_401, fetchGet, fetchPost, mockChat, OPENAI_QUOTA, request } from "../../support/stack.ts";

const KEY = "k-east";
const PATH = "/openai/deployments/d1/chat/completions?api-version=2024-10-21";
const H = { "api-key": KEY };

let open: MockProvider[] = [];
afterEach(async () => {
  await Promise.all(open.map((p) => p.close()));
  open = [];
});

async function azure(extra: Partial<MockProviderOptions> = {}) {
  const p = await startMockProvider({
    kind: "azure",
    name: "aoai-east",
    keys: [KEY],
    deployments: { d1: { model: "gpt-4o", tokensPerMinute: 10_000 }, d2: { model: "gpt-4o-mini" } },
    ...extra,
  });
  open.push(p);
  return p;
}

const rawChat = (p: MockProvider, headers: Record<string, string> = H) =>
  request(p.url, { method: "POST", path: PATH, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(mockChat()) });
const errCode = (e: unknown) => (e as { code?: string }).code;

describe("scripted faults (setFault)", () => {
  it("status fault for `count` requests, after auth (a wrong key still gets 401), consuming no budget", async () => {
    const p = await azure();
    p.setFault({ type: "status", status: 503, count: 2 });
    expect((await fetchPost(p.url, PATH, mockChat(), { "api-key": "wrong" })).text).toBe(AZURE_401);
    const a = await fetchPost(p.url, PATH, mockChat(), H);
    expect(a.status).toBe(503);
    expect(JSON.parse(a.text).error.code).toBe("503");
    expect(a.headers.get("x-ratelimit-remaining-tokens")).toBe("10000"); // faulted requests reserve nothing
    expect((await fetchPost(p.url, PATH, mockChat(), H)).status).toBe(503);
    expect((await fetchPost(p.url, PATH, mockChat(), H)).status).toBe(200);
    expect(p.records.map((r) => r.outcome)).toEqual(["unauthorized", "fault:status", "fault:status", "ok"]);
  });

  it("custom body and headers; scope by deployment; forMs expiry on the provider clock", async () => {
    const c = { now: 0 };
    const p = await azure({ clock: () => c.now });
    p.setFault({ type: "status", status: 500, body: { custom: true }, headers: { "x-extra": "1" }, deployment: "d2", forMs: 1000 });
    expect((await fetchPost(p.url, PATH, mockChat(), H)).status).toBe(200);
    const d2 = `/openai/deployments/d2/chat/completions?api-version=2024-10-21`;
    const r = await fetchPost(p.url, d2, mockChat(), H);
    expect([r.status, r.text, r.headers.get("x-extra")]).toEqual([500, '{"custom":true}', "1"]);
    c.now = 1000;
    expect((await fetchPost(p.url, d2, mockChat(), H)).status).toBe(200);
  });

  it("faults also hit the models endpoint (health probes see the outage); clearFaults ends them", async () => {
    const p = await azure();
    p.setFault({ type: "status", status: 502 });
    expect((await fetchGet(p.url, "/openai/models?api-version=2024-10-21", H)).status).toBe(502);
    p.clearFaults();
    expect((await fetchGet(p.url, "/openai/models?api-version=2024-10-21", H)).status).toBe(200);
  });

  it("429 with retry headers, and a bare 429 with none at all", async () => {
    const p = await azure();
    p.setFault({ type: "rateLimit", retryAfterMs: 2500, count: 1 });
    const a = await fetchPost(p.url, PATH, mockChat(), H);
    expect([a.status, a.headers.get("retry-after"), a.headers.get("retry-after-ms")]).toEqual([429, "3", "2500"]);
    expect(a.headers.get("x-ratelimit-remaining-tokens")).toBe("10000");
    expect(a.text).toBe('{"error":{"code":"429","message":"Rate limit is exceeded. Try again in 3 seconds."}}');
    p.setFault({ type: "rateLimit", noRetryHeaders: true, count: 1 });
    const b = await fetchPost(p.url, PATH, mockChat(), H);
    expect(b.status).toBe(429);
    const names = [...b.headers.keys()];
    expect(names.filter((n) => n.startsWith("retry-after") || n.startsWith("x-ratelimit"))).toEqual([]);
  });

  it("insufficient_quota 429 and content-filter 400 in the exact shapes; the SDK classifies them", async () => {
    const p = await azure();
    p.setFault({ type: "insufficientQuota", count: 1 });
    const q = await fetchPost(p.url, PATH, mockChat(), H);
    expect([q.status, q.text]).toEqual([429, OPENAI_QUOTA]);
    expect(q.headers.get("retry-after")).toBeNull();

    p.setFault({ type: "contentFilter", count: 1 });
    const client = new AzureOpenAI({ endpoint: p.url, apiKey: KEY, apiVersion: "2024-10-21", maxRetries: 0 });
    const err = await client.chat.completions.create({ model: "d1", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.code).toBe("content_filter");
    expect((e.error as { innererror: { code: string } }).innererror.code).toBe("ResponsibleAIPolicyViolation");

    p.setFault({ type: "contentFilterOutput", count: 1 });
    const out = await client.chat.completions.create({ model: "d1", messages: [{ role: "user", content: "x" }] });
    expect(out.choices[0]!.finish_reason).toBe("content_filter");
    expect(out.usage!.completion_tokens).toBe(4);
  });

  it("reset: the connection is reset without an answer; hang: no answer until the client gives up", async () => {
    const p = await azure();
    p.setFault({ type: "reset", count: 1 });
    expect(errCode(await rawChat(p).catch((e: unknown) => e))).toBe("ECONNRESET");
    expect(p.records[0]).toMatchObject({ status: 0, outcome: "fault:reset" });

    p.setFault({ type: "hang", count: 1 });
    const t0 = Date.now();
    const err = await fetch(p.url + PATH, { method: "POST", headers: H, body: JSON.stringify(mockChat()), signal: AbortSignal.timeout(150) }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe("TimeoutError");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(p.records[1]).toMatchObject({ status: 0, outcome: "fault:hang" });
    expect((await fetchPost(p.url, PATH, mockChat(), H)).status).toBe(200);
  });

  it("cutStream: the SDK sees the stream die mid-answer; the record counts what was sent", async () => {
    const p = await azure();
    // frames: prompt-filter, role, "aoai-east", " says", ✂
    p.setFault({ type: "cutStream", afterChunks: 4 });
    const client = new AzureOpenAI({ endpoint: p.url, apiKey: KEY, apiVersion: "2024-10-21", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "d1", messages: [{ role: "user", content: "x" }], stream: true });
    let text = "";
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(text).toBe("aoai-east says");
    await new Promise((r) => setTimeout(r, 20));
    expect(p.records[0]).toMatchObject({ status: 200, outcome: "fault:cut-stream", completed: false, completionTokens: 2 });
  });
});

describe("per-request scripting through x-mock-* headers (test-only)", () => {
  it("x-mock-status applies only to the provider named by x-mock-target", async () => {
    const p = await azure();
    expect((await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-status": "500", "x-mock-target": "other" })).status).toBe(200);
    expect((await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-status": "500", "x-mock-target": "aoai-east" })).status).toBe(500);
    expect((await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-status": "504" })).status).toBe(504);
  });

  it("x-mock-fault, x-mock-completion-tokens and x-mock-latency-ms", async () => {
    const p = await azure({ scriptHeaders: true });
    const q = await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-fault": "insufficient-quota" });
    expect(q.text).toBe(OPENAI_QUOTA);
    const bare = await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-fault": "rate-limit-no-headers" });
    expect([bare.status, bare.headers.get("retry-after")]).toEqual([429, null]);
    const t0 = Date.now();
    const r = await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-completion-tokens": "3", "x-mock-latency-ms": "120" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    expect(JSON.parse(r.text).choices[0].message.content).toBe("aoai-east says hello");
  });

  it("scriptHeaders: false ignores them", async () => {
    const p = await azure({ scriptHeaders: false });
    expect((await fetchPost(p.url, PATH, mockChat(), { ...H, "x-mock-status": "500" })).status).toBe(200);
  });
});

describe("outages and timing", () => {
  it("refused: nothing listens (ECONNREFUSED) until the outage ends, on the same port", async () => {
    const p = await azure();
    const port = p.port;
    await p.startOutage("refused");
    expect(errCode(await rawChat(p).catch((e: unknown) => e))).toBe("ECONNREFUSED");
    await p.endOutage();
    expect(p.port).toBe(port);
    expect((await rawChat(p)).status).toBe(200);

    await p.startOutage("refused", 100);
    expect(errCode(await rawChat(p).catch((e: unknown) => e))).toBe("ECONNREFUSED");
    await new Promise((r) => setTimeout(r, 200));
    expect((await rawChat(p)).status).toBe(200);
    expect(p.records).toHaveLength(2); // refused connections never reach HTTP
  });

  it("reset: connections are accepted then reset", async () => {
    const p = await azure();
    await p.startOutage("reset");
    expect(errCode(await rawChat(p).catch((e: unknown) => e))).toBe("ECONNRESET");
    expect(p.stats().outageResets).toBe(1);
    await p.endOutage();
    expect((await rawChat(p)).status).toBe(200);
  });

  it("latencyMs delays the headers", async () => {
    const p = await azure({ latencyMs: 150 });
    const t0 = Date.now();
    await fetchPost(p.url, PATH, mockChat(), H);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("stream timing: first frame after firstChunkMs, then one frame every chunkIntervalMs", async () => {
    const p = await startMockProvider({
      kind: "openai",
      name: "oai",
      keys: [KEY],
      completionTokens: 3,
      stream: { firstChunkMs: 120, chunkIntervalMs: 40 },
    });
    open.push(p);
    // Lower bounds measured from the send time hold however late the client reads.
    const t0 = performance.now();
    const res = await fetch(`${p.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify(mockChat({ model: "m", stream: true })),
    });
    const times: number[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      const frames = decoder.decode(chunk as Uint8Array).split("\n\n").filter(Boolean).length;
      for (let i = 0; i < frames; i++) times.push(performance.now() - t0);
    }
    expect(times).toHaveLength(6); // role, 3 words, finish, [DONE]
    expect(times[0]).toBeGreaterThanOrEqual(118);
    expect(times[5]).toBeGreaterThanOrEqual(118 + 5 * 40);
    const gaps = times.slice(1).map((t, i) => t - times[i]!).sort((a, b) => a - b);
    expect(gaps[2]).toBeGreaterThanOrEqual(25); // median gap: frames arrive spread out, not in one burst
  });
});
