// The Entra ID / managed identity mocks (harness/providers/entra.ts) and Azure mocks that accept
// bearer tokens issued for them (issue 10): the services' documented shapes, expiry, foreign
// tokens, faults and counts — what the filter's token sources will be tested against.
import { afterEach, describe, expect, it } from "vitest";
import { COGNITIVE_SCOPE, startEntraMock, startMockProvider, TokenAuthority, type EntraMock, type MockProvider } from "../../../harness/providers/index.ts";

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => { while (closers.length) await closers.pop()!(); });

async function entra(opts: Parameters<typeof startEntraMock>[0] = {}): Promise<EntraMock> {
  const m = await startEntraMock({
    clients: { "tenant-a": { "app-1": "secret-1" } },
    managedIdentity: { systemAssigned: "vm-identity", userAssigned: { "uami-client-1": "uami-1" } },
    identityHeader: "idh-123",
    ...opts,
  });
  closers.push(() => m.close());
  return m;
}

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const clientCredentials = (m: EntraMock, secret = "secret-1", scope = COGNITIVE_SCOPE) =>
  fetch(`${m.url}/tenant-a/oauth2/v2.0/token`, {
    method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
    body: form({ grant_type: "client_credentials", client_id: "app-1", client_secret: secret, scope }),
  });

describe("Entra ID token endpoint mock", () => {
  it("client credentials: a Bearer token with expires_in; a wrong secret is invalid_client; a wrong scope invalid_scope", async () => {
    const m = await entra({ tokenTtlMs: 5000 });
    const ok = await clientCredentials(m);
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 5, ext_expires_in: 5 });
    expect(m.authority.check(body.access_token)).toEqual({ ok: true, identity: "tenant-a/app-1" });
    const bad = await clientCredentials(m, "wrong");
    expect(bad.status).toBe(401);
    expect((await bad.json()).error).toBe("invalid_client");
    expect((await clientCredentials(m, "secret-1", "https://management.azure.com/.default")).status).toBe(400);
    expect(m.issuedCount("tenant-a/app-1")).toBe(1);
  });

  it("IMDS: needs Metadata: true; system- or user-assigned identity; numbers as strings", async () => {
    const m = await entra();
    const q = "api-version=2018-02-01&resource=https%3A%2F%2Fcognitiveservices.azure.com%2F";
    expect((await fetch(`${m.url}/metadata/identity/oauth2/token?${q}`)).status).toBe(400);
    const sys = await (await fetch(`${m.url}/metadata/identity/oauth2/token?${q}`, { headers: { Metadata: "true" } })).json();
    expect(sys).toMatchObject({ token_type: "Bearer", resource: "https://cognitiveservices.azure.com/", expires_in: "3600" });
    expect(typeof sys.expires_on).toBe("string");
    expect(m.authority.check(sys.access_token)).toEqual({ ok: true, identity: "vm-identity" });
    const user = await (await fetch(`${m.url}/metadata/identity/oauth2/token?${q}&client_id=uami-client-1`, { headers: { Metadata: "true" } })).json();
    expect(m.authority.check(user.access_token)).toEqual({ ok: true, identity: "uami-1" });
    expect((await fetch(`${m.url}/metadata/identity/oauth2/token?${q}&client_id=nobody`, { headers: { Metadata: "true" } })).status).toBe(400);
  });

  it("App Service / Container Apps identity endpoint: needs X-IDENTITY-HEADER", async () => {
    const m = await entra();
    const q = "api-version=2019-08-01&resource=https://cognitiveservices.azure.com";
    expect((await fetch(`${m.url}/msi/token?${q}`)).status).toBe(401);
    const r = await (await fetch(`${m.url}/msi/token?${q}`, { headers: { "X-IDENTITY-HEADER": "idh-123" } })).json();
    expect(r).toMatchObject({ token_type: "Bearer", client_id: "system" });
    expect(m.authority.check(r.access_token).ok).toBe(true);
  });

  it("faults: 500 for a count of requests, slow answers, invalid_client; every request recorded", async () => {
    const m = await entra();
    m.setFault({ type: "status", status: 500, count: 2 });
    expect((await clientCredentials(m)).status).toBe(500);
    expect((await clientCredentials(m)).status).toBe(500);
    expect((await clientCredentials(m)).status).toBe(200);
    m.setFault({ type: "slow", ms: 300, count: 1 });
    const t0 = performance.now();
    expect((await clientCredentials(m)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    m.setFault({ type: "invalidClient" });
    expect((await clientCredentials(m)).status).toBe(401);
    expect(m.records.map((r) => r.status)).toEqual([500, 500, 200, 200, 401]);
  });
});

describe("an Azure mock that accepts Entra tokens (key authentication disabled)", () => {
  async function azure(authority: TokenAuthority, identities: string[]): Promise<MockProvider> {
    const p = await startMockProvider({ kind: "azure", name: "aoai-tok", keys: [], deployments: { d1: { model: "gpt-4o" } }, tokenAuthority: authority, acceptIdentities: identities });
    closers.push(() => p.close());
    return p;
  }
  const call = (p: MockProvider, token: string) => fetch(`${p.url}/openai/deployments/d1/chat/completions?api-version=2024-10-21`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  });

  it("serves a token issued for its identity; 401 to an expired, a foreign or an unknown token, and to a key", async () => {
    let now = 1_000_000;
    const authority = new TokenAuthority(() => now);
    const p = await azure(authority, ["tenant-a/app-1"]);
    const mine = authority.issue("tenant-a/app-1", "https://cognitiveservices.azure.com", 10_000);
    const foreign = authority.issue("tenant-a/app-2", "https://cognitiveservices.azure.com", 10_000);
    expect((await call(p, mine.token)).status).toBe(200);
    expect((await call(p, foreign.token)).status).toBe(401);
    expect((await call(p, "not-a-token")).status).toBe(401);
    now += 10_000;
    const expired = await call(p, mine.token);
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toContain("have expired");
    // Every credential it saw is recorded for the security assertions.
    expect(p.records.map((r) => r.credential.scheme)).toEqual(["bearer", "bearer", "bearer", "bearer"]);
  });
});
