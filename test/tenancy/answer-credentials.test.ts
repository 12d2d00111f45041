// Issue 20 item 7: a provider's credential never reaches the client through an answer header,
// whatever its name (`api_key`, `x-api-key`, `ocp-apim-subscription-key`, both spellings of
// every credential header a client may not send) or wherever its value holds a configured
// secret — in-band and in the failover attempt's reply.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, EAST_KEY, post, startStack, WEST_KEY, type ClientResponse, type Stack } from "../support/stack.ts";

const OK = { id: "chatcmpl-1", object: "chat.completion", model: "gpt-4o", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };

const echoing = (key: string) => ({
  api_key: key, "x-api-key": key, x_api_key: key, "ocp-apim-subscription-key": key, ocp_apim_subscription_key: key,
  "proxy-authorization": `Basic ${key}`, "x-goog-api-key": key, "subscription-key": key, "x-functions-key": key,
  "x-debug-upstream": `sent api-key=${key}`, "x-request-id": `req-${key}`, "apim-request-id": "apim-123", "x-kept": "plain value",
});

function noKeyIn(r: ClientResponse): void {
  const all = JSON.stringify(r.headers) + r.body;
  expect(all).not.toContain(EAST_KEY);
  expect(all).not.toContain(WEST_KEY);
  for (const name of ["api_key", "x-api-key", "x_api_key", "ocp-apim-subscription-key", "ocp_apim_subscription_key", "proxy-authorization",
    "x-goog-api-key", "subscription-key", "x-functions-key", "x-debug-upstream"]) expect(r.headers[name], name).toBeUndefined();
}

describe("provider credentials in answer headers", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
  });
  afterAll(async () => { await s?.close(); });

  it("in-band: no credential-named header and no header holding a key reaches the client; others pass", async () => {
    s.east.setFault({ type: "status", status: 200, body: OK, headers: echoing(EAST_KEY), count: 1 });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    s.east.clearFaults?.();
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    noKeyIn(r);
    expect(r.headers["x-kept"]).toBe("plain value");
  });

  it("the failover attempt's reply: an allowed header whose value holds the key is dropped", async () => {
    s.west.setFault({ type: "status", status: 200, body: OK, headers: echoing(WEST_KEY), count: 1 });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { "x-mock-target": "aoai-east", "x-mock-status": "503" });
    s.west.clearFaults?.();
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    noKeyIn(r);
    expect(r.headers["apim-request-id"]).toBe("apim-123");
  });
});
