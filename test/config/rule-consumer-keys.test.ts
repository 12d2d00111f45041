// A consumer key may equal no provider credential anywhere in the configuration: top level and
// every `_rules_` entry (a client could present a provider key as its own). Reproduction: a rule
// that brings its own providers and consumers, with a consumer key equal to a global provider's
// key, was accepted (the check only compared a view's consumers with the same view's providers).
import { describe, expect, it } from "vitest";
import { azure, EAST_KEY, rig, WEST_KEY } from "../../harness/rig/host-rig.ts";

async function problems(config: unknown): Promise<string[]> {
  try {
    const r = await rig(config, { workers: 1 });
    await r.close();
    return [];
  } catch (e) {
    return ((e as { logs?: Array<{ message: string }> }).logs ?? []).map((l) => l.message).filter((m) => m.includes("invalid configuration"));
  }
}

describe("consumer keys across rules", () => {
  it("a rule's consumer key equal to a global provider's key is rejected, at the rule's consumer", async () => {
    const p = await problems({
      providers: [azure("east", EAST_KEY, 0)],
      healthCheck: { enabled: false },
      _rules_: [{ _match_domain_: ["team.example"], providers: [azure("west", WEST_KEY, 0)], consumers: [{ name: "team-a", apiKey: EAST_KEY }] }],
    });
    expect(p).toEqual([expect.stringContaining('_rules_[0].consumers[0].apiKey: equals the credential of provider "east"')]);
  });

  it("a global consumer key equal to a rule's own provider key is rejected, at the global consumer", async () => {
    const p = await problems({
      providers: [azure("east", EAST_KEY, 0)],
      consumers: [{ name: "team-a", apiKey: WEST_KEY }],
      healthCheck: { enabled: false },
      _rules_: [{ _match_domain_: ["team.example"], providers: [azure("west", WEST_KEY, 0)], consumers: [{ name: "team-b", apiKey: "team-b-key-0123456789" }] }],
    });
    expect(p).toEqual([expect.stringContaining('consumers[0].apiKey: equals the credential of provider "west"')]);
  });

  it("the same collision inside one view is reported once", async () => {
    const p = await problems({
      providers: [azure("east", EAST_KEY, 0)],
      consumers: [{ name: "team-a", apiKey: EAST_KEY }],
      healthCheck: { enabled: false },
      _rules_: [{ _match_domain_: ["team.example"], retry: { maxAttempts: 1 } }],
    });
    expect(p.filter((m) => m.includes("equals the credential"))).toHaveLength(1);
  });

  it("distinct keys everywhere are accepted", async () => {
    expect(await problems({
      providers: [azure("east", EAST_KEY, 0)],
      consumers: [{ name: "team-a", apiKey: "team-a-key-0123456789" }],
      healthCheck: { enabled: false },
      _rules_: [{ _match_domain_: ["team.example"], providers: [azure("west", WEST_KEY, 0)], consumers: [{ name: "team-b", apiKey: "team-b-key-0123456789" }] }],
    })).toEqual([]);
  });
});
