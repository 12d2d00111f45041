// Active health checks: one worker probes (lease), every provider with its own key on its
// models endpoint, thresholds, a rejected key is logged masked with the endpoint.
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, sleep, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

describe("active health checks", () => {
  let s: Stack | undefined;
  afterEach(async () => { await s?.close(); s = undefined; });

  const probes = (st: Stack, which: "east" | "west") =>
    st[which].records.filter((r) => r.method === "GET" && r.path === "/openai/models");

  it("probe each provider once per interval (one worker holds the lease), with its own key", async () => {
    s = await startStack({ workers: 3, edit: (cfg) => ({ ...cfg, healthCheck: { interval: "250ms", timeout: "200ms" } }) });
    await sleep(1600);
    for (const which of ["east", "west"] as const) {
      const n = probes(s, which).length;
      // ~6 rounds in 1.6 s; three workers probing independently would make ~18.
      expect(n).toBeGreaterThanOrEqual(4);
      expect(n).toBeLessThanOrEqual(8);
      expect(probes(s, which).every((r) => JSON.stringify(r.query).includes("2024-10-21"))).toBe(true);
    }
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("a key the provider rejects is logged masked with the endpoint, and the provider gets no traffic", async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { interval: "200ms", timeout: "150ms" } }),
      east: { keys: ["the-key-east-really-wants"] },
    });
    await sleep(500);
    const line = s.logs.find((l) => l.message.startsWith("ai-failover: health check aoai-east-ptu rejected with 401"));
    expect(line?.message).toContain("key ****vLs2");
    expect(line?.message).toContain("aoai-east.openai.azure.com/openai/models?api-version=2024-10-21");
    expect(s.logs.map((l) => l.message).join("\n")).not.toContain(EAST_KEY);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(r.headers["x-ai-failover-attempts"]).toBe("1");
    expect(s.east.records.filter((x) => x.method === "POST")).toHaveLength(0);
    // Every probe east saw carried east's configured key (the wrong one for it), never west's or an empty one.
    expect(probes(s, "east").every((x) => x.credentials.length === 1 && x.credentials[0].value === EAST_KEY)).toBe(true);
  });

  it("marks a provider unhealthy after unhealthyThreshold failed probes and healthy after healthyThreshold good ones", async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { interval: "150ms", timeout: "120ms", unhealthyThreshold: 2, healthyThreshold: 2 } }),
    });
    await sleep(400);
    s.east.setFault({ type: "status", status: 503, api: "models" });
    await sleep(700);
    expect(s.logs.some((l) => l.message.includes("provider aoai-east-ptu marked unhealthy: health_check_failed"))).toBe(true);
    const during = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(during.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(during.headers["x-ai-failover-attempts"]).toBe("1");
    s.east.clearFaults();
    await sleep(700);
    expect(s.logs.some((l) => l.message.includes("provider aoai-east-ptu is healthy again"))).toBe(true);
    const after = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(after.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  });
});
