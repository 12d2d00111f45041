// Issue 9: stateful requests stay with the resource that holds their state. Two Azure resources
// of equal priority (weighted choice would spread requests over both); the mocks keep stored
// responses, conversations, files and batches per resource, as Azure does, and answer
// previous_response_not_found / 404 on the other one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, post, request, sleep, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

const NAMES = ["aoai-east-ptu", "aoai-west-payg"];

describe("stateful APIs through the gateway", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      workers: 2,
      edit: (cfg) => ({
        ...cfg,
        providers: cfg.providers.map((p: any) => ({ ...p, priority: 0, limits: undefined })),
        healthCheck: { enabled: false },
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const mockOf = (name: string) => (name === NAMES[0] ? s.east : s.west);
  const other = (name: string) => (name === NAMES[0] ? s.west : s.east);
  const create = (extra: Record<string, unknown> = {}) =>
    post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "Tell me a story", ...extra });

  it("a Responses chain: 50 follow-ups with previous_response_id and GET/input_items/DELETE all reach the creator", async () => {
    const first = await create();
    expect(first.status).toBe(200);
    const owner = String(first.headers["x-ai-failover-provider"]);
    expect(NAMES).toContain(owner);
    let prev = JSON.parse(first.body).id as string;
    expect(mockOf(owner).owns(prev)).toBe(true);
    const seen: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await create({ previous_response_id: prev, input: `and then ${i}` });
      expect(r.status, r.body).toBe(200);
      seen.push(String(r.headers["x-ai-failover-provider"]));
      prev = JSON.parse(r.body).id;
    }
    expect(new Set(seen)).toEqual(new Set([owner]));
    const got = await request(s.gateway.url, { path: `/v1/responses/${prev}` });
    expect(got.status).toBe(200);
    expect(JSON.parse(got.body).id).toBe(prev);
    expect(got.headers["x-ai-failover-provider"]).toBe(owner);
    const items = await request(s.gateway.url, { path: `/v1/responses/${prev}/input_items` });
    expect(items.status).toBe(200);
    expect(items.headers["x-ai-failover-provider"]).toBe(owner);
    const del = await request(s.gateway.url, { method: "DELETE", path: `/v1/responses/${prev}` });
    expect(del.status).toBe(200);
    expect(del.headers["x-ai-failover-provider"]).toBe(owner);
    // The other resource never saw a follow-up, so never answered previous_response_not_found.
    const foreign = other(owner).records.filter((r) => r.body.includes("previous_response_id") || r.path.includes("/responses/"));
    expect(foreign).toEqual([]);
    // Each resource saw only its own key.
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("with the owner rate-limited, the client gets the owner's 429 and retry-after — never the other's not-found", async () => {
    const first = await create();
    const owner = String(first.headers["x-ai-failover-provider"]);
    const id = JSON.parse(first.body).id as string;
    const before = other(owner).records.length;
    mockOf(owner).setFault({ type: "rateLimit", retryAfterMs: 2000 });
    const r = await create({ previous_response_id: id });
    mockOf(owner).clearFaults();
    expect(r.status).toBe(429);
    expect(r.headers["x-ai-failover-provider"]).toBe(owner);
    expect(r.headers["retry-after"]).toBe("2");
    expect(r.body).not.toContain("previous_response_not_found");
    expect(other(owner).records.length).toBe(before);
    // The owner is cooling down now: the gateway answers 429 itself, with the time left; still not the other.
    const again = await create({ previous_response_id: id });
    expect(again.status).toBe(429);
    expect(Number(again.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(other(owner).records.length).toBe(before);
    await sleep(2100); // the cooldown ends: the next tests see both resources
  });

  it("an id the gateway never saw (made on one resource directly) is found and then pinned", async () => {
    // Created at west without the gateway (another replica, or before a restart).
    const direct = await fetch(`${s.west.url}/openai/v1/responses`, {
      method: "POST", headers: { "api-key": WEST_KEY, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt4o-payg", input: "made elsewhere" }),
    });
    const id = (await direct.json()).id as string;
    for (let i = 0; i < 5; i++) {
      const r = await create({ previous_response_id: id, input: `follow-up ${i}` });
      expect(r.status, r.body).toBe(200);
      expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    }
    // East was asked at most once (the look-up), answered not found, and never again.
    const asked = s.east.records.filter((r) => r.body.includes(id));
    expect(asked.length).toBeLessThanOrEqual(1);
    for (const r of asked) expect(r.status).toBe(400);
    // Not counted against east: it still serves new conversations.
    const fresh = await Promise.all(Array.from({ length: 12 }, () => create()));
    expect(new Set(fresh.map((r) => r.headers["x-ai-failover-provider"]))).toEqual(new Set(NAMES));
  });

  it("a streamed create is recorded from its SSE events (chunk by chunk) and its follow-ups pinned", async () => {
    // Six conversations: were the streamed ids not recorded, each first follow-up would pick the
    // other resource half the time (and be told "not found" there) — all six right by chance: 1/64.
    for (let c = 0; c < 6; c++) {
      const first = await create({ stream: true });
      expect(first.status).toBe(200);
      const owner = String(first.headers["x-ai-failover-provider"]);
      const created = first.body.split("\n").find((l) => l.startsWith("data: ") && l.includes("response.created"))!;
      const id = JSON.parse(created.slice(6)).response.id as string;
      expect(mockOf(owner).owns(id)).toBe(true);
      for (let i = 0; i < 2; i++) {
        const r = await create({ previous_response_id: id, input: `more ${i}` });
        expect(r.status, r.body).toBe(200);
        expect(r.headers["x-ai-failover-provider"]).toBe(owner);
      }
      expect(other(owner).records.filter((r) => r.body.includes(id))).toEqual([]);
    }
  });

  it("store: false requests stay freely routable", async () => {
    const rs = await Promise.all(Array.from({ length: 16 }, () => create({ store: false })));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(new Set(rs.map((r) => r.headers["x-ai-failover-provider"]))).toEqual(new Set(NAMES));
  });

  it("files → batch → batch status all on the creating resource", async () => {
    const lines = [0, 1].map((i) => JSON.stringify({ custom_id: `r${i}`, method: "POST", url: "/chat/completions",
      body: { model: "gpt-4o", messages: [{ role: "user", content: `q${i}` }] } })).join("\n");
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob([lines], { type: "application/jsonl" }), "batch.jsonl");
    const up = await fetch(`${s.gateway.url}/openai/files?api-version=2024-10-21`, { method: "POST", body: form });
    expect(up.status).toBe(200);
    const owner = up.headers.get("x-ai-failover-provider")!;
    const file = (await up.json()).id as string;
    expect(mockOf(owner).owns(file)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const batch = await post(s.gateway.url, "/openai/batches?api-version=2024-10-21", { input_file_id: file, endpoint: "/chat/completions", completion_window: "24h" });
      expect(batch.status, batch.body).toBe(200);
      expect(batch.headers["x-ai-failover-provider"]).toBe(owner);
      const id = JSON.parse(batch.body).id as string;
      const status = await request(s.gateway.url, { path: `/openai/batches/${id}?api-version=2024-10-21` });
      expect(status.status).toBe(200);
      expect(status.headers["x-ai-failover-provider"]).toBe(owner);
    }
    const content = await request(s.gateway.url, { path: `/openai/files/${file}/content?api-version=2024-10-21` });
    expect(content.status).toBe(200);
    expect(content.body).toBe(lines);
    expect(other(owner).records.filter((r) => r.path.includes("/files") || r.path.includes("/batches"))).toEqual([]);
  });
});
