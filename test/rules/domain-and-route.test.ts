// Higress per-route / per-domain rules: the matching `_rules_` entry's configuration applies
// to the request; providers keep one identity (and one shared state) by name.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

/** local.yaml's providers with the pay-as-you-go deployment preferred. */
const westFirst = (cfg: any) => cfg.providers.map((p: any) => ({ ...p, priority: p.name === "aoai-west-payg" ? 0 : 1 }));

describe("Higress _rules_", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        _rules_: [
          // Team domains prefer the pay-as-you-go deployment.
          { _match_domain_: ["*.team.example"], providers: westFirst(cfg) },
          // A route that does not exist in local.yaml never matches.
          { _match_route_: ["other-route"], retry: { maxAttempts: 1 } },
        ],
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  it("applies the rule of a matching domain and the global configuration elsewhere", async () => {
    const team = await post(s.gateway.url, "/v1/chat/completions", chat(), { host: "chat.team.example:10000" });
    const other = await post(s.gateway.url, "/v1/chat/completions", chat(), { host: "gateway.example" });
    const bare = await post(s.gateway.url, "/v1/chat/completions", chat(), { host: "team.example" });
    expect(team.status).toBe(200);
    expect(team.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(other.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    // "*.team.example" needs a subdomain.
    expect(bare.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it("shares provider state across rules (a provider ejected under one rule is ejected under all)", async () => {
    s.west.setFault({ type: "status", status: 401 });
    const team = await post(s.gateway.url, "/v1/chat/completions", chat(), { host: "chat.team.example" });
    // West rejected its key: the request moved to east with east's key, and west is now out.
    expect(team.status).toBe(200);
    expect(team.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(team.headers["x-ai-failover-attempts"]).toBe("2");
    s.west.clearFaults();
    const again = await post(s.gateway.url, "/v1/chat/completions", chat(), { host: "x.team.example" });
    expect(again.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(again.headers["x-ai-failover-attempts"]).toBe("1");
    expect(s.logs.some((l) => l.message.includes("provider aoai-west-payg rejected its credential (key ****bGt5"))).toBe(true);
  });
});

describe("Higress _rules_ by route name", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        // local.yaml's only route is named "llm" (Envoy property xds.route_name).
        _rules_: [{ _match_route_: ["llm"], providers: westFirst(cfg) }],
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  it("applies the rule naming the request's route", async () => {
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
  });
});
