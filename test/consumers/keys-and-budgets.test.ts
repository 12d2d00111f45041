// Gateway-issued keys: authentication by the gateway, budgets reserved at admission, the
// consumer's key never forwarded, the consumer's own rate-limit headers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type ClientResponse, type Stack } from "../support/stack.ts";

const TEAM_A = "team-a-key-0123456789";
const TEAM_B = "team-b-key-9876543210";
const BUDGET = 3000;

// On upstream Envoy and on Higress (the same module, read as ABI 0_2_0 and 0_2_100).
describe.each(["envoy", "higress"] as const)("consumers (%s)", (flavour) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      flavour,
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        consumers: [
          { name: "team-a", apiKey: TEAM_A, tokensPerMinute: BUDGET, requestsPerMinute: 1000 },
          { name: "team-b", apiKeyEnv: "TEAM_B_KEY", models: ["gpt-4o-mini"] },
        ],
      }),
      vmEnv: { TEAM_B_KEY: TEAM_B },
    });
  });
  afterAll(async () => { await s?.close(); });

  const upstreamCount = () => s.east.records.length + s.west.records.length;

  it("refuses a missing, unknown or provider key with a 401 from the gateway, before anything goes upstream", async () => {
    const before = upstreamCount();
    for (const headers of [{}, { authorization: "Bearer not-a-key" }, { "api-key": EAST_KEY }, { authorization: `Bearer ${WEST_KEY}` }]) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat(), headers as Record<string, string>);
      expect(r.status).toBe(401);
      const body = JSON.parse(r.body);
      expect(body.error.code).toBe("invalid_api_key");
      expect(body.error.message).toContain("ai-failover gateway");
      expect(r.headers["x-ai-failover-provider"]).toBeUndefined();
    }
    expect(upstreamCount()).toBe(before);
  });

  it("lets a consumer in with either header style and never forwards its key", async () => {
    const a = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${TEAM_A}` });
    const b = await post(s.gateway.url, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", chat(), { "api-key": TEAM_A });
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(Number(r.headers["x-ratelimit-remaining-tokens"])).toBeLessThan(BUDGET);
      expect(r.headers["x-ratelimit-remaining-requests"]).toBeDefined();
    }
    for (const p of [s.east, s.west]) expect(p.records.some((x) => JSON.stringify(x.headers).includes(TEAM_A))).toBe(false);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("refuses a model the consumer may not use", async () => {
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${TEAM_B}` });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error.code).toBe("model_not_allowed");
  });

  it("keeps 16 concurrent clients within the budget (never over by more than one request's estimate)", async () => {
    const east0 = s.east.records.length;
    const west0 = s.west.records.length;
    const body = { model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(400) }], max_tokens: 200 };
    const results: ClientResponse[] = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let k = 0; k < 4; k++) results.push(await post(s.gateway.url, "/v1/chat/completions", body, { authorization: `Bearer ${TEAM_A}` }));
    }));
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok.length + limited.length).toBe(results.length);
    expect(limited.length).toBeGreaterThan(0);
    for (const r of limited) {
      expect(JSON.parse(r.body).error.code).toBe("consumer_rate_limit_exceeded");
      expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(r.headers["x-ratelimit-remaining-tokens"]).toBeDefined();
    }
    // What the providers actually served for team-a in this window (prompt + completion).
    const served = [...s.east.records.slice(east0), ...s.west.records.slice(west0)].filter((x) => x.status === 200);
    expect(served.length).toBe(ok.length);
    // Every chat completion served in this run was team-a's (the earlier tests sent two).
    const all = [...s.east.records, ...s.west.records].filter((x) => x.status === 200 && x.method === "POST");
    const used = all.reduce((n, x) => n + (x.promptTokens ?? 0) + (x.completionTokens ?? 0), 0);
    const estimate = served[0].promptTokens! + 200;
    expect(used).toBeLessThanOrEqual(BUDGET + estimate);
    // … and the budget was actually used, not refused early: more than budget minus one estimate.
    expect(used).toBeGreaterThan(BUDGET - 2 * estimate);
  });
});
