// Request policy answered by the gateway itself, before anything goes upstream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

describe("request policy", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false }, maxRequestBodyBytes: 4096, streaming: { allow: false } }) });
  });
  afterAll(async () => { await s?.close(); });
  const upstream = () => s.east.records.length + s.west.records.length;

  it("answers 413 in OpenAI's shape for a body over maxRequestBodyBytes", async () => {
    const before = upstream();
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("y".repeat(8000)));
    expect(r.status).toBe(413);
    const body = JSON.parse(r.body);
    expect(body.error.code).toBe("request_too_large");
    expect(body.error.message).toContain("4096");
    expect(upstream()).toBe(before);
  });

  it("refuses stream: true with a clear 400 when streaming is not allowed", async () => {
    const before = upstream();
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), stream: true });
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body);
    expect(body.error.code).toBe("streaming_not_allowed");
    expect(body.error.message).toContain("streaming.allow");
    expect(upstream()).toBe(before);
  });

  it("answers 400 for a body that is not JSON, 404 for an unknown model and an unknown API", async () => {
    const bad = await fetch(`${s.gateway.url}/v1/chat/completions`, { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe("invalid_json");
    const unknownModel = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), model: "no-such-model" });
    expect(unknownModel.status).toBe(404);
    expect(JSON.parse(unknownModel.body).error.code).toBe("model_not_found");
    const unknownApi = await post(s.gateway.url, "/v1/fine_tuning/jobs", {});
    expect(unknownApi.status).toBe(404);
    expect(JSON.parse(unknownApi.body).error.code).toBe("unknown_api");
  });

  it("lists the configured models at /v1/models without calling a provider", async () => {
    const before = upstream();
    const r = await fetch(`${s.gateway.url}/v1/models`);
    expect(r.status).toBe(200);
    expect((await r.json()).data.map((m: { id: string }) => m.id)).toEqual(["gpt-4o"]);
    expect(upstream()).toBe(before);
  });
});
