// A reload starts new root contexts (the new configuration) next to the old ones, which live on
// while their streams drain and keep ticking; two PluginHosts on one ProcessState and vm_id play
// that here. Only the current configuration may probe (with its record's key); a changed record
// has a state of its own (neither configuration resets the other's); an unchanged one keeps its state.
import { describe, expect, it } from "vitest";
import { ProcessState } from "../../harness/host/index.ts";
import { azure, chatBody, ok200, rig, Script, sleep, until, WEST_KEY } from "../../harness/rig/host-rig.ts";

const OLD_EAST_KEY = "east-key-before-rotation-0001";
const NEW_EAST_KEY = "east-key-after-rotation-0002";

const config = (eastKey: string) => ({
  providers: [azure("west", WEST_KEY, 0), azure("east", eastKey, 1)],
  healthCheck: { interval: "100ms", timeout: "80ms" },
  retry: { maxAttempts: 2 },
  seed: 7,
});

const probes = (s: Script, from = 0) =>
  s.calls.slice(from).filter((c) => c.headers.some(([k, v]) => k === "user-agent" && v === "ai-failover-health-check"));
const keyOf = (c: { headers: Array<[string, string]> }) => c.headers.find(([k]) => k === "api-key")?.[1];

describe("reload: the old configuration alive next to the new one", () => {
  it("only the current configuration probes, each provider with the current record's key; unchanged state is kept", async () => {
    const process = new ProcessState();
    const script = new Script();
    script.answer = () => ok200();
    const old = await rig(config(OLD_EAST_KEY), { workers: 2, dispatcher: script }, process);
    // The old configuration probes both, and its traffic cools west down (a 429 with a minute's retry-after).
    await until(() => probes(script).length >= 2);
    const f = old.request("/v1/chat/completions", chatBody());
    expect(f.up(":authority")).toBe("west.openai.azure.com");
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', [["retry-after", "60"]]);
    await until(() => f.responseEnded);
    f.complete();
    const westBefore = old.providerState("west")!;
    expect(westBefore.cooldownUntilMs - BigInt(Date.now())).toBeGreaterThan(50_000n);

    // Reload with east's key rotated; the old instance is not closed (streams draining).
    // Counted once the new configuration is in place: until then the old one is the current one and
    // rightly probes with its key (a loaded machine takes a while to start the new VMs).
    const fresh = await rig(config(NEW_EAST_KEY), { workers: 2, dispatcher: script }, process);
    const reloadAt = script.calls.length;
    // Several probe intervals with both configurations alive and ticking, new streams on the new
    // configuration meanwhile (west cools down: east serves them, with the rotated key).
    const until700 = Date.now() + 700;
    let served = 0;
    while (Date.now() < until700) {
      const h = fresh.request("/v1/chat/completions", chatBody());
      expect(h.up("api-key")).toBe(NEW_EAST_KEY);
      h.respond(200, "{}");
      h.complete();
      served++;
      await sleep(20);
    }
    expect(served).toBeGreaterThan(10);

    const after = probes(script, reloadAt);
    const east = after.filter((c) => c.cluster === "east");
    const west = after.filter((c) => c.cluster === "west");
    expect(east.length, "the current configuration probes east").toBeGreaterThanOrEqual(3);
    expect(west.length, "and west").toBeGreaterThanOrEqual(3);
    expect(east.map(keyOf).filter((k) => k !== NEW_EAST_KEY), "no probe carries a key the current configuration did not give").toEqual([]);
    expect(west.map(keyOf).filter((k) => k !== WEST_KEY)).toEqual([]);
    // Probing did not double: one prober (the current configuration's lease), one probe per interval per provider.
    expect(east.length).toBeLessThanOrEqual(9);

    // West's record did not change: its state (the cooldown) is the same state.
    const westAfter = fresh.providerState("west")!;
    expect(westAfter.cooldownUntilMs).toBe(westBefore.cooldownUntilMs);
    expect(westAfter.reason).toBe(1); // Reason.RateLimited
    // East's record changed: each configuration has its own east state.
    expect(process.sharedData.keys("").filter((k) => k.startsWith("ai-failover/provider/east/"))).toHaveLength(2);

    // Traffic under the new configuration uses the new key (west is cooling down: east serves).
    const g = fresh.request("/v1/chat/completions", chatBody());
    expect(g.up(":authority")).toBe("east.openai.azure.com");
    expect(g.up("api-key")).toBe(NEW_EAST_KEY);
    g.respond(200, "{}");
    g.complete();
    await old.close();
    await fresh.close();
  });
});
