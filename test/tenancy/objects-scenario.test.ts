// Issue 20 items 1–3: with consumers, the gateway is the only tenant boundary for stored objects
// (every consumer reaches the providers under the same gateway credential); the owner table
// records only ids an answer creates at their known positions; an unknown id is looked for at a
// bounded number of providers, and a not-found is remembered.
// Two Azure mocks of equal priority serve gpt-4o as a reasoning model (answers carry rs_… items);
// the mocks keep responses, conversations, files and batches per resource.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, post, request, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

const NAMES = ["aoai-east-ptu", "aoai-west-payg"];
const A = { name: "team-a", apiKey: "consumer-key-a-0123456789" };
const B = { name: "team-b", apiKey: "consumer-key-b-9876543210" };
const as = (c: { apiKey: string }, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${c.apiKey}`, ...extra });

describe("stored objects and consumers (issue 20)", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      workers: 2,
      east: { deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06", reasoning: true } } },
      west: { deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06", reasoning: true } } },
      edit: (cfg) => ({
        ...cfg,
        providers: cfg.providers.map((p: any) => ({ ...p, priority: 0, limits: undefined })),
        healthCheck: { enabled: false },
        consumers: [A, B],
        affinity: { ...(cfg.affinity ?? {}), providerHeader: true },
        retry: { ...(cfg.retry ?? {}), maxAttempts: 1 },
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const mockOf = (name: string) => (name === NAMES[0] ? s.east : s.west);
  const otherName = (name: string) => (name === NAMES[0] ? NAMES[1] : NAMES[0]);
  const expectNotFound = (r: { status: number; body: string }) => {
    expect(r.status, r.body).toBe(404);
    const e = JSON.parse(r.body).error;
    expect(e).toMatchObject({ type: "invalid_request_error", code: "not_found" });
    expect(typeof e.message).toBe("string");
  };
  const upload = async (who: { apiKey: string }, text: string) => {
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob([text], { type: "application/jsonl" }), "lines.jsonl");
    const r = await fetch(`${s.gateway.url}/v1/files`, { method: "POST", headers: as(who), body: form });
    return { status: r.status, headers: r.headers, body: await r.text() };
  };

  it("1: another consumer's response, conversation, file and batch answer 404; list calls are refused", async () => {
    // B's objects.
    const resp = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "B's secret" }, as(B));
    expect(resp.status, resp.body).toBe(200);
    const respId = JSON.parse(resp.body).id as string;
    const conv = await post(s.gateway.url, "/v1/conversations", { items: [{ type: "message", role: "user", content: "B's" }] }, as(B));
    expect(conv.status, conv.body).toBe(200);
    const convId = JSON.parse(conv.body).id as string;
    const line = { custom_id: "1", method: "POST", url: "/v1/chat/completions", body: { model: "gpt4o-ptu", messages: [{ role: "user", content: "hi" }] } };
    const file = await upload(B, JSON.stringify(line) + "\n");
    expect(file.status, file.body).toBe(200);
    const fileId = JSON.parse(file.body).id as string;
    const fileOwner = String(file.headers.get("x-ai-failover-provider"));
    const batch = await post(s.gateway.url, "/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" }, as(B));
    expect(batch.status, batch.body).toBe(200);
    const batchId = JSON.parse(batch.body).id as string;

    const owners = new Map<string, number>([[NAMES[0], s.east.records.length], [NAMES[1], s.west.records.length]]);
    // A, with B's ids: every read, delete and follow-up is the gateway's 404, and reaches no provider.
    expectNotFound(await request(s.gateway.url, { path: `/v1/responses/${respId}`, headers: as(A) }));
    expectNotFound(await request(s.gateway.url, { path: `/v1/responses/${respId}/input_items`, headers: as(A) }));
    expectNotFound(await request(s.gateway.url, { method: "DELETE", path: `/v1/responses/${respId}`, headers: as(A) }));
    expectNotFound(await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "more", previous_response_id: respId }, as(A)));
    expectNotFound(await request(s.gateway.url, { path: `/v1/conversations/${convId}/items`, headers: as(A) }));
    expectNotFound(await request(s.gateway.url, { method: "DELETE", path: `/v1/conversations/${convId}`, headers: as(A) }));
    expectNotFound(await request(s.gateway.url, { path: `/v1/files/${fileId}/content`, headers: as(A) }));
    // The provider pin does not open another consumer's object either.
    expectNotFound(await request(s.gateway.url, { path: `/v1/files/${fileId}/content`, headers: as(A, { "x-ai-failover-provider": fileOwner }) }));
    expectNotFound(await request(s.gateway.url, { path: `/v1/batches/${batchId}`, headers: as(A) }));
    // Listing would show every consumer's objects: refused with consumers (docs/request-handling.md, tenant model).
    for (const path of ["/v1/files", "/v1/batches"]) {
      const list = await request(s.gateway.url, { path, headers: as(A, { "x-ai-failover-provider": fileOwner }) });
      expect(list.status, list.body).toBe(403);
      expect(JSON.parse(list.body).error.code).toBe("list_not_allowed");
    }
    expect(s.east.records.length).toBe(owners.get(NAMES[0]));
    expect(s.west.records.length).toBe(owners.get(NAMES[1]));

    // B still reaches everything it made.
    expect((await request(s.gateway.url, { path: `/v1/responses/${respId}/input_items`, headers: as(B) })).status).toBe(200);
    expect((await request(s.gateway.url, { path: `/v1/conversations/${convId}/items`, headers: as(B) })).status).toBe(200);
    expect((await request(s.gateway.url, { path: `/v1/files/${fileId}/content`, headers: as(B) })).status).toBe(200);
    expect((await request(s.gateway.url, { path: `/v1/batches/${batchId}`, headers: as(B) })).status).toBe(200);
    expect((await request(s.gateway.url, { method: "DELETE", path: `/v1/responses/${respId}`, headers: as(B) })).status).toBe(200);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("1: a reference written with JSON escapes (key or value) is read as the provider reads it: another consumer's object is still 404", async () => {
    const resp = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "B's escaped secret" }, as(B));
    expect(resp.status, resp.body).toBe(200);
    const respId = JSON.parse(resp.body).id as string;
    const rs = (JSON.parse(resp.body).output as Array<{ type: string; id: string }>).find((o) => o.type === "reasoning")!.id;
    const conv = await post(s.gateway.url, "/v1/conversations", { items: [{ type: "message", role: "user", content: "B's" }] }, as(B));
    const convId = JSON.parse(conv.body).id as string;
    const esc = (id: string) => `\\u00${id.charCodeAt(0).toString(16)}${id.slice(1)}`;
    const before = s.east.records.length + s.west.records.length;
    // Each body, parsed as the provider parses it (JSON.parse here), names B's object.
    const bodies = [
      `{"model":"gpt-4o","input":"more","previous\\u005fresponse_id":"${respId}"}`,
      `{"model":"gpt-4o","input":"more","previous_response_id":"${esc(respId)}"}`,
      `{"model":"gpt-4o","input":"more","conversation":{"\\u0069d":"${convId}"}}`,
      `{"model":"gpt-4o","input":"more","conversation":"${esc(convId)}"}`,
      `{"model":"gpt-4o","input":[{"type":"reasoning","\\u0069d":"${rs}","summary":[]},{"role":"user","content":"go on"}]}`,
      `{"model":"gpt-4o","input":[{"type":"reasoning","id":"${esc(rs)}","summary":[]},{"role":"user","content":"go on"}]}`,
    ];
    for (const body of bodies) {
      const parsed = JSON.parse(body);
      expect(JSON.stringify(parsed)).toMatch(new RegExp(`${respId}|${convId}|${rs}`));
      const r = await request(s.gateway.url, { method: "POST", path: "/v1/responses", body, headers: as(A, { "content-type": "application/json" }) });
      expect(r.status, `${body}: ${r.body}`).toBe(404);
    }
    expect(s.east.records.length + s.west.records.length).toBe(before);
  });

  it("2: an id echoed in metadata (JSON-escaped or not) never re-points another's reasoning item", async () => {
    const first = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "think" }, as(B));
    expect(first.status, first.body).toBe(200);
    const owner = String(first.headers["x-ai-failover-provider"]);
    const out = JSON.parse(first.body).output as { id: string; type: string }[];
    const rs = out.find((o) => o.type === "reasoning")!.id;
    expect(rs).toMatch(/^rs_/);
    expect(mockOf(owner).owns(rs)).toBe(true);
    // A asks the other provider, with the victim's ids in metadata that the provider echoes back.
    const poison = `{"model":"gpt-4o","input":"hi","metadata":{"note":"\\u0072s_${rs.slice(3)}","plain":"${rs}","previous_response_id":"${rs}"}}`;
    for (let i = 0; i < 3; i++) {
      const r = await request(s.gateway.url, { method: "POST", path: "/v1/responses", body: poison,
        headers: as(A, { "content-type": "application/json", "x-ai-failover-provider": otherName(owner) }) });
      expect(r.status, r.body).toBe(200);
      expect(r.body).toContain(rs); // the provider did echo it
    }
    // B replays its reasoning item: it still reaches the resource that holds it.
    for (let i = 0; i < 4; i++) {
      const next = await post(s.gateway.url, "/v1/responses", {
        model: "gpt-4o",
        input: [{ type: "reasoning", id: rs, summary: [] }, { role: "user", content: `go on ${i}` }],
      }, as(B));
      expect(next.status, next.body).toBe(200);
      expect(next.headers["x-ai-failover-provider"]).toBe(owner);
    }
  });

  it("2: a previous_response_id inside metadata is no reference: the answering provider is never recorded as its owner", async () => {
    // The victim's response, made at east directly: the gateway's table does not know it.
    const direct = await post(s.east.url, "/openai/v1/responses", { model: "gpt4o-ptu", input: "made directly" }, { "api-key": EAST_KEY });
    expect(direct.status, direct.body).toBe(200);
    const victim = JSON.parse(direct.body).id as string;
    expect(s.east.owns(victim)).toBe(true);
    // The attacker names it only inside metadata, which every provider accepts and echoes.
    const by = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: "hi", metadata: { previous_response_id: victim } }, as(A));
      expect(r.status, r.body).toBe(200);
      by.add(String(r.headers["x-ai-failover-provider"]));
    }
    expect(by.has(NAMES[1])).toBe(true); // west answered some: it must not have become the owner
    // The victim's GET finds east (an unknown id: looked for, one provider per try, remembered).
    const statuses: number[] = [];
    let found: string | undefined;
    for (let i = 0; i < 5 && found === undefined; i++) {
      const g = await request(s.gateway.url, { path: `/v1/responses/${victim}`, headers: as(B) });
      statuses.push(g.status);
      if (g.status === 200) found = String(g.headers["x-ai-failover-provider"]);
    }
    expect(found, `statuses ${statuses}`).toBe(NAMES[0]);
  });

  it("3: an unknown previous_response_id asks at most retry.maxAttempts providers, then the remembered not-found", async () => {
    const unknown = `resp_${"ab".repeat(24)}`;
    const big = "x".repeat(200_000);
    const posts = () => s.east.records.concat(s.west.records).filter((r) => r.body.includes(unknown)).length;
    const before = posts();
    const one = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: big, previous_response_id: unknown }, as(A));
    expect(one.status).toBe(400);
    expect(one.body).toContain("previous_response_not_found");
    expect(posts() - before).toBe(1); // maxAttempts 1: one provider asked, not both
    const two = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: big, previous_response_id: unknown }, as(A));
    expect(two.status).toBe(400);
    expect(posts() - before).toBe(2); // the provider that said "not here" is not asked again
    for (let i = 0; i < 5; i++) {
      // Both said so on this worker or the other; once a worker knows, it answers itself.
      const r = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: big, previous_response_id: unknown }, as(A));
      expect([400, 404]).toContain(r.status);
    }
    // Two workers remember separately: at most one ask per provider per worker.
    expect(posts() - before).toBeLessThanOrEqual(4);
    const last = await post(s.gateway.url, "/v1/responses", { model: "gpt-4o", input: big, previous_response_id: unknown }, as(A));
    expectNotFound(last);
    expect(posts() - before).toBeLessThanOrEqual(4);
  });
});
