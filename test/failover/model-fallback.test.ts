// Issue 19, item 8: model fallback chains, through the gateway. `fallbacks` are used when no
// provider of the requested model can serve it (cooling down, without capacity, failed) — after an
// answer (plan/decide.ts, FallbackModel) and at admission — and `contextWindowFallbacks` on a 400
// context_length_exceeded, once per step. The body's model is rewritten per attempt, the client
// sees which model answered (x-ai-failover-model and the provider's own `model`), usage counts
// the model that answered, and a consumer's models list applies to the fallback too.
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

const CONTEXT_400 = {
  error: { message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
    type: "invalid_request_error", param: "messages", code: "context_length_exceeded" },
};

const west = {
  deployments: {
    "gpt4o-payg": { model: "gpt-4o-2024-08-06" },
    "gpt4o-mini-payg": { model: "gpt-4o-mini-2024-07-18" },
    "gpt41-payg": { model: "gpt-4.1-2025-04-14" },
  },
};

function withFallbacks(cfg: any, top: Record<string, unknown>) {
  return {
    ...cfg, ...top,
    healthCheck: { enabled: false },
    providers: cfg.providers.map((p: any) => p.name !== "aoai-west-payg" ? p
      : { ...p, deployments: { "gpt-4o": "gpt4o-payg", "gpt-4o-mini": "gpt4o-mini-payg", "gpt-4.1": "gpt41-payg" } }),
  };
}

const posts = (s: Stack, who: "east" | "west") => s[who].records.filter((r) => r.method === "POST");

describe("model fallbacks", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it("a gpt-4o request with every gpt-4o provider cooling is answered by gpt-4o-mini, the header naming it", async () => {
    s = await startStack({ west, edit: (cfg) => withFallbacks(cfg, { fallbacks: { "gpt-4o": ["gpt-4o-mini"] } }) });
    s.east.setFault({ type: "rateLimit", retryAfterMs: 30000, count: 1 });
    s.west.setFault({ type: "rateLimit", retryAfterMs: 30000, count: 1, deployment: "gpt4o-payg" });
    // After the answers: east 429, west's gpt-4o 429, then gpt-4o-mini at west.
    const first = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(first.status).toBe(200);
    expect(first.headers["x-ai-failover-model"]).toBe("gpt-4o-mini");
    expect(first.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(JSON.parse(first.body).model).toBe("gpt-4o-mini-2024-07-18");
    // At admission: both gpt-4o providers are cooling, the request goes straight to the fallback.
    const second = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(second.status).toBe(200);
    expect(second.headers["x-ai-failover-model"]).toBe("gpt-4o-mini");
    expect(second.headers["x-ai-failover-attempts"]).toBe("1");
    expect(posts(s, "west").map((r) => r.path.split("?")[0])).toEqual([
      "/openai/deployments/gpt4o-payg/chat/completions",
      "/openai/deployments/gpt4o-mini-payg/chat/completions",
      "/openai/deployments/gpt4o-mini-payg/chat/completions",
    ]);
    expect(posts(s, "east")).toHaveLength(1);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
    // Usage and the access line count the model that answered.
    const access = s.logs.map((l) => l.message).filter((m) => m.startsWith("ai-failover access:"));
    expect(access.every((m) => m.includes(" model=gpt-4o-mini "))).toBe(true);
    // Why each earlier attempt was left: east rate limited, west's gpt-4o left for the fallback model.
    expect(access[0]).toContain("failover=rate_limited,fallback_model");
  });

  it("a consumer whose models list lacks the fallback gets no fallback", async () => {
    s = await startStack({
      west,
      edit: (cfg) => withFallbacks(cfg, {
        fallbacks: { "gpt-4o": ["gpt-4o-mini"] },
        consumers: [{ name: "team-4o", apiKey: "team-4o-key-0123456789", models: ["gpt-4o"] }],
      }),
    });
    s.east.setFault({ type: "rateLimit", retryAfterMs: 30000, count: 1 });
    s.west.setFault({ type: "rateLimit", retryAfterMs: 30000, count: 1, deployment: "gpt4o-payg" });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: "Bearer team-4o-key-0123456789" });
    expect(r.status).toBe(429);
    expect(posts(s, "west").map((x) => x.path)).not.toContain("/openai/deployments/gpt4o-mini-payg/chat/completions?api-version=2024-10-21");
  });

  it("a context-length 400 goes to the larger model exactly once", async () => {
    s = await startStack({ west, edit: (cfg) => withFallbacks(cfg, { contextWindowFallbacks: { "gpt-4o": "gpt-4.1" } }) });
    s.east.setFault({ type: "status", status: 400, body: CONTEXT_400, count: 1 });
    const ok = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(ok.status).toBe(200);
    expect(ok.headers["x-ai-failover-model"]).toBe("gpt-4.1");
    expect(JSON.parse(ok.body).model).toBe("gpt-4.1-2025-04-14");
    expect(posts(s, "west").map((r) => r.path.split("?")[0])).toEqual(["/openai/deployments/gpt41-payg/chat/completions"]);
    // The larger model is too small as well: its 400 reaches the client; nothing is tried a third time.
    s.east.setFault({ type: "status", status: 400, body: CONTEXT_400, count: 1 });
    s.west.setFault({ type: "status", status: 400, body: CONTEXT_400, count: 1, deployment: "gpt41-payg" });
    const too = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(too.status).toBe(400);
    expect(JSON.parse(too.body).error.code).toBe("context_length_exceeded");
    expect(posts(s, "east")).toHaveLength(2);
    expect(posts(s, "west").map((r) => r.path.split("?")[0])).toEqual([
      "/openai/deployments/gpt41-payg/chat/completions", "/openai/deployments/gpt41-payg/chat/completions",
    ]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});
