// Issue 10 through the gateway: two Azure providers with key authentication disabled, each
// reached with its own Entra identity (one client-credentials application, one managed identity
// through IMDS), and a third provider with a key. Tokens expire every few seconds (compressed
// in the mock) and the token endpoint has an outage in the middle.
//
// Must hold: no provider ever receives an expired, empty or foreign token (the Azure mocks answer
// 401 to those, and record every credential); token requests ≈ one per refresh per identity
// (not per worker, not per request); clients are served by the key provider while the token
// endpoint is down and the tokens have run out.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraMock, startMockProvider, TokenAuthority, type EntraMock, type MockProvider } from "../../harness/providers/index.ts";
import { post, sleep, startStack, withClusters, type Stack } from "../support/stack.ts";
import { chatRequest } from "../../harness/requests.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "0f3c2a1b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
const SECRET = "Qx8~entra.secret_0123456789ABCDEF";
const NORTH_KEY = "mockkey-north-Zr5TgB2nMw8KpL0q";
const TTL_MS = 3000;
const REQUESTS = 10_000;
const chat = (i: number) => chatRequest(`hello ${i}`, 16);

describe("Entra identities through the gateway", () => {
  let entra: EntraMock;
  let north: MockProvider;
  let s: Stack;
  const authority = new TokenAuthority();
  const statuses = new Map<number, number>();
  const served = new Map<string, number>();
  let outageFrom = 0;
  let outageTo = 0;
  const outageServed: Record<string, number> = {};
  const answers: Array<{ at: number; provider: string }> = [];
  let runMs = 0;

  beforeAll(async () => {
    entra = await startEntraMock({
      authority, tokenTtlMs: TTL_MS,
      clients: { [TENANT]: { [CLIENT]: SECRET } },
      managedIdentity: { systemAssigned: "vm-identity" },
    });
    north = await startMockProvider({ kind: "azure", name: "aoai-north", keys: [NORTH_KEY], deployments: { "gpt4o-north": { model: "gpt-4o-2024-08-06" } } });
    s = await startStack({
      workers: 2,
      // Key authentication disabled on east and west: only tokens of their own identity pass.
      east: { keys: [], tokenAuthority: authority, acceptIdentities: [`${TENANT}/${CLIENT}`] },
      west: { keys: [], tokenAuthority: authority, acceptIdentities: ["vm-identity"] },
      vmEnv: { APP_SECRET: SECRET, NORTH_KEY },
      bootstrap: (y) => withClusters(y, { entra: entra.port, north: north.port }),
      edit: (cfg) => ({
        ...cfg,
        identities: [
          { name: "app", type: "clientCredentials", cluster: "entra", tenantId: TENANT, clientId: CLIENT, clientSecretEnv: "APP_SECRET", timeout: "1s" },
          { name: "vm", type: "managedIdentity", cluster: "entra", timeout: "1s" },
        ],
        providers: [
          { ...cfg.providers[0], auth: { identity: "app" }, limits: undefined, priority: 0 },
          { ...cfg.providers[1], auth: { identity: "vm" }, limits: undefined, priority: 0 },
          { name: "aoai-north", type: "azure-openai", cluster: "north", host: "aoai-north.openai.azure.com", apiVersion: "2024-10-21",
            deployments: { "gpt-4o": "gpt4o-north" }, auth: { apiKeyEnv: "NORTH_KEY" }, priority: 1 },
        ],
        healthCheck: { interval: "500ms", timeout: "400ms" },
      }),
    });
    const rejected = s.logs.filter((l) => l.message.includes("invalid configuration"));
    if (rejected.length > 0) throw new Error(rejected.map((l) => l.message).join("\n"));
    // 10,000 requests (at least ~4 token lifetimes), with a token-endpoint outage longer than a
    // lifetime in the middle.
    const t0 = Date.now();
    let i = 0;
    const worker = async () => {
      while ((i < REQUESTS || Date.now() - t0 < 4 * TTL_MS + 1500) && Date.now() - t0 < 60_000) {
        const n = i++;
        const r = await post(s.gateway.url, "/v1/chat/completions", chat(n));
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const p = String(r.headers["x-ai-failover-provider"] ?? "none");
        served.set(p, (served.get(p) ?? 0) + 1);
        answers.push({ at: Date.now(), provider: p });
      }
    };
    const outage = (async () => {
      await sleep(TTL_MS + 500);
      outageFrom = Date.now();
      entra.setFault({ type: "status", status: 503, count: 1_000_000 });
      await sleep(TTL_MS + 1500);
      entra.clearFaults();
      outageTo = Date.now();
    })();
    await Promise.all([outage, ...Array.from({ length: 8 }, worker)]);
    runMs = Date.now() - t0;
    // Answered after every token had run out (a lifetime into the outage) and before it ended.
    for (const a of answers) if (a.at >= outageFrom + TTL_MS && a.at < outageTo) outageServed[a.provider] = (outageServed[a.provider] ?? 0) + 1;
  }, 90_000);

  afterAll(async () => {
    await s?.close();
    await north?.close();
    await entra?.close();
  });

  it("serves every client request (the key provider while the tokens are out)", () => {
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(REQUESTS);
    expect(Object.fromEntries(statuses)).toEqual({ 200: total });
    // The identity providers served before and after the outage; the key provider during it.
    expect(served.get("aoai-east-ptu") ?? 0).toBeGreaterThan(20);
    expect(served.get("aoai-west-payg") ?? 0).toBeGreaterThan(20);
    expect(outageServed["aoai-north"] ?? 0).toBeGreaterThan(0);
    expect((outageServed["aoai-east-ptu"] ?? 0) + (outageServed["aoai-west-payg"] ?? 0)).toBe(0);
  });

  it("no provider ever received an expired, empty or foreign token, or a key", () => {
    for (const [p, identity] of [[s.east, `${TENANT}/${CLIENT}`], [s.west, "vm-identity"]] as const) {
      const rejected = p.records.filter((r) => r.status === 401);
      expect(rejected.map((r) => `${r.method} ${r.path}`)).toEqual([]);
      for (const c of p.credentialsSeen()) {
        expect(c.scheme).toBe("bearer");
        const issued = authority.issued().find((t) => t.token === c.value);
        expect(issued?.identity).toBe(identity);
      }
      expect(p.records.length).toBeGreaterThan(20);
    }
    expect(north.credentialsSeen().every((c) => c.scheme === "api-key" && c.value === NORTH_KEY)).toBe(true);
    // Every request at east/west was made while its token was valid (the mock checks expiry at arrival).
    for (const r of [...s.east.records, ...s.west.records]) expect(r.status).not.toBe(401);
  });

  it("token requests: about one per refresh per identity — not per worker, not per request", () => {
    const ok = entra.records.filter((r) => r.status === 200);
    for (const identity of [`${TENANT}/${CLIENT}`, "vm-identity"]) {
      const n = ok.filter((r) => r.identity === identity).length;
      // Refreshed at half a lifetime: one per 1.5 s outside the outage, plus the first. One per worker
      // (2 workers) would be about twice this.
      const bound = Math.ceil((runMs - (outageTo - outageFrom)) / (TTL_MS / 2)) + 1;
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(bound);
    }
    // During the outage the lease holder retries with backoff (1 s, 2 s, …), never in a storm.
    const during = entra.records.filter((r) => r.time >= outageFrom && r.time < outageTo);
    expect(during.length).toBeLessThanOrEqual(2 * 5);
  });

  it("says what happened: token metrics and a warning naming the identity, never the secret", async () => {
    const prom = await s.prometheus();
    const line = (identity: string, result: string) => prom.split("\n").find((l) =>
      l.startsWith("ai_failover_token_fetches_total{") && l.includes(`identity="${identity}"`) && l.includes(`result="${result}"`));
    expect(Number(line("app", "ok")?.split(" ").pop())).toBeGreaterThanOrEqual(3);
    expect(Number(line("vm", "failed")?.split(" ").pop())).toBeGreaterThanOrEqual(1);
    const logs = s.logs.map((l) => l.message).join("\n");
    expect(logs).toContain("ai-failover: identity app: token request to login.microsoftonline.com/" + TENANT + "/oauth2/v2.0/token via cluster entra failed: status 503");
    expect(logs).not.toContain(SECRET);
    expect(prom).not.toContain(SECRET);
    for (const t of authority.issued()) expect(logs).not.toContain(t.token.slice(-16));
  });
});
