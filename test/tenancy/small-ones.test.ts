// Issue 20 item 8, through the gateway: `x-ratelimit-remaining-tokens: .` is no number (it was
// read as 0 and took the provider out); a consumer's models list of 30,000 entries validates at
// once (the uniqueness check was quadratic: 8 s); `?Api-Version=` in another case (or
// percent-encoded) never reaches Azure beside the provider's own api-version. (`"store" : false`
// spaced and nested is read right since lib/json_scan.ts reads top-level members only: covered by
// test/unit/scanners.property.test.ts and test/streaming/spaced-json.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, post, request, startStack, type Stack } from "../support/stack.ts";

const OK = { id: "chatcmpl-1", object: "chat.completion", model: "gpt-4o", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };
const KEY = "team-many-models-key-01";
const MODELS = 30_000;
const FREE = "team-free-key-0123456789";

describe("smaller tenancy findings", () => {
  let s: Stack;
  let startMs = 0;
  beforeAll(async () => {
    const t0 = performance.now();
    s = await startStack({
      edit: (cfg) => ({
        ...cfg, healthCheck: { enabled: false },
        consumers: [{ name: "many", apiKey: KEY, models: [...Array.from({ length: MODELS }, (_, i) => `model-${i}`), "gpt-4o"] }, { name: "free", apiKey: FREE }],
      }),
    });
    startMs = performance.now() - t0;
  }, 120_000);
  afterAll(async () => { await s?.close(); });

  it("a models list of 30,000 entries is validated at once, and holds", async () => {
    expect(startMs).toBeLessThan(6_000); // each worker VM validated for 8 s before
    const ok = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${KEY}` });
    expect(ok.status).toBe(200);
    const no = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), model: "o3" }, { authorization: `Bearer ${KEY}` });
    expect(no.status).toBe(403);
  });

  it("x-ratelimit-remaining-tokens: \".\" is no number: the provider stays in", async () => {
    s.east.setFault({ type: "status", status: 200, body: OK, headers: { "x-ratelimit-remaining-tokens": ".", "x-ratelimit-remaining-requests": "." }, count: 2 });
    for (let i = 0; i < 3; i++) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { authorization: `Bearer ${KEY}` });
      expect(r.status).toBe(200);
      expect(r.headers["x-ai-failover-provider"], `request ${i}`).toBe("aoai-east-ptu");
    }
  });

  it("api-version in another case or percent-encoded never reaches Azure beside the provider's own", async () => {
    for (const q of ["Api-Version=2099-01-01", "API-VERSION=2099-01-01", "api%2Dversion=2099-01-01", "api-version=2099-01-01"]) {
      const before = s.east.records.length + s.west.records.length;
      // A chat request on the Azure path (list calls are refused to consumers: the tenant model).
      const r = await request(s.gateway.url, {
        method: "POST", path: `/openai/deployments/gpt-4o/chat/completions?${q}&limit=2`, body: JSON.stringify(chat()),
        headers: { authorization: `Bearer ${FREE}`, "content-type": "application/json" },
      });
      expect(r.status, r.body).toBeLessThan(400);
      expect(s.east.records.length + s.west.records.length).toBe(before + 1);
      const rec = [...s.east.records, ...s.west.records].sort((a, b) => a.seq - b.seq).at(-1)!;
      expect(rec.method).toBe("POST");
      const versions = Object.keys(rec.query).filter((k) => decodeURIComponent(k).toLowerCase() === "api-version");
      expect(versions, q).toEqual(["api-version"]);
      expect(rec.query["api-version"]).toBe("2024-10-21");
      expect(rec.query.limit).toBe("2");
    }
  });
});
