// Envoys older than 1.35 reject allow_on_headers_stop_iteration: the filter then routes from
// the path and headers alone (mode: "headers"), and the gateway behaves as such an Envoy does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider } from "../../harness/providers/index.ts";
import { bootstrapWith, chat, credentialAudit, EAST_KEY, post, ROOT, WEST_KEY } from "../support/stack.ts";

describe("header-only mode (allow_on_headers_stop_iteration: false)", () => {
  let east: MockProvider;
  let west: MockProvider;
  let gw: Gateway;
  beforeAll(async () => {
    east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } } });
    west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
    const yaml = bootstrapWith({ east: east.port, west: west.port }, (cfg) => ({ ...cfg, mode: "headers", healthCheck: { enabled: false } }))
      .replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false");
    expect(yaml).toContain("allow_on_headers_stop_iteration: false");
    gw = await startGateway({ bootstrapText: yaml, baseDir: ROOT, workers: 2 });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([east?.close(), west?.close()]);
  });

  it("routes an Azure deployment path and an x-ai-model request without reading the body", async () => {
    const a = await post(gw.url, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", chat(), { "api-key": "client" });
    const b = await post(gw.url, "/v1/chat/completions", chat(), { "x-ai-model": "gpt-4o" });
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
      expect(JSON.parse(r.body).choices[0].message.content.length).toBeGreaterThan(0);
    }
    const posts = east.records.filter((x) => x.method === "POST");
    expect(posts.map((x) => x.path)).toEqual(["/openai/deployments/gpt4o-ptu/chat/completions", "/openai/deployments/gpt4o-ptu/chat/completions"]);
    // The body went through untouched (no body rewrite in this mode).
    expect(JSON.parse(posts[1].body as string)).toEqual(chat());
    expect(credentialAudit(east, EAST_KEY)).toEqual([]);
  });

  it("without a model in path or header, says how to name one", async () => {
    const r = await post(gw.url, "/v1/chat/completions", chat());
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toContain("x-ai-model");
  });

  it("still fails over in-request, resending the body it kept", async () => {
    east.setFault({ type: "status", status: 503, count: 1 });
    const r = await post(gw.url, "/v1/chat/completions", chat("resend me"), { "x-ai-model": "gpt-4o" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    const resent = west.records.filter((x) => x.method === "POST").at(-1)!;
    expect(JSON.parse(resent.body as string).messages[0].content).toBe("resend me");
    expect(credentialAudit(west, WEST_KEY)).toEqual([]);
  });
});

describe("body mode without allow_on_headers_stop_iteration (a misconfiguration)", () => {
  it("is reported loudly in the log instead of hanging silently", async () => {
    const east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o" } } });
    const west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o" } } });
    const logs: string[] = [];
    const yaml = bootstrapWith({ east: east.port, west: west.port }, (cfg) => ({ ...cfg, healthCheck: { enabled: false } }))
      .replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false");
    const gw = await startGateway({ bootstrapText: yaml, baseDir: ROOT, workers: 1, logger: (r) => logs.push(r.message) });
    try {
      // Envoy holds the body until the filter continues, which body mode never does.
      const r = await post(gw.url, "/v1/chat/completions", chat(), {}, 5000).catch((e: Error) => e);
      expect(r).toBeInstanceOf(Error);
      expect(east.records.length + west.records.length).toBe(0);
      expect(logs.some((m) => m.includes("lacks allow_on_headers_stop_iteration: true") && m.includes("\"mode\": \"headers\""))).toBe(true);
    } finally {
      await gw.close();
      await Promise.all([east.close(), west.close()]);
    }
  }, 20000);
});
