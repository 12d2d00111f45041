// Configuration at its documented maxima configures in time linear in its size. Before, every
// object key's decoding searched the rest of the text for a backslash and each consumer's name and
// key were compared with every earlier one: 10,000 consumers took ~100 s to configure the three VMs
// of one worker, 128 `_rules_` × 64 providers ~260 s. A gross-regression guard (the figures
// today are ~0.45 s, ~0.3 s and ~1.6 s for the three cases below), not a benchmark: it fails on
// quadratic time, not on a slow machine.
import { describe, expect, it } from "vitest";
import { azure, EAST_KEY, rig } from "../../harness/rig/host-rig.ts";

async function configureMs(config: unknown): Promise<number> {
  const t = performance.now();
  const r = await rig(config, { workers: 1 }); // base VM, canary and one worker: three configures
  const ms = performance.now() - t;
  expect(r.traps()).toEqual([]);
  await r.close();
  return ms;
}

describe("configuration size", () => {
  it("10,000 consumers (the maximum) configure in seconds, not minutes", { timeout: 120_000 }, async () => {
    const consumers = Array.from({ length: 10_000 }, (_, i) => ({ name: `c${i}`, apiKey: `consumer-key-${String(i).padStart(8, "0")}-abcdef`, tokensPerMinute: 1000 }));
    const ms = await configureMs({ providers: [azure("east", EAST_KEY, 0)], healthCheck: { enabled: false }, consumers });
    expect(ms).toBeLessThan(10_000);
  });

  it("128 `_rules_` × 64 providers configure in seconds, not minutes", { timeout: 120_000 }, async () => {
    const providers = Array.from({ length: 64 }, (_, i) => azure(`p${i}`, `key-${String(i).padStart(4, "0")}-abcdefghijkl`, i % 3));
    const rules = Array.from({ length: 128 }, (_, i) => ({ _match_domain_: [`r${i}.example.com`], providers, retry: { maxAttempts: 2 } }));
    const ms = await configureMs({ providers, healthCheck: { enabled: false }, _rules_: rules });
    expect(ms).toBeLessThan(10_000);
  });

  // The documented maxima together: 1024 rules, each with the 64 providers (~13 MB of JSON). Before
  // (849b6d1) every rule re-read and fingerprinted all 64 providers and the syntax check made a
  // string and a set per key: the three configures took 12–14 s of CPU (12.5 s wall on an idle
  // 2-core machine, 24–29 s while it was loaded; ~23 s in this rig). Now a provider or list repeated
  // byte for byte reuses the record read before and keys are compared as spans of the text: ~1.45 s
  // of CPU for the three (~0.5 s per configure; 1.45 s wall idle, 1.6–2.7 s loaded).
  it("1024 `_rules_` × 64 providers (the maxima) configure in seconds", { timeout: 120_000 }, async () => {
    const providers = Array.from({ length: 64 }, (_, i) => azure(`p${i}`, `key-${String(i).padStart(4, "0")}-abcdefghijkl`, i % 3));
    const rules = Array.from({ length: 1024 }, (_, i) => ({ _match_domain_: [`r${i}.example.com`], providers, retry: { maxAttempts: 2 } }));
    const ms = await configureMs({ providers, healthCheck: { enabled: false }, _rules_: rules });
    expect(ms).toBeLessThan(10_000);
  });

  it("duplicates are still found among 10,000 consumers, each named with the first one's index", async () => {
    const consumers = Array.from({ length: 10_000 }, (_, i) => ({ name: `c${i}`, apiKey: `consumer-key-${String(i).padStart(8, "0")}-abcdef` }));
    consumers[9_998] = { name: "c17", apiKey: consumers[4_000]!.apiKey };
    const err = await rig({ providers: [azure("east", EAST_KEY, 0)], healthCheck: { enabled: false }, consumers }, { workers: 1 })
      .then(() => null, (e: unknown) => e);
    expect(err, "the configuration is rejected").not.toBeNull();
    const logs = ((err as { logs?: Array<{ message: string }> }).logs ?? []).map((l) => l.message).join("\n");
    expect(logs).toContain('consumers[9998].name: duplicate consumer name "c17" (also consumers[17])');
    expect(logs).toContain("consumers[9998].apiKey: same key as consumers[4000].apiKey; consumer keys must be unique");
  });
});
