// Envoys older than 1.35 reject allow_on_headers_stop_iteration: the filter then routes from
// the path and headers alone (mode: "headers"), and the gateway behaves as such an Envoy does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

describe("header-only mode (allow_on_headers_stop_iteration: false)", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, mode: "headers", healthCheck: { enabled: false } }),
      bootstrap: (yaml) => {
        const text = yaml.replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false");
        expect(text).toContain("allow_on_headers_stop_iteration: false");
        return text;
      },
    });
  });
  afterAll(async () => { await s?.close(); });

  it("routes an Azure deployment path and an x-ai-model request without reading the body", async () => {
    const a = await post(s.gateway.url, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", chat(), { "api-key": "client" });
    const b = await post(s.gateway.url, "/v1/chat/completions", chat(), { "x-ai-model": "gpt-4o" });
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
      expect(JSON.parse(r.body).choices[0].message.content.length).toBeGreaterThan(0);
    }
    const posts = s.east.records.filter((x) => x.method === "POST");
    expect(posts.map((x) => x.path)).toEqual(["/openai/deployments/gpt4o-ptu/chat/completions", "/openai/deployments/gpt4o-ptu/chat/completions"]);
    // The body went through untouched (no body rewrite in this mode).
    expect(JSON.parse(posts[1].body as string)).toEqual(chat());
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
  });

  it("without a model in path or header, says how to name one", async () => {
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toContain("x-ai-model");
  });

  it("still fails over in-request, resending the body it kept", async () => {
    s.east.setFault({ type: "status", status: 503, count: 1 });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("resend me"), { "x-ai-model": "gpt-4o" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    const resent = s.west.records.filter((x) => x.method === "POST").at(-1)!;
    expect(JSON.parse(resent.body as string).messages[0].content).toBe("resend me");
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});
