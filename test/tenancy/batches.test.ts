// Issue 20 item 6: batches bypassed budgets and model lists. A batch runs at the provider, out of
// the gateway's sight; its input file is uploaded through the gateway, so the file is read then
// (every line's model and token bound) and its verdict remembered by file id; creating the batch
// is checked against that verdict and charges its bound to the consumer's budget.
// Two Azure mocks (test/support/stack.ts); the mocks keep files and batches per resource.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";
import { chatRequest } from "../../harness/requests.ts";

const SMALL = { name: "small-budget", apiKey: "consumer-key-small-0123456789", tokensPerMinute: 300 };
const MINI = { name: "mini-only", apiKey: "consumer-key-mini-0123456789", models: ["gpt-4o-mini"] };
const ROOMY = { name: "roomy", apiKey: "consumer-key-roomy-0123456789", tokensPerMinute: 3000 };
const OTHER = { name: "other", apiKey: "consumer-key-other-0123456789" };
const as = (c: { apiKey: string }) => ({ authorization: `Bearer ${c.apiKey}` });

const line = (i: number, model: string, maxTokens?: number, content = "Summarise line " + i) => JSON.stringify({
  custom_id: `req-${i}`, method: "POST", url: "/v1/chat/completions",
  body: { model, messages: [{ role: "user", content }], ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}) },
});

describe("batches: verdict at upload, checked and charged at creation (issue 20 item 6)", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      workers: 2,
      edit: (cfg) => ({
        ...cfg,
        providers: cfg.providers.map((p: any) => ({ ...p, limits: undefined })),
        healthCheck: { enabled: false },
        consumers: [SMALL, MINI, ROOMY, OTHER],
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const upload = async (who: { apiKey: string }, text: string, purpose = "batch") => {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([text], { type: "application/jsonl" }), "lines.jsonl");
    const r = await fetch(`${s.gateway.url}/v1/files`, { method: "POST", headers: as(who), body: form });
    return { status: r.status, headers: r.headers, body: await r.text() };
  };
  const createBatch = (who: { apiKey: string }, fileId: string) =>
    post(s.gateway.url, "/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" }, as(who));
  const providerCalls = (op: string) =>
    [...s.east.records, ...s.west.records].filter((r) => r.method === "POST" && r.path.split("?")[0]!.endsWith(op)).length;
  const errorOf = (body: string) => JSON.parse(body).error as { code: string; message: string; type: string };

  it("a 300-token consumer's batch of 200 lines × max_tokens 4000 is refused; nothing reaches the batches endpoint", async () => {
    const text = Array.from({ length: 200 }, (_, i) => line(i, "gpt4o-ptu", 4000)).join("\n") + "\n";
    const batchesBefore = providerCalls("/batches");
    const up = await upload(SMALL, text);
    // The upload itself is fine (the file may be read); its verdict is kept.
    expect(up.status, up.body).toBe(200);
    const fileId = JSON.parse(up.body).id as string;
    const b = await createBatch(SMALL, fileId);
    expect(b.status, b.body).toBe(403);
    const e = errorOf(b.body);
    expect(e.code).toBe("batch_exceeds_budget");
    // Names the bound (≥ 200 × 4000) and the budget.
    const bound = Number(/(\d+) tokens/.exec(e.message)?.[1]);
    expect(bound, e.message).toBeGreaterThanOrEqual(800_000);
    expect(e.message).toContain("300");
    expect(providerCalls("/batches")).toBe(batchesBefore);
  });

  it("a consumer limited to gpt-4o-mini cannot upload a batch file of o3 lines (403 naming the line)", async () => {
    const filesBefore = providerCalls("/files");
    const text = [line(1, "gpt-4o-mini", 10), line(2, "o3", 10)].join("\n") + "\n";
    const up = await upload(MINI, text);
    expect(up.status, up.body).toBe(403);
    const e = errorOf(up.body);
    expect(e.code).toBe("model_not_allowed");
    expect(e.message).toContain("line 2");
    expect(e.message).toContain("o3");
    expect(providerCalls("/files")).toBe(filesBefore);
    // Every line o3: refused at line 1.
    const all = await upload(MINI, [line(1, "o3", 10), line(2, "o3", 10)].join("\n"));
    expect(all.status, all.body).toBe(403);
    expect(errorOf(all.body).message).toContain("line 1");
    expect(providerCalls("/files")).toBe(filesBefore);
    // Its own model: the upload and the batch go through (the form names no model of its own).
    const mine = await upload(MINI, [line(1, "gpt-4o-mini", 10), line(2, "gpt-4o-mini", 10)].join("\n"));
    expect(mine.status, mine.body).toBe(200);
    const b = await createBatch(MINI, JSON.parse(mine.body).id);
    expect(b.status, b.body).toBe(200);
  });

  it("a malformed line is refused with 400 invalid_batch_file naming the line", async () => {
    const filesBefore = providerCalls("/files");
    const up = await upload(ROOMY, [line(1, "gpt4o-ptu", 10), "{not json", line(3, "gpt4o-ptu", 10)].join("\r\n"));
    expect(up.status, up.body).toBe(400);
    const e = errorOf(up.body);
    expect(e.code).toBe("invalid_batch_file");
    expect(e.message).toContain("line 2");
    expect(providerCalls("/files")).toBe(filesBefore);
  });

  it("a small batch within budget is created and its bound is charged to the consumer's budget", async () => {
    // 4 lines × max_tokens 250: a bound a little over 1000 tokens, under ROOMY's 3000 a minute.
    const text = Array.from({ length: 4 }, (_, i) => line(i, "gpt4o-ptu", 250)).join("\n") + "\n";
    const up = await upload(ROOMY, text);
    expect(up.status, up.body).toBe(200);
    const fileId = JSON.parse(up.body).id as string;
    const batchesBefore = providerCalls("/batches");
    const b = await createBatch(ROOMY, fileId);
    expect(b.status, b.body).toBe(200);
    expect(JSON.parse(b.body).input_file_id).toBe(fileId);
    expect(providerCalls("/batches")).toBe(batchesBefore + 1);
    // The budget shows it: what is left is at most 3000 − 4 × 250.
    const left = Number(b.headers["x-ratelimit-remaining-tokens"]);
    expect(left).toBeLessThanOrEqual(2000);
    // Still charged after the create ended (not settled back to the create call's own cost):
    // the same file again needs more than is left now.
    const chat = await post(s.gateway.url, "/v1/chat/completions", chatRequest("hi", 5), as(ROOMY));
    expect(chat.status, chat.body).toBe(200);
    expect(Number(chat.headers["x-ratelimit-remaining-tokens"])).toBeLessThanOrEqual(left);
    const again = await createBatch(ROOMY, fileId);
    expect(again.status, again.body).toBe(200);
    // Fits twice in 3000: the third is refused as insufficient budget, naming bound and what is left.
    const third = await createBatch(ROOMY, fileId);
    expect(third.status, third.body).toBe(429);
    const e = errorOf(third.body);
    expect(e.code).toBe("insufficient_budget");
    expect(e.message).toMatch(/\d+ tokens/);
    expect(e.message).toContain("left");
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("a file the gateway did not check (unknown id, or uploaded for another purpose) is refused", async () => {
    const batchesBefore = providerCalls("/batches");
    const unknown = await createBatch(OTHER, "file-0123456789abcdef0123456789abcdef");
    expect(unknown.status, unknown.body).toBe(400);
    expect(errorOf(unknown.body).code).toBe("batch_file_not_checked");
    // Uploaded as purpose=fine-tune: never read as a batch file.
    const up = await upload(OTHER, line(1, "gpt4o-ptu", 10), "fine-tune");
    expect(up.status, up.body).toBe(200);
    const ft = await createBatch(OTHER, JSON.parse(up.body).id);
    expect(ft.status, ft.body).toBe(400);
    expect(errorOf(ft.body).code).toBe("batch_file_not_checked");
    expect(providerCalls("/batches")).toBe(batchesBefore);
  });

  it("another consumer's checked file stays 404 (tenant model)", async () => {
    const up = await upload(OTHER, line(1, "gpt4o-ptu", 10) + "\n");
    expect(up.status, up.body).toBe(200);
    const fileId = JSON.parse(up.body).id as string;
    const batchesBefore = providerCalls("/batches");
    const b = await createBatch(ROOMY, fileId);
    expect(b.status, b.body).toBe(404);
    expect(errorOf(b.body).code).toBe("not_found");
    expect(providerCalls("/batches")).toBe(batchesBefore);
    // Its owner creates the batch.
    const mine = await createBatch(OTHER, fileId);
    expect(mine.status, mine.body).toBe(200);
  });
});
