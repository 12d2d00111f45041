// retry.maxHeldBodyBytes: the request bodies one worker keeps for failover, all requests together
// (assembly/plugin/request/held_bodies.ts). A request whose body would go beyond it is still served — in-band,
// on the provider chosen first — but not failed over: logged once and counted in
// ai_failover_failover_off_total{reason="held_body_limit"}. Under it, failover works.
import { afterEach, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

const LIMIT = 200_000;
/** A chat request whose body is about `bytes` long. */
const big = (bytes: number, tag: string) => ({ model: "gpt-4o", messages: [{ role: "user", content: tag + " " + "x".repeat(bytes) }], max_tokens: 50 });
// 503 (retry.onStatus): no cooldown of the first provider between the requests.
const east503 = { "x-mock-target": "aoai-east", "x-mock-status": "503" };

function config(mode: string) {
  return (c: any) => ({
    ...c,
    mode,
    healthCheck: { enabled: false },
    retry: { ...(c.retry ?? {}), maxHeldBodyBytes: LIMIT, sameProviderRetries: 0 },
    cooldown: { ...(c.cooldown ?? {}), consecutiveFailures: 1000 },
    // Room for ~100 KB prompts in both windows.
    providers: c.providers.map((p: any) => ({ ...p, limits: { tokensPerMinute: 10_000_000, requestsPerMinute: 10_000 } })),
  });
}

const offMetric = async (s: Stack) => {
  const m = (await s.prometheus()).match(/^ai_failover_failover_off_total\{reason="held_body_limit"\} (\d+)/m);
  return m ? Number(m[1]) : 0;
};
const offLogs = (s: Stack) => s.logs.filter((l) => l.message.includes("not kept for failover"));

describe("retry.maxHeldBodyBytes", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it.each(["body", "headers"])("a body over it alone: served by the first provider's answer, not failed over (%s mode); under it: failed over", async (mode) => {
    s = await startStack({ edit: config(mode), workers: 1 });
    const h = { ...east503, "x-ai-model": "gpt-4o" };
    const under = await post(s.gateway.url, "/v1/chat/completions", big(100_000, "under"), h);
    expect(under.status).toBe(200);
    expect(under.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(offLogs(s)).toEqual([]);
    expect(await offMetric(s)).toBe(0);

    const westBefore = s.west.records.length;
    const over = await post(s.gateway.url, "/v1/chat/completions", big(300_000, "over"), h);
    // The client gets the first provider's own answer: the request was served, not refused.
    expect(over.status).toBe(503);
    expect(s.east.records.at(-1)!.body.length).toBeGreaterThan(300_000);
    expect(s.west.records.length).toBe(westBefore);
    expect(offLogs(s)).toHaveLength(1);
    expect(offLogs(s)[0]!.message).toContain("retry.maxHeldBodyBytes 200000");
    expect(await offMetric(s)).toBe(1);

    // The bytes of both requests were given back: the next request under it fails over again.
    const again = await post(s.gateway.url, "/v1/chat/completions", big(100_000, "again"), h);
    expect(again.status).toBe(200);
    expect(again.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("a total of the worker: a body that fits alone goes without failover while another one is held", async () => {
    s = await startStack({ edit: config("body"), workers: 1 });
    // 150 KB held at a slow first provider (1.5 s before it answers, then 200)…
    const slow = post(s.gateway.url, "/v1/chat/completions", big(150_000, "slow"), { "x-mock-target": "aoai-east", "x-mock-latency-ms": "1500" });
    const t0 = Date.now();
    while (s.east.records.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(s.east.records.length).toBe(1);
    // …so a second 150 KB body does not fit (300 KB > 200 KB): its 503 reaches the client.
    const second = await post(s.gateway.url, "/v1/chat/completions", big(150_000, "second"), east503);
    expect(second.status).toBe(503);
    expect(s.west.records.length).toBe(0);
    expect(offLogs(s)).toHaveLength(1);
    expect((await slow).status).toBe(200);
    // Once the first finished, the same request fails over.
    const third = await post(s.gateway.url, "/v1/chat/completions", big(150_000, "third"), east503);
    expect(third.status).toBe(200);
    expect(third.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(await offMetric(s)).toBe(1);
  });
});
