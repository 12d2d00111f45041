// Issue 9: Azure counts quota per deployment. Two deployments on one resource (gpt-4o and
// gpt-4o-mini, each its own window in the mock as in Azure): exhausting gpt-4o's window cools
// down gpt-4o only — gpt-4o goes to the pay-as-you-go resource, gpt-4o-mini stays on the PTU
// resource, and no client sees a 429.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post, startStack, type Stack } from "../support/stack.ts";

describe("per-deployment cooldowns", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      east: {
        deployments: {
          "gpt4o-ptu": { model: "gpt-4o-2024-08-06", requestsPerMinute: 3 },
          mini: { model: "gpt-4o-mini-2024-07-18", requestsPerMinute: 1000 },
        },
        windowMs: 60_000,
      },
      edit: (cfg) => ({
        ...cfg,
        providers: [
          { ...cfg.providers[0], deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini" }, limits: undefined },
          { ...cfg.providers[1], limits: undefined },
        ],
        healthCheck: { enabled: false },
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const ask = (model: string, i: number) => post(s.gateway.url, "/v1/chat/completions", { model, messages: [{ role: "user", content: `q${i}` }], max_tokens: 8 });

  it("a 429 for gpt-4o leaves gpt-4o-mini on the same resource, 0 client 429s", async () => {
    const statuses: number[] = [];
    const servedBy: Record<string, string[]> = { "gpt-4o": [], "gpt-4o-mini": [] };
    for (let i = 0; i < 12; i++) {
      for (const model of ["gpt-4o", "gpt-4o-mini"]) {
        const r = await ask(model, i);
        statuses.push(r.status);
        servedBy[model]!.push(String(r.headers["x-ai-failover-provider"]));
      }
    }
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    // gpt-4o: the PTU until its window ran out (3 requests), then pay-as-you-go.
    expect(servedBy["gpt-4o"]!.slice(0, 3)).toEqual(Array(3).fill("aoai-east-ptu"));
    expect(servedBy["gpt-4o"]!.slice(4)).toEqual(Array(8).fill("aoai-west-payg"));
    // gpt-4o-mini: always the PTU resource (west does not serve it), never a 429.
    expect(servedBy["gpt-4o-mini"]).toEqual(Array(12).fill("aoai-east-ptu"));
    // The PTU answered exactly one 429 (for gpt-4o); after it the gateway stopped sending gpt-4o there.
    const ptu429 = s.east.records.filter((r) => r.status === 429);
    expect(ptu429.map((r) => r.deployment)).toEqual(["gpt4o-ptu"]);
    expect(s.logs.some((l) => l.message.includes("deployment gpt4o-ptu rate limited") && l.message.includes("its other deployments stay in service"))).toBe(true);
  });
});
