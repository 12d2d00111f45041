// Issue 9: Azure counts quota per deployment. Two deployments on one resource (gpt-4o and
// gpt-4o-mini, each its own window in the mock as in Azure): exhausting gpt-4o's window leaves
// gpt-4o-mini on the same resource — gpt-4o goes to the pay-as-you-go resource, and no client
// sees a 429. Three ways the gateway knows gpt-4o's window is full, each per deployment:
// its own 429 (a cooldown of that deployment only), its x-ratelimit-remaining-* headers (learned
// for that deployment, never for the resource), and limits configured on the deployment.
import { afterEach, describe, expect, it } from "vitest";
import { post, startStack, type Stack } from "../support/stack.ts";

let s: Stack | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

type Deployments = Record<string, unknown>;

async function twoDeployments(opts: { eastRpm: number; rateLimitHeaders?: boolean; deployments?: Deployments; eastTpm?: number }) {
  s = await startStack({
    east: {
      deployments: {
        "gpt4o-ptu": { model: "gpt-4o-2024-08-06", requestsPerMinute: opts.eastRpm, ...(opts.eastTpm ? { tokensPerMinute: opts.eastTpm } : {}) },
        mini: { model: "gpt-4o-mini-2024-07-18", requestsPerMinute: 1000 },
      },
      windowMs: 60_000,
      rateLimitHeaders: opts.rateLimitHeaders ?? true,
    },
    edit: (cfg) => ({
      ...cfg,
      providers: [
        { ...cfg.providers[0], deployments: opts.deployments ?? { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini" }, limits: undefined },
        { ...cfg.providers[1], limits: undefined },
      ],
      healthCheck: { enabled: false },
    }),
  });
  return s;
}

const ask = (model: string, i: number, maxTokens = 8) =>
  post(s!.gateway.url, "/v1/chat/completions", { model, messages: [{ role: "user", content: `q${i}` }], max_tokens: maxTokens });

async function alternate(rounds: number, maxTokens = 8) {
  const statuses: number[] = [];
  const servedBy: Record<string, string[]> = { "gpt-4o": [], "gpt-4o-mini": [] };
  for (let i = 0; i < rounds; i++) {
    for (const model of ["gpt-4o", "gpt-4o-mini"]) {
      const r = await ask(model, i, maxTokens);
      statuses.push(r.status);
      servedBy[model]!.push(String(r.headers["x-ai-failover-provider"]));
    }
  }
  return { statuses, servedBy };
}

describe("per-deployment capacity", () => {
  it("a 429 for gpt-4o cools down gpt-4o only: gpt-4o-mini stays on the same resource, 0 client 429s", async () => {
    // A server that sends no x-ratelimit-remaining-*: the deployment's own 429 is the only signal.
    await twoDeployments({ eastRpm: 3, rateLimitHeaders: false });
    const { statuses, servedBy } = await alternate(12);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    // gpt-4o: the PTU until its window ran out (3 requests), then pay-as-you-go.
    expect(servedBy["gpt-4o"]!.slice(0, 3)).toEqual(Array(3).fill("aoai-east-ptu"));
    expect(servedBy["gpt-4o"]!.slice(4)).toEqual(Array(8).fill("aoai-west-payg"));
    // gpt-4o-mini: always the PTU resource (west does not serve it), never a 429.
    expect(servedBy["gpt-4o-mini"]).toEqual(Array(12).fill("aoai-east-ptu"));
    // The PTU answered exactly one 429 (for gpt-4o); after it the gateway stopped sending gpt-4o there.
    const ptu429 = s!.east.records.filter((r) => r.status === 429);
    expect(ptu429.map((r) => r.deployment)).toEqual(["gpt4o-ptu"]);
    expect(s!.logs.some((l) => l.message.includes("deployment gpt4o-ptu rate limited") && l.message.includes("its other deployments stay in service"))).toBe(true);
  });

  it("x-ratelimit-remaining-* are learned per deployment: gpt-4o leaves the PTU before any 429, gpt-4o-mini is not held back by gpt-4o's report", async () => {
    await twoDeployments({ eastRpm: 3 });
    const { statuses, servedBy } = await alternate(12);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    // The third answer said remaining-requests 0 for gpt4o-ptu: the fourth gpt-4o goes to west at once.
    expect(servedBy["gpt-4o"]).toEqual([...Array(3).fill("aoai-east-ptu"), ...Array(9).fill("aoai-west-payg")]);
    expect(servedBy["gpt-4o-mini"]).toEqual(Array(12).fill("aoai-east-ptu"));
    expect(s!.east.records.filter((r) => r.status === 429)).toEqual([]);
  });

  it("limits on a deployment: its window is admitted within them, the resource's other deployment keeps serving, 0 429s anywhere", async () => {
    // The mock's gpt-4o window is 2,000 TPM; the gateway is told so on the deployment and sends no
    // more, even without the provider's headers to go on.
    await twoDeployments({
      eastRpm: 1000, eastTpm: 2000, rateLimitHeaders: false,
      deployments: { "gpt-4o": { name: "gpt4o-ptu", limits: { tokensPerMinute: 2000 } }, "gpt-4o-mini": "mini" },
    });
    // ~110 tokens reserved a request: the deployment's window holds 18 of them.
    const { statuses, servedBy } = await alternate(40, 100);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    const eastGpt4o = s!.east.records.filter((r) => r.deployment === "gpt4o-ptu");
    expect(eastGpt4o.length).toBeGreaterThan(5);
    expect(eastGpt4o.length).toBeLessThan(20);
    const reserved = eastGpt4o.reduce((n, r) => n + (r.reservedTokens ?? 0), 0);
    expect(reserved).toBeLessThanOrEqual(2000);
    expect(servedBy["gpt-4o"]!.slice(-5)).toEqual(Array(5).fill("aoai-west-payg"));
    expect(servedBy["gpt-4o-mini"]).toEqual(Array(40).fill("aoai-east-ptu"));
    expect(s!.east.records.filter((r) => r.status === 429)).toEqual([]);
  });

  it("a deployment's limits hold across workers under a parallel burst (one CAS window in shared data)", async () => {
    await twoDeployments({
      eastRpm: 1000, eastTpm: 2000, rateLimitHeaders: false,
      deployments: { "gpt-4o": { name: "gpt4o-ptu", limits: { tokensPerMinute: 2000 } }, "gpt-4o-mini": "mini" },
    });
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => ask("gpt-4o", i, 100)));
    expect(rs.map((r) => r.status).filter((x) => x !== 200)).toEqual([]);
    const eastGpt4o = s!.east.records.filter((r) => r.deployment === "gpt4o-ptu");
    expect(eastGpt4o.reduce((n, r) => n + (r.reservedTokens ?? 0), 0)).toBeLessThanOrEqual(2000);
    expect(eastGpt4o.length).toBeGreaterThan(5);
    expect(s!.east.records.filter((r) => r.status === 429)).toEqual([]);
  });

  it("when a deployment's window is the one that is full, the gateway's 429 says when it frees up", async () => {
    // gpt-4o-mini is served by east alone; its deployment holds one ~110-token request a minute.
    await twoDeployments({ eastRpm: 1000, rateLimitHeaders: false, deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": { name: "mini", limits: { tokensPerMinute: 150 } } } });
    expect((await ask("gpt-4o-mini", 1, 100)).status).toBe(200);
    const r = await ask("gpt-4o-mini", 2, 100);
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body).error.code).toBe("no_provider_available");
    // The window began with the first request: about a minute, not the 1 s of a provider window never opened.
    expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(55);
    expect(Number(r.headers["retry-after"])).toBeLessThanOrEqual(60);
    expect(s!.east.records.filter((x) => x.deployment === "mini")).toHaveLength(1);
  });
});
