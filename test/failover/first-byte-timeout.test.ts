// Issue 9, slow first tokens: reasoning models take minutes to their first token, so a failover
// timeout must not cut them; a provider that has not started answering at all should be left.
// `firstByteTimeout` (top level or per provider) bounds the time to the provider's response
// headers through Envoy's per-try timeout (x-envoy-upstream-rq-per-try-timeout-ms), which the
// router ignores once the response started (router/upstream_request.cc onPerTryTimeout); a
// provider's `upstreamTimeout` bounds its whole attempt, in-band (x-envoy-upstream-rq-timeout-ms)
// and as a failover (http_call timeout).
import { afterEach, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

let s: Stack | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

const EAST = "aoai-east-ptu";
const WEST = "aoai-west-payg";

function withProviders(cfg: any, edits: Record<string, Record<string, unknown>>, top: Record<string, unknown> = {}) {
  return {
    ...cfg, ...top,
    healthCheck: { enabled: false },
    providers: cfg.providers.map((p: any) => ({ ...p, ...(edits[p.name] ?? {}) })),
  };
}

function failovers(prom: string, provider: string, reason: string): number {
  const line = prom.split("\n").find((l) => l.startsWith("ai_failover_failovers_total{") && l.includes(`provider="${provider}"`) && l.includes(`reason="${reason}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("firstByteTimeout and per-provider upstreamTimeout", () => {
  it("a provider silent past its firstByteTimeout is left for the next: the client is served by it, the metric says why", async () => {
    s = await startStack({ edit: (cfg) => withProviders(cfg, { [EAST]: { firstByteTimeout: "300ms" } }) });
    s.east.setLatency(4000);
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 });
    const ms = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(3000);
    expect(s.east.records).toHaveLength(1);
    // The router consumed its headers: the provider sees only the expected timeout it derives.
    expect(s.east.records[0].headers["x-envoy-upstream-rq-per-try-timeout-ms"]).toBeUndefined();
    expect(s.east.records[0].headers["x-envoy-expected-rq-timeout-ms"]).toBe("300");
    const prom = await s.prometheus();
    expect(failovers(prom, EAST, "first_byte_timeout")).toBe(1);
    expect(failovers(prom, EAST, "upstream_error")).toBe(0);
    expect(s.logs.some((l) => l.message.includes("no answer within 300 ms, firstByteTimeout"))).toBe(true);
    expect(s.logs.some((l) => l.message.startsWith("ai-failover access: provider=aoai-west-payg") && l.message.endsWith(" failover=first_byte_timeout"))).toBe(true);
  });

  it("a stream whose headers came in time is not cut, however late its first token (a reasoning model)", async () => {
    s = await startStack({ edit: (cfg) => withProviders(cfg, {}, { firstByteTimeout: "300ms" }) });
    s.east.setStreamTiming({ firstChunkMs: 1500, chunkIntervalMs: 10 });
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5, stream: true });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(r.body).toContain("data: [DONE]");
    expect(r.body).toContain('"content"');
    expect(s.west.records).toHaveLength(0);
    expect(failovers(await s.prometheus(), EAST, "first_byte_timeout")).toBe(0);
  });

  it("a failover attempt takes the provider's own upstreamTimeout: a slow answer is served, not cut at the global one", async () => {
    const edit = (own: boolean) => (cfg: any) =>
      withProviders(cfg, own ? { [WEST]: { upstreamTimeout: "20s" } } : {}, { upstreamTimeout: "600ms", retry: { ...cfg.retry, maxAttempts: 2 } });
    for (const own of [false, true]) {
      s = await startStack({ edit: edit(own) });
      s.east.setFault({ type: "status", status: 500 });
      s.west.setLatency(1500);
      const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 });
      if (own) {
        expect(r.status).toBe(200);
        expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
      } else {
        // Control: the global 600 ms cuts the same answer (Envoy answers the call with a 504).
        expect(r.status).toBe(504);
      }
      await s.close();
      s = undefined;
    }
  });

  it("a failover attempt whose provider is silent past firstByteTimeout ends at that limit, not at the whole timeout", async () => {
    s = await startStack({
      edit: (cfg) => withProviders(cfg, { [WEST]: { firstByteTimeout: "300ms" } }, { upstreamTimeout: "20s", retry: { ...cfg.retry, maxAttempts: 2 } }),
    });
    s.east.setFault({ type: "status", status: 500 });
    s.west.setLatency(5000);
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 });
    expect(r.status).toBe(504);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(s.west.records).toHaveLength(1);
    expect(s.west.records[0].headers["x-envoy-upstream-rq-per-try-timeout-ms"]).toBeUndefined();
  });
});

// Issue 19, item 5: with the defaults (no firstByteTimeout) a silent provider held a streaming
// client for the route's whole timeout (120.9 s seen) before failover. A stream's headers come at
// once, so streaming requests get streaming.firstByteTimeout (30 s) by default; non-streaming
// ones, whose headers come only after the whole completion, keep the route's timeout.
describe("the default first-byte limit of streaming requests", () => {
  it("a silent provider under the defaults costs a streaming client ≤ 35 s; a non-streaming request carries no such limit", async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
    const plain = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 });
    expect(plain.status).toBe(200);
    expect(s.east.records.at(-1)!.headers["x-envoy-expected-rq-timeout-ms"]).not.toBe("30000");
    s.east.setLatency(45000);
    const t0 = performance.now();
    const r = await post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5, stream: true }, {}, 50000);
    const ms = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
    expect(r.body).toContain("data: [DONE]");
    expect(ms).toBeGreaterThanOrEqual(29500);
    expect(ms).toBeLessThanOrEqual(35000);
    expect(s.east.records.at(-1)!.headers["x-envoy-expected-rq-timeout-ms"]).toBe("30000");
    expect(failovers(await s.prometheus(), EAST, "first_byte_timeout")).toBe(1);
  }, 60000);
});
