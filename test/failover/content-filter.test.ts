// Issue 9: a 400 content_filter (another deployment may run another filter policy) or
// context_length_exceeded (another may have a longer context) moves on to the next provider when
// retry.onContentFilter / onContextLength say so — default off: the client gets the 400 as it was.
// Never counted against the provider's health.
import { afterEach, describe, expect, it } from "vitest";
import { wireBodies } from "../../harness/providers/index.ts";
import { baseConfig, chatBody, rig, type HostRig } from "../../harness/rig/host-rig.ts";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

const CONTEXT_LENGTH = '{"error":{"message":"This model\'s maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}';

async function answer400(r: HostRig, body: string) {
  const f = r.request("/v1/chat/completions", chatBody());
  f.callOnResponseHeaders([[":status", "400"], ["content-type", "application/json"]], false);
  f.callOnResponseBody(Buffer.from(body), true);
  await new Promise((res) => setTimeout(res, 20));
  f.complete();
  return f;
}

describe("content_filter and context_length_exceeded", () => {
  let r: HostRig;
  let s: Stack;
  afterEach(async () => { await r?.close(); await s?.close(); });

  it("off by default: the provider's 400 reaches the client as it was", async () => {
    r = await rig(baseConfig());
    const f = await answer400(r, wireBodies.AZURE_400_CONTENT_FILTER);
    expect(f.status).toBe(400);
    expect(f.body).toBe(wireBodies.AZURE_400_CONTENT_FILTER);
    expect(r.callouts).toEqual([]);
  });

  it.each([
    ["onContentFilter", wireBodies.AZURE_400_CONTENT_FILTER, "content_filter"],
    ["onContextLength", CONTEXT_LENGTH, "context_length"],
  ])("%s: the next provider answers; the first keeps its health; the metric names why", async (flag, body, reason) => {
    r = await rig(baseConfig({ retry: { maxAttempts: 2, [flag]: true } }));
    const f = await answer400(r, body);
    expect(r.callouts.map((c) => c.cluster)).toEqual(["west"]);
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("west");
    const east = r.providerState("east")!;
    expect(east.healthy).toBe(true);
    expect(east.consecutiveFailures).toBe(0);
    expect(east.cooldownUntilMs).toBe(0n);
    expect(r.metrics().find((m) => m.name.includes("ai_failover_failovers_total") && m.name.includes(reason))?.value).toBe(1n);
  });

  it("a 400 of another kind is not moved on even with both flags", async () => {
    r = await rig(baseConfig({ retry: { maxAttempts: 2, onContentFilter: true, onContextLength: true } }));
    const body = '{"error":{"message":"Invalid value for temperature","type":"invalid_request_error","param":"temperature","code":null}}';
    const f = await answer400(r, body);
    expect(f.status).toBe(400);
    expect(r.callouts).toEqual([]);
  });

  it("through the gateway: a primary whose filter blocks the prompt; with onContentFilter the other serves it", async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false }, retry: { ...cfg.retry, onContentFilter: true } }) });
    s.east.setFault({ type: "contentFilter" });
    const r2 = await post(s.gateway.url, "/v1/chat/completions", chat("a prompt the primary's policy blocks"));
    expect(r2.status).toBe(200);
    expect(r2.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(r2.headers["x-ai-failover-attempts"]).toBe("2");
  });
});
