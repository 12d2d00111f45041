import { afterEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { fetchGet, fetchPost, mockChat, request } from "../../support/stack.ts";

const KEY = "key-a";
const PATH = "/openai/deployments/d1/chat/completions?api-version=2024-10-21";

let open: MockProvider[] = [];
afterEach(async () => {
  await Promise.all(open.map((p) => p.close()));
  open = [];
});

async function azure() {
  const p = await startMockProvider({ kind: "azure", name: "aoai", keys: [KEY], deployments: { d1: { model: "gpt-4o", tokensPerMinute: 5000 } } });
  open.push(p);
  return p;
}

describe("records", () => {
  it("every request is recorded — rejected ones and probes included — with full lower-case headers, query and body", async () => {
    const p = await azure();
    await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY, "X-Custom": "Yes" });
    await fetchPost(p.url, PATH, mockChat(), { "api-key": "nope" });
    await fetchPost(p.url, "/openai/deployments/zz/chat/completions?api-version=2024-10-21", mockChat(), { "api-key": KEY });
    await fetchGet(p.url, "/openai/models?api-version=2024-10-21", { "api-key": KEY });
    await fetchPost(p.url, "/elsewhere", "not json", { "api-key": KEY });
    expect(p.records.map((r) => [r.seq, r.method, r.path, r.status, r.outcome])).toEqual([
      [1, "POST", "/openai/deployments/d1/chat/completions", 200, "ok"],
      [2, "POST", "/openai/deployments/d1/chat/completions", 401, "unauthorized"],
      [3, "POST", "/openai/deployments/zz/chat/completions", 404, "deployment-not-found"],
      [4, "GET", "/openai/models", 200, "ok"],
      [5, "POST", "/elsewhere", 404, "not-found"],
    ]);
    const first = p.records[0]!;
    expect(first.headers["x-custom"]).toBe("Yes");
    expect(first.headers["api-key"]).toBe(KEY);
    expect(first.query).toEqual({ "api-version": "2024-10-21" });
    expect(JSON.parse(first.body)).toEqual(mockChat());
    expect(p.records[4]!.body).toBe("not json");
    expect(p.stats()).toMatchObject({ requests: 5, byStatus: { 200: 2, 401: 1, 404: 2 }, admitted: 1 });
  });

  it("every credential-bearing header is recorded, duplicates and empty values kept", async () => {
    const p = await azure();
    // node:http (fetch would join the duplicate authorization headers).
    await request(p.url, {
      method: "POST",
      path: PATH,
      headers: {
        "content-type": "application/json",
        "api-key": KEY,
        authorization: ["Bearer client-token", "Bearer "],
        "x-api-key": "anthropic-style",
      },
      body: JSON.stringify(mockChat()),
    });
    const r = p.records[0]!;
    expect(r.credential).toEqual({ scheme: "api-key", value: KEY }); // what Azure authenticates with
    expect(r.credentials).toEqual([
      { scheme: "api-key", value: KEY },
      { scheme: "bearer", value: "client-token" },
      { scheme: "bearer", value: "" },
      { scheme: "x-api-key", value: "anthropic-style" },
    ]);
    expect(r.rawHeaders.filter(([k]) => k === "authorization")).toHaveLength(2);
    expect(p.credentialsSeen()).toEqual(r.credentials);
  });

  it("setKeys revokes a key mid-run; credentialsSeen lists each credential once", async () => {
    const p = await azure();
    expect((await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY })).status).toBe(200);
    p.setKeys(["key-b"]);
    expect((await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY })).status).toBe(401);
    expect((await fetchPost(p.url, PATH, mockChat(), { "api-key": "key-b" })).status).toBe(200);
    expect(p.credentialsSeen()).toEqual([
      { scheme: "api-key", value: KEY },
      { scheme: "api-key", value: "key-b" },
    ]);
  });

  it("reset() clears records, windows and faults", async () => {
    const p = await azure();
    p.setFault({ type: "status", status: 500, count: 1 });
    await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY });
    await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY });
    expect(p.stats().windows.d1!.remainingTokens).toBeLessThan(5000);
    p.setFault({ type: "status", status: 500 });
    p.reset();
    expect(p.records).toHaveLength(0);
    expect(p.stats().windows).toEqual({});
    expect((await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY })).status).toBe(200);
    expect(p.records[0]!.seq).toBeGreaterThan(0);
  });
});

describe("lifecycle", () => {
  it("binds 127.0.0.1 only and close() ends in-flight streams and hanging requests without leaving a server handle", async () => {
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
    const before = servers();
    const p = await startMockProvider({
      kind: "openai",
      name: "oai",
      keys: [KEY],
      stream: { firstChunkMs: 0, chunkIntervalMs: 5000 },
    });
    expect(p.url).toBe(`http://127.0.0.1:${p.port}`);
    expect(servers()).toBe(before + 1);
    const slow = fetch(`${p.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify(mockChat({ model: "m", stream: true })),
    })
      .then((r) => r.text())
      .then(() => "completed", () => "failed");
    p.setFault({ type: "hang", api: "chat", stream: false });
    const hung = fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "m" }), { authorization: `Bearer ${KEY}` }).then(
      () => "completed",
      () => "failed",
    );
    while (p.records.length < 2) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await p.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await slow).toBe("failed"); // cut mid-stream, not a clean end
    expect(await hung).toBe("failed");
    expect(servers()).toBe(before);
    expect((await fetch(`${p.url}/v1/models`).catch((e: { cause?: { code?: string } }) => e.cause?.code))).toBe("ECONNREFUSED");
  });
});
