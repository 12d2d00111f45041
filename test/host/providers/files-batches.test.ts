// Mock providers: files and batches live on one mock (one Azure resource / OpenAI organisation).
// A batch runs on the clock and leaves its output as a file on the same mock; another mock does
// not know the file.
import OpenAI, { AzureOpenAI, toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { apiError } from "../../support/sdk.ts";

const OA_KEY = "sk-files-a-0123456789";
const OB_KEY = "sk-files-b-9876543210";
const AZ_KEY = "azure-key-files-0001";
const API_VERSION = "2024-10-21";
let now = 5_000_000;
let a: MockProvider;
let b: MockProvider;
let az: MockProvider;
const timing = { batchValidatingMs: 1000, batchInProgressMs: 4000, batchFinalizingMs: 1000 };

beforeAll(async () => {
  const clock = () => now;
  a = await startMockProvider({ kind: "openai", name: "org-a", keys: [OA_KEY], models: { "gpt-4o": {}, "text-embedding-3-small": {} }, clock, timing });
  b = await startMockProvider({ kind: "openai", name: "org-b", keys: [OB_KEY], clock, timing });
  az = await startMockProvider({
    kind: "azure",
    name: "aoai-batch",
    keys: [AZ_KEY],
    deployments: { "gpt4o-batch": { model: "gpt-4o-2024-08-06" } },
    clock,
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
const azure = () => new AzureOpenAI({ endpoint: az.url, apiKey: AZ_KEY, apiVersion: API_VERSION, maxRetries: 0 });


const jsonl = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
const chatLine = (id: string, model: string, content = "Say hello", url = "/v1/chat/completions") => ({
  custom_id: id,
  method: "POST",
  url,
  body: { model, messages: [{ role: "user", content }], max_tokens: 50 },
});

describe("files", () => {
  it("upload (multipart), list, retrieve, content (binary-safe), delete", async () => {
    const bytes = Buffer.from([0x7b, 0x0d, 0x0a, 0x2d, 0x2d, 0x00, 0xff, 0x7d]);
    const f = await clientA().files.create({ file: await toFile(bytes, "data.bin"), purpose: "user_data" });
    expect(f).toMatchObject({ id: expect.stringMatching(/^file-[0-9a-f]{32}$/), object: "file", bytes: 8, filename: "data.bin", purpose: "user_data", status: "processed" });
    expect(a.records.at(-1)).toMatchObject({ method: "POST", path: "/v1/files", api: "files", op: "create", status: 200 });
    expect(a.records.at(-1)!.bodyBytes!.includes(bytes)).toBe(true); // the raw multipart body is recorded

    const list = await clientA().files.list();
    expect(list.data.map((x) => x.id)).toEqual([f.id]);
    expect(await clientA().files.retrieve(f.id)).toEqual(f);
    const content = await clientA().files.content(f.id);
    expect(Buffer.from(await content.arrayBuffer())).toEqual(bytes);

    expect(await clientA().files.delete(f.id)).toEqual({ id: f.id, object: "file", deleted: true });
    expect(await apiError(clientA().files.retrieve(f.id))).toEqual({
      status: 404,
      error: { message: `No such File object: ${f.id}`, type: "invalid_request_error", param: "id", code: null },
    });
  });

  it("another organisation does not know the file; no file field is a 400", async () => {
    const f = await clientA().files.create({ file: await toFile(Buffer.from("x"), "x.jsonl"), purpose: "batch" });
    expect((await apiError(clientB().files.retrieve(f.id))).status).toBe(404);
    expect((await apiError(clientB().files.content(f.id))).status).toBe(404);
    expect((await apiError(clientB().files.delete(f.id))).status).toBe(404);
    expect(a.owns(f.id)).toBe(true);
    expect(b.owns(f.id)).toBe(false);
    const r = await fetch(`${a.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${OA_KEY}`, "content-type": "application/json" }, body: "{}" });
    expect(r.status).toBe(400);
  });
});

describe("batches", () => {
  it("files → batch → validating → in_progress → finalizing → completed, output file on the same organisation", async () => {
    const input = jsonl([chatLine("req-1", "gpt-4o"), chatLine("req-2", "gpt-4o", "Hi"), chatLine("req-3", "gpt-5-unknown")]);
    const file = await clientA().files.create({ file: await toFile(Buffer.from(input), "in.jsonl"), purpose: "batch" });
    const batch = await clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch).toMatchObject({ id: expect.stringMatching(/^batch_[0-9a-f]{32}$/), object: "batch", status: "validating", input_file_id: file.id, output_file_id: null });

    const statuses: string[] = [];
    for (const step of [0, 1000, 4000, 1000]) {
      now += step;
      statuses.push((await clientA().batches.retrieve(batch.id)).status);
    }
    expect(statuses).toEqual(["validating", "in_progress", "finalizing", "completed"]);
    const done = await clientA().batches.retrieve(batch.id);
    expect(done.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    expect(done.output_file_id).toMatch(/^file-/);
    expect(done.error_file_id).toMatch(/^file-/);
    expect(a.owns(done.output_file_id!)).toBe(true);

    const outFile = await clientA().files.retrieve(done.output_file_id!);
    expect(outFile).toMatchObject({ purpose: "batch_output", filename: `${batch.id}_output.jsonl` });
    const out = (await (await clientA().files.content(done.output_file_id!)).text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(out.map((l) => l.custom_id)).toEqual(["req-1", "req-2"]);
    expect(out[0]).toMatchObject({ id: expect.stringMatching(/^batch_req_/), response: { status_code: 200, body: { object: "chat.completion", model: "gpt-4o" } }, error: null });
    expect(out[0].response.body.choices[0].message.content).toBe("org-a says hello from a mock model today");
    const errs = (await (await clientA().files.content(done.error_file_id!)).text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(errs).toEqual([
      expect.objectContaining({ custom_id: "req-3", response: expect.objectContaining({ status_code: 404, body: { error: expect.objectContaining({ code: "model_not_found" }) } }) }),
    ]);
    expect((await clientA().batches.list()).data.map((x) => x.id)).toEqual([batch.id]);
    // batches do not spend the real-time windows
    expect(a.stats().admitted).toBe(0);
  });

  it("a batch on another organisation with that file id fails: 404 No such File object (param input_file_id)", async () => {
    const file = await clientA().files.create({ file: await toFile(Buffer.from(jsonl([chatLine("r", "gpt-4o")])), "in.jsonl"), purpose: "batch" });
    const e = await apiError(clientB().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }));
    expect(e).toEqual({ status: 404, error: { message: `No such File object: ${file.id}`, type: "invalid_request_error", param: "input_file_id", code: null } });
    expect(b.stats().stored.batches).toBe(0);
    const batch = await clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect((await apiError(clientB().batches.retrieve(batch.id))).status).toBe(404);
    expect((await apiError(clientB().batches.cancel(batch.id))).status).toBe(404);
  });

  it("malformed input fails the batch after validating, with errors; bad endpoint or window is a 400", async () => {
    const file = await clientA().files.create({
      file: await toFile(Buffer.from('{"custom_id":"ok","method":"POST","url":"/v1/embeddings","body":{}}\nnot json\n'), "bad.jsonl"),
      purpose: "batch",
    });
    const batch = await clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    now += 1000;
    const failed = await clientA().batches.retrieve(batch.id);
    expect(failed.status).toBe("failed");
    expect(failed.errors!.data!.map((x) => [x.code, x.line])).toEqual([
      ["invalid_url", 1],
      ["invalid_json_line", 2],
    ]);
    expect(failed.output_file_id).toBeNull();

    expect((await apiError(clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/nope" as never, completion_window: "24h" }))).status).toBe(400);
    expect((await apiError(clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "1h" as never }))).status).toBe(400);
  });

  it("cancel: cancelling, then cancelled; no output file", async () => {
    const file = await clientA().files.create({ file: await toFile(Buffer.from(jsonl([chatLine("r", "gpt-4o")])), "in.jsonl"), purpose: "batch" });
    const batch = await clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const c = await clientA().batches.cancel(batch.id);
    expect(c.status).toBe("cancelling");
    now += 1;
    const after = await clientA().batches.retrieve(batch.id);
    expect(after).toMatchObject({ status: "cancelled", output_file_id: null });
    now += 100_000;
    expect((await clientA().batches.retrieve(batch.id)).status).toBe("cancelled");
    expect(a.storedIds().files).toEqual([file.id]);
  });

  it("Azure classic: /openai/files and /openai/batches with api-version; deployments named in the lines", async () => {
    const input = jsonl([chatLine("a-1", "gpt4o-batch", "Say hello", "/chat/completions"), chatLine("a-2", "missing-deployment", "Hi", "/chat/completions")]);
    const file = await azure().files.create({ file: await toFile(Buffer.from(input), "azure.jsonl"), purpose: "batch" });
    const batch = await azure().batches.create({ input_file_id: file.id, endpoint: "/chat/completions" as never, completion_window: "24h" });
    now += 6000;
    const done = await azure().batches.retrieve(batch.id);
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 2, completed: 1, failed: 1 } });
    const out = JSON.parse((await (await azure().files.content(done.output_file_id!)).text()).trim());
    expect(out.response.body).toMatchObject({ model: "gpt-4o-2024-08-06", prompt_filter_results: expect.any(Array) });
    const err = JSON.parse((await (await azure().files.content(done.error_file_id!)).text()).trim());
    expect(err.response).toMatchObject({ status_code: 404, body: { error: { code: "DeploymentNotFound" } } });

    expect(az.records.map((r) => [r.method, r.path, r.apiVersion, r.status])).toEqual([
      ["POST", "/openai/files", API_VERSION, 200],
      ["POST", "/openai/batches", API_VERSION, 200],
      ["GET", `/openai/batches/${batch.id}`, API_VERSION, 200],
      ["GET", `/openai/files/${done.output_file_id}/content`, API_VERSION, 200],
      ["GET", `/openai/files/${done.error_file_id}/content`, API_VERSION, 200],
    ]);
    expect(az.credentialsSeen()).toEqual([{ scheme: "api-key", value: AZ_KEY }]);

    // Azure v1 sees the same resource
    const v1 = new OpenAI({ baseURL: `${az.url}/openai/v1`, apiKey: AZ_KEY, maxRetries: 0 });
    expect((await v1.files.retrieve(file.id)).id).toBe(file.id);
    // the OpenAI organisation does not
    expect((await apiError(clientA().batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }))).status).toBe(404);
  });

  it("credentials are recorded per mock, and a wrong key is a 401 on files and batches", async () => {
    await clientA().files.list();
    await clientB().files.list();
    const wrong = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: "sk-not-the-key-0000", maxRetries: 0 });
    expect((await apiError(wrong.batches.list())).status).toBe(401);
    expect(a.credentialsSeen()).toEqual([
      { scheme: "bearer", value: OA_KEY },
      { scheme: "bearer", value: "sk-not-the-key-0000" },
    ]);
    expect(b.credentialsSeen()).toEqual([{ scheme: "bearer", value: OB_KEY }]);
  });

  it("faults apply to files and batches (scoped by api)", async () => {
    a.setFault({ type: "status", status: 500, api: "batches", count: 1 });
    expect((await apiError(clientA().batches.list())).status).toBe(500);
    expect((await clientA().batches.list()).data).toEqual([]);
    expect((await clientA().files.list()).data).toEqual([]);
  });
});
