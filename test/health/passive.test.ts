// Passive health from live traffic: what a provider's answer does to its availability.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { chat, post, sleep, startStack, type Stack } from "../support/stack.ts";

describe("passive health", () => {
  let s: Stack;
  beforeEach(async () => {
    await s?.close();
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        // The cooldowns alone: no wait for a short Retry-After at the same provider (test/failover/same-provider-retry.test.ts).
        retry: { sameProviderRetries: 0 },
        cooldown: { rateLimitDefault: "500ms", authFailure: "5m", consecutiveFailures: 2, baseEjection: "5m", maxEjection: "10m" },
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const send = () => post(s.gateway.url, "/v1/chat/completions", chat());

  it("a 429 with retry-after cools the provider for exactly that long, then it gets traffic again", async () => {
    s.east.setFault({ type: "rateLimit", retryAfterMs: 700, count: 1 });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(first.headers["x-ai-failover-attempts"]).toBe("2");
    const during = await send();
    expect(during.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(during.headers["x-ai-failover-attempts"]).toBe("1");
    await sleep(800);
    const after = await send();
    expect(after.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  });

  it("insufficient_quota is a long ejection, not a short cooldown", async () => {
    // A plain 429 without retry headers would cool down for rateLimitDefault (500 ms) only.
    s.east.setFault({ type: "insufficientQuota", count: 1 });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    await sleep(800);
    const after = await send();
    expect(after.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(after.headers["x-ai-failover-attempts"]).toBe("1");
  });

  it("client errors pass through untouched and never count against the provider", async () => {
    s.east.setFault({ type: "contentFilter", count: 1 });
    const filtered = await send();
    expect(filtered.status).toBe(400);
    expect(JSON.parse(filtered.body).error.code).toBe("content_filter");
    expect(filtered.headers["x-ai-failover-attempts"]).toBe("1");
    const unknown = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), model: "gpt-4o" }, { "x-mock-status": "404" });
    expect(unknown.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    for (let k = 0; k < 3; k++) expect((await send()).headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(s.west.records.filter((r) => r.method === "POST")).toHaveLength(0);
  });

  it("consecutive 5xx eject the provider; traffic then goes straight to the next one", async () => {
    s.east.setFault({ type: "status", status: 500, count: 2 });
    for (let k = 0; k < 2; k++) {
      const r = await send();
      expect(r.status).toBe(200);
      expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    }
    const r = await send();
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(r.headers["x-ai-failover-attempts"]).toBe("1");
    expect(s.east.records.filter((x) => x.method === "POST")).toHaveLength(2);
  });

  it("a 401 moves the request to the next provider with that provider's own key and ejects the first", async () => {
    s.east.setKeys(["rotated-key-nobody-has"]);
    const r = await send();
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    const next = await send();
    expect(next.headers["x-ai-failover-attempts"]).toBe("1");
    const line = s.logs.find((l) => l.message.includes("rejected its credential"))!.message;
    expect(line).toContain("****vLs2");
    expect(line).toContain("aoai-east.openai.azure.com");
  });

  it("when every provider is cooling down the client gets 429 with the earliest retry-after", async () => {
    s.east.setFault({ type: "rateLimit", retryAfterMs: 3000, count: 1 });
    s.west.setFault({ type: "rateLimit", retryAfterMs: 5000, count: 1 });
    const first = await send();
    // Both attempts were rate limited: the last provider's 429 reaches the client as it was.
    expect(first.status).toBe(429);
    const r = await send();
    expect(r.status).toBe(429);
    const body = JSON.parse(r.body);
    expect(body.error.code).toBe("no_provider_available");
    expect(body.error.message).toContain("cooling down");
    expect(r.headers["retry-after"]).toBe("3");
  });
});

describe("a rejected key with health checks disabled", () => {
  let s: Stack;
  afterAll(async () => { await s?.close(); });

  it("is retried by live traffic once its authFailure ejection has run out (no probe will ever clear it)", async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false }, cooldown: { authFailure: "400ms" } }),
    });
    s.east.setFault({ type: "status", status: 401, count: 1 });
    const first = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(first.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect((await post(s.gateway.url, "/v1/chat/completions", chat())).headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    await sleep(1600); // the ejection ends; a tick lifts the credential mark
    const later = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(later.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  });
});
