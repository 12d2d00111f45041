// Issue 19, item 6: no limit on the first token of a stream. Azure sends a stream's response
// headers at once (then its prompt_filter_results frame and the role delta), so
// `firstByteTimeout` (Envoy's per-try timeout, ignored once the headers came:
// router/upstream_request.cc onPerTryTimeout) cannot leave a provider whose first content event
// takes 20 s. `firstTokenTimeout` holds such a stream's headers and buffers its preamble until
// the first token; past the limit the request fails over (the held answer is replaced by the next
// attempt's, a local reply), and nothing is ever taken back from a client.
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

let s: Stack | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

const EAST = "aoai-east-ptu";
const WEST = "aoai-west-payg";

const withLimits = (top: Record<string, unknown>) => (cfg: any) => ({ ...cfg, healthCheck: { enabled: false }, ...top });

function failovers(prom: string, provider: string, reason: string): number {
  const line = prom.split("\n").find((l) => l.startsWith("ai_failover_failovers_total{") && l.includes(`provider="${provider}"`) && l.includes(`reason="${reason}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** The text a chat stream carried (its content deltas, in order). */
function streamedText(body: string): string {
  let out = "";
  for (const line of body.split("\n")) {
    if (!line.startsWith("data: {")) continue;
    const d = JSON.parse(line.slice(6));
    for (const c of d.choices ?? []) if (typeof c.delta?.content === "string") out += c.delta.content;
  }
  return out;
}

const stream = { ...chat(), max_tokens: 20, stream: true };

describe("firstTokenTimeout: a stream's first token", () => {
  it("a first content event after 6 s with a 2 s firstTokenTimeout is served by the fallback in ≤ 4 s", async () => {
    s = await startStack({ edit: withLimits({ firstTokenTimeout: "2s" }) });
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", stream, { "x-mock-target": "aoai-east", "x-mock-first-token-ms": "6000" });
    const ms = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
    expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThanOrEqual(4000);
    // The fallback's whole answer, and nothing of the held one (its preamble never reached the client).
    expect(r.body).toContain("data: [DONE]");
    expect(streamedText(r.body).startsWith("aoai-west")).toBe(true);
    expect(r.body).not.toContain("aoai-east");
    expect(s.east.records).toHaveLength(1);
    expect(s.west.records).toHaveLength(1);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
    const prom = await s.prometheus();
    expect(failovers(prom, EAST, "first_token_timeout")).toBe(1);
    expect(failovers(prom, EAST, "first_byte_timeout")).toBe(0);
    expect(s.logs.some((l) => l.message.includes("no first token within 2000 ms, firstTokenTimeout"))).toBe(true);
    expect(s.logs.some((l) => l.message.startsWith(`ai-failover access: provider=${WEST}`) && l.message.endsWith(" failover=first_token_timeout"))).toBe(true);
  });

  it("a stream whose first token comes within the limit is not cut: held until then, it arrives whole", async () => {
    s = await startStack({ edit: withLimits({ firstTokenTimeout: "2s" }) });
    const r = await post(s.gateway.url, "/v1/chat/completions", stream, { "x-mock-target": "aoai-east", "x-mock-first-token-ms": "800" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(r.headers["x-ai-failover-attempts"]).toBe("1");
    // Its headers waited for the first token; its preamble (buffered meanwhile) came with them.
    expect(r.headersAtMs!).toBeGreaterThanOrEqual(700);
    expect(r.body).toContain("prompt_filter_results");
    expect(r.body).toContain('"role":"assistant"');
    expect(r.body).toContain("data: [DONE]");
    expect(r.body).not.toContain("upstream_stream_incomplete");
    const text = streamedText(r.body);
    expect(text.startsWith("aoai-east")).toBe(true);
    expect(text.split(" ")).toHaveLength(s.east.records[0].completionTokens!);
    expect(s.west.records).toHaveLength(0);
    expect(failovers(await s.prometheus(), EAST, "first_token_timeout")).toBe(0);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
  });

  it("a per-provider firstTokenTimeout of 0s turns the top-level one off for that provider", async () => {
    s = await startStack({
      edit: (cfg: any) => ({
        ...withLimits({ firstTokenTimeout: "1s" })(cfg),
        providers: cfg.providers.map((p: any) => (p.name === EAST ? { ...p, firstTokenTimeout: "0s" } : p)),
      }),
    });
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", stream, { "x-mock-target": "aoai-east", "x-mock-first-token-ms": "1800" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1700);
    // Not held: its headers came at once.
    expect(r.headersAtMs!).toBeLessThan(1000);
    expect(r.body).toContain("data: [DONE]");
    expect(s.west.records).toHaveLength(0);
  });

  it("when no other provider can take the request, the slow stream goes on after the limit and arrives whole", async () => {
    s = await startStack({ edit: (cfg: any) => ({ ...withLimits({ firstTokenTimeout: "1s" })(cfg), retry: { ...cfg.retry, maxAttempts: 1 } }) });
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", stream, { "x-mock-target": "aoai-east", "x-mock-first-token-ms": "2500" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2400);
    // Released at the limit (headers and the buffered preamble), the rest as it came.
    expect(r.headersAtMs!).toBeGreaterThanOrEqual(900);
    expect(r.headersAtMs!).toBeLessThan(2300);
    expect(r.body).toContain("prompt_filter_results");
    expect(r.body).toContain("data: [DONE]");
    expect(streamedText(r.body).split(" ")).toHaveLength(s.east.records[0].completionTokens!);
    expect(s.west.records).toHaveLength(0);
    expect(s.logs.some((l) => l.message.includes("sent no first token within 1000 ms (firstTokenTimeout) and no other provider can take the request"))).toBe(true);
  });

  it("a non-streaming request is never held (its headers come with the whole answer)", async () => {
    s = await startStack({ edit: withLimits({ firstTokenTimeout: "1s" }) });
    s.east.setLatency(1500);
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(s.west.records).toHaveLength(0);
  });
});
