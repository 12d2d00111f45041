// Foundation must-show: two Azure providers with different keys, failover and health checks
// on, 2 worker VMs, one provider failing then recovering. Over the whole run no provider ever
// receives a credential other than its own, no request or probe carries an empty credential,
// and client requests keep succeeding through the healthy provider.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, sleep, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

// On upstream Envoy and on Higress (the same module, read as ABI 0_2_0 and 0_2_100).
describe.each(["envoy", "higress"] as const)("scenario: provider failure and recovery with per-provider credentials (%s)", (flavour) => {
  let s: Stack;
  const served: Array<{ phase: string; status: number; provider: string | undefined; attempts: string | undefined }> = [];

  async function traffic(phase: string, count: number, concurrency = 4): Promise<void> {
    for (let i = 0; i < count; i += concurrency) {
      const batch = await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_, k) =>
        post(s.gateway.url, "/v1/chat/completions", chat(`${phase} ${i + k}`), { authorization: "Bearer client-own-token" })));
      for (const r of batch) {
        served.push({ phase, status: r.status, provider: r.headers["x-ai-failover-provider"] as string | undefined, attempts: r.headers["x-ai-failover-attempts"] as string | undefined });
        // A client never receives a provider credential.
        expect(JSON.stringify(r.headers) + r.body).not.toContain(EAST_KEY);
        expect(JSON.stringify(r.headers) + r.body).not.toContain(WEST_KEY);
      }
    }
  }

  beforeAll(async () => {
    s = await startStack({
      flavour,
      edit: (cfg) => ({
        ...cfg,
        logLevel: "debug",
        healthCheck: { interval: "200ms", timeout: "150ms", unhealthyThreshold: 2, healthyThreshold: 1 },
        cooldown: { consecutiveFailures: 1, baseEjection: "300ms", maxEjection: "300ms" },
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  it("serves from the primary, fails over during its outage, and returns to it after recovery", async () => {
    await sleep(600); // a few health-check rounds while both are healthy
    await traffic("healthy", 12);
    expect(served.filter((r) => r.phase === "healthy").every((r) => r.status === 200 && r.provider === "aoai-east-ptu")).toBe(true);

    // The primary starts answering 503 (a sick deployment) …
    s.east.setFault({ type: "status", status: 503 });
    await traffic("503s", 12);
    // … then stops accepting connections at all.
    await s.east.startOutage("refused");
    await traffic("refused", 12);
    await sleep(500); // health checks see it down
    await traffic("down", 8);

    const failing = served.filter((r) => r.phase !== "healthy");
    expect(failing.map((r) => r.status)).toEqual(failing.map(() => 200));
    expect(failing.every((r) => r.provider === "aoai-west-payg")).toBe(true);
    // Once ejected or marked unhealthy, the primary is skipped without a failed first attempt.
    expect(served.filter((r) => r.phase === "down").every((r) => r.attempts === "1")).toBe(true);

    // Recovery: traffic returns to the primary within a health interval or two.
    await s.east.endOutage();
    s.east.clearFaults();
    const deadline = Date.now() + 3000;
    let back = false;
    while (!back && Date.now() < deadline) {
      await sleep(150);
      await traffic("recovered", 2, 2);
      back = served.slice(-2).some((r) => r.provider === "aoai-east-ptu");
    }
    expect(back).toBe(true);
    expect(served.filter((r) => r.phase === "recovered").every((r) => r.status === 200)).toBe(true);
  });

  it("never sent a provider a foreign or empty credential, in requests or probes", () => {
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
    // Both were probed, each with its own key, on its models endpoint.
    for (const p of [s.east, s.west]) {
      const probes = p.records.filter((r) => r.method === "GET" && r.path.startsWith("/openai/models"));
      expect(probes.length).toBeGreaterThanOrEqual(2);
    }
    // The client's own token went nowhere.
    for (const p of [s.east, s.west]) {
      expect(p.records.some((r) => JSON.stringify(r.headers).includes("client-own-token"))).toBe(false);
    }
  });

  it("ran on two worker VMs and logged keys only masked", () => {
    const routed = s.logs.filter((l) => l.message.startsWith("ai-failover: chat model=gpt-4o"));
    expect(new Set(routed.map((l) => l.vm))).toEqual(new Set(["worker-0", "worker-1"]));
    const all = s.logs.map((l) => l.message).join("\n");
    expect(all).not.toContain(EAST_KEY);
    expect(all).not.toContain(WEST_KEY);
    expect(all).toContain("****vLs2");
  });
});
