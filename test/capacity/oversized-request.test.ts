// Capacity: a request that could never fit any provider's token window is refused by the gateway
// itself, before anything goes upstream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

describe("a request larger than any provider's window", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
  });
  afterAll(async () => { await s?.close(); });

  it("gets 429 saying so, and nothing goes upstream", async () => {
    const before = s.east.records.length + s.west.records.length;
    // local.yaml: PTU 10,000 and PAYG 100,000 tokens per minute.
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 200_000 });
    expect(r.status).toBe(429);
    const body = JSON.parse(r.body);
    expect(body.error.code).toBe("request_exceeds_capacity");
    expect(body.error.message).toContain("larger than any provider's token window");
    expect(s.east.records.length + s.west.records.length).toBe(before);
    // The same request with a sane max_tokens goes through.
    expect((await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 20_000 })).status).toBe(200);
  });
});
