// Issue 9: optional affinity for clients that need it across gateway replicas. The owner table of
// stateful ids is per Envoy process; a client that keeps a session (a header value) or a consumer
// on one resource needs every replica to choose the same provider without sharing state:
// `affinity.header` / `affinity.consumer` choose by weighted rendezvous hashing of the key over
// the providers that can take the request, so every worker and every replica agrees. And
// `affinity.providerHeader` lets a client name the provider itself (x-ai-failover-provider), e.g.
// to list one resource's files.
import { afterEach, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

const stacks: Stack[] = [];
afterEach(async () => { while (stacks.length) await stacks.pop()!.close(); });

const EAST = "aoai-east-ptu";
const WEST = "aoai-west-payg";

/** Both providers in one priority group, no limits, health checks off. */
function equalGroup(affinity: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return (cfg: any) => ({
    ...cfg, ...extra, affinity,
    healthCheck: { enabled: false },
    providers: cfg.providers.map((p: any) => ({ ...p, priority: 0, limits: undefined })),
  });
}

async function stack(edit: (cfg: any) => any): Promise<Stack> {
  const s = await startStack({ edit });
  stacks.push(s);
  return s;
}

const ask = (s: Stack, headers: Record<string, string> = {}) => post(s.gateway.url, "/v1/chat/completions", { ...chat(), max_tokens: 5 }, headers);

describe("affinity", () => {
  it("affinity.header: every request of a session goes to one provider, the same on two replicas; sessions spread over both", async () => {
    const edit = equalGroup({ header: "X-Session-Id" });
    const a = await stack(edit);
    const b = await stack(edit);
    const chosen = new Map<string, string>();
    for (let i = 0; i < 24; i++) {
      const session = `session-${i}`;
      for (const [s, round] of [[a, 0], [b, 1], [a, 2], [b, 3]] as const) {
        const r = await ask(s, { "x-session-id": session });
        expect(r.status).toBe(200);
        const by = String(r.headers["x-ai-failover-provider"]);
        if (round === 0) chosen.set(session, by);
        else expect(by, `${session} round ${round}`).toBe(chosen.get(session));
      }
    }
    const counts = [...chosen.values()].reduce((m, p) => m.set(p, (m.get(p) ?? 0) + 1), new Map<string, number>());
    expect(counts.get(EAST) ?? 0).toBeGreaterThanOrEqual(4);
    expect(counts.get(WEST) ?? 0).toBeGreaterThanOrEqual(4);
    // Without the header the choice stays weighted random: both providers serve.
    const free = new Set<string>();
    for (let i = 0; i < 30; i++) free.add(String((await ask(a)).headers["x-ai-failover-provider"]));
    expect(free.size).toBe(2);
  });

  it("affinity is soft: a session's provider failing, the request fails over to the next one", async () => {
    const s = await stack(equalGroup({ header: "x-session-id" }));
    // Find a session that sticks to east, then make east fail.
    let session = "";
    for (let i = 0; i < 40 && !session; i++) {
      const r = await ask(s, { "x-session-id": `s${i}` });
      if (r.headers["x-ai-failover-provider"] === EAST) session = `s${i}`;
    }
    expect(session).not.toBe("");
    s.east.setFault({ type: "status", status: 503 });
    const r = await ask(s, { "x-session-id": session });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
  });

  it("affinity.consumer: each consumer's requests go to one provider, the same on two replicas", async () => {
    const consumers = Array.from({ length: 12 }, (_, i) => ({ name: `team-${i}`, apiKey: `consumer-key-${i}-0123456789` }));
    const edit = equalGroup({ consumer: true }, { consumers });
    const a = await stack(edit);
    const b = await stack(edit);
    const seen = new Set<string>();
    for (const c of consumers) {
      const first = await ask(a, { authorization: `Bearer ${c.apiKey}` });
      expect(first.status).toBe(200);
      const by = String(first.headers["x-ai-failover-provider"]);
      seen.add(by);
      for (const s of [b, a, b]) expect(String((await ask(s, { authorization: `Bearer ${c.apiKey}` })).headers["x-ai-failover-provider"])).toBe(by);
    }
    expect(seen.size).toBe(2);
  });

  it("affinity.providerHeader: x-ai-failover-provider picks the provider, is never sent upstream, and is not failed over", async () => {
    const s = await stack((cfg) => ({ ...cfg, affinity: { providerHeader: true }, healthCheck: { enabled: false } }));
    // East is the preferred group; the header sends the request to west.
    const r = await ask(s, { "x-ai-failover-provider": WEST });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(WEST);
    expect(s.west.records.at(-1)!.headers["x-ai-failover-provider"]).toBeUndefined();
    expect(s.east.records).toHaveLength(0);
    // A name the gateway does not have: 400, nothing sent.
    const bad = await ask(s, { "x-ai-failover-provider": "nope" });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe("unknown_provider");
    // Pinned means pinned: west's 429 reaches the client, east is not tried.
    s.west.setFault({ type: "status", status: 429, headers: { "retry-after": "7" } });
    const limited = await ask(s, { "x-ai-failover-provider": WEST });
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("7");
    expect(s.east.records).toHaveLength(0);
  });

  it("without providerHeader the header is stripped and ignored", async () => {
    const s = await stack((cfg) => ({ ...cfg, healthCheck: { enabled: false } }));
    const r = await ask(s, { "x-ai-failover-provider": WEST });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe(EAST);
    expect(s.east.records.at(-1)!.headers["x-ai-failover-provider"]).toBeUndefined();
  });
});
