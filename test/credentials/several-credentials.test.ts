// Issue 10, several credentials per provider, through the gateway:
//  - Azure key1/key2 rotation (quota shared): key1 revoked mid-run, key2 valid → 0 client
//    errors, the provider is never ejected, one warning naming the masked key;
//  - OpenAI-type keys with separate quotas (quota perCredential): each key its own window,
//    learned from its own x-ratelimit-* — a key whose window is spent is passed over, the other
//    serves;
//  - a token the provider rejects is renewed, and the request retried with the new one, before
//    the provider is judged; a renewed token refused too ejects it (no access), and only a newer
//    token is probed.
// Every credential a mock saw is one configured for it.
import { afterEach, describe, expect, it } from "vitest";
import { startEntraMock, TokenAuthority } from "../../harness/providers/index.ts";
import { post, sleep, startStack, until, withClusters, type Stack } from "../support/stack.ts";
import { chatRequest } from "../../harness/requests.ts";

const KEY1 = "mockkey-east-one-Tq3Wm8RxVb2N";
const KEY2 = "mockkey-east-two-Lp7Ys4HdKc9F";
const chat = (i: number) => chatRequest(`hi ${i}`, 16);

const stacks: Stack[] = [];
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (stacks.length) await stacks.pop()!.close();
  while (closers.length) await closers.pop()!();
});

describe("Azure key1/key2 rotation (quota shared)", () => {
  it("key1 revoked mid-run: 0 client errors, the provider never ejected, one warning naming ****…", async () => {
    const s = await startStack({
      workers: 2,
      east: { keys: [KEY1, KEY2] },
      vmEnv: { EAST_KEY1: KEY1, EAST_KEY2: KEY2 },
      edit: (cfg) => ({
        ...cfg,
        // One provider only: a failover elsewhere would hide a client error.
        providers: [{ ...cfg.providers[0], limits: undefined, auth: { credentials: [{ apiKeyEnv: "EAST_KEY1" }, { apiKeyEnv: "EAST_KEY2" }] } }],
        healthCheck: { interval: "300ms", timeout: "250ms" },
      }),
    });
    stacks.push(s);
    const statuses: number[] = [];
    const t0 = Date.now();
    let revoked = false;
    const worker = async () => {
      for (let i = 0; Date.now() - t0 < 3000; i++) {
        if (!revoked && Date.now() - t0 > 1000) {
          revoked = true;
          s.east.setKeys([KEY2]); // key1 regenerated in the portal
        }
        statuses.push((await post(s.gateway.url, "/v1/chat/completions", chat(i))).status);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    // key1 until the revocation, key2 after it; nothing else, never empty.
    const seen = s.east.credentialsSeen().map((c) => c.value);
    expect(new Set(seen)).toEqual(new Set([KEY1, KEY2]));
    const after = s.east.records.filter((r) => r.time > t0 + 1400);
    expect(after.length).toBeGreaterThan(20);
    expect(after.every((r) => r.credentials.length === 1 && r.credentials[0]!.value === KEY2)).toBe(true);
    // The provider was never ejected: healthy and available throughout, no credential ejection logged.
    const logs = s.logs.map((l) => l.message);
    expect(logs.filter((m) => m.includes("rejected its credential") || m.includes("marked unhealthy"))).toEqual([]);
    const warnings = logs.filter((m) => m.includes("credentials[0] (key ") && m.includes("set aside"));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    // One per worker VM at most (each learns it from the shared state once): never one per request.
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(warnings[0]).toContain("key ****" + KEY1.slice(-4));
    expect(warnings[0]).toContain("apiKeyEnv:EAST_KEY1");
    expect(logs.join("\n")).not.toContain(KEY1);
    const prom = await s.prometheus();
    expect(prom).toMatch(/ai_failover_provider_healthy\{[^}]*provider="aoai-east-ptu"[^}]*\} 1/);
  });

  it("both keys revoked: the provider is ejected (the last key is not set aside), the client gets 502", async () => {
    const s = await startStack({
      east: { keys: [KEY1, KEY2] },
      vmEnv: { EAST_KEY1: KEY1, EAST_KEY2: KEY2 },
      edit: (cfg) => ({
        ...cfg,
        providers: [{ ...cfg.providers[0], auth: { credentials: [{ apiKeyEnv: "EAST_KEY1" }, { apiKeyEnv: "EAST_KEY2" }] } }],
        healthCheck: { enabled: false },
      }),
    });
    stacks.push(s);
    s.east.setKeys(["something-else-entirely-000"]);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(0));
    expect(r.status).toBe(502);
    expect(r.body).not.toContain(KEY1);
    // Tried with key1, then key2 on the same provider, then nothing is left.
    expect(s.east.records.map((x) => x.credentials[0]!.value)).toEqual([KEY1, KEY2]);
    const again = await post(s.gateway.url, "/v1/chat/completions", chat(1));
    expect(again.status).toBe(429); // no provider available: ejected
    expect(s.east.records.length).toBe(2);
    expect(s.logs.some((l) => l.message.includes("rejected its credential (key ****" + KEY2.slice(-4)))).toBe(true);
  });
});

describe("keys with separate quotas (quota perCredential)", () => {
  it("each key has its own window: one key's spent window passes the traffic to the other, 0 client 429s", async () => {
    const OA1 = "sk-proj-one-Vd3Kq8Lm2Xw7Nr5T";
    const OA2 = "sk-proj-two-Bg6Hs1Zc4Jp9Ty0E";
    // Two OpenAI projects, one org: the mock gives each key its own window per model.
    const s = await startStack({
      east: {
        kind: "openai", name: "openai", keys: [OA1, OA2], deployments: undefined,
        models: { "gpt-4o": { tokensPerMinute: 1_000_000, requestsPerMinute: 5 } }, windowMs: 60_000, perKeyWindows: true,
      } as any,
      vmEnv: { OA1, OA2 },
      edit: (cfg) => ({
        ...cfg,
        providers: [{
          name: "openai", type: "openai", cluster: "aoai-east", host: "api.openai.com", models: ["gpt-4o"],
          auth: { credentials: [{ apiKeyEnv: "OA1" }, { apiKeyEnv: "OA2" }], quota: "perCredential" },
          limits: { requestsPerMinute: 5 },
        }],
        healthCheck: { enabled: false },
      }),
    });
    stacks.push(s);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await post(s.gateway.url, "/v1/chat/completions", chat(i))).status);
    expect(statuses).toEqual(Array(10).fill(200));
    const byKey = new Map<string, number>();
    for (const r of s.east.records) byKey.set(r.credentials[0]!.value, (byKey.get(r.credentials[0]!.value) ?? 0) + 1);
    // 5 a minute each: both keys carried exactly their share.
    expect(Object.fromEntries(byKey)).toEqual({ [OA1]: 5, [OA2]: 5 });
    const eleventh = await post(s.gateway.url, "/v1/chat/completions", chat(10));
    expect(eleventh.status).toBe(429); // both windows spent: the gateway's own 429, the provider never asked
    expect(s.east.records.length).toBe(10);
    await sleep(1200); // state gauges are published on the tick
    const prom = await s.prometheus();
    expect(prom).toMatch(/ai_failover_provider_reserved_tokens\{[^}]*credential="0"/);
    expect(prom).toMatch(/ai_failover_provider_reserved_tokens\{[^}]*credential="1"/);
  });
});

describe("a token the provider rejects", () => {
  it("is renewed and the request retried with the new one before the provider is judged; a renewed token rejected again ejects it, and only a newer token is probed", async () => {
    const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT = "0f3c2a1b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
    const authority = new TokenAuthority();
    const entra = await startEntraMock({ authority, clients: { [TENANT]: { [CLIENT]: "secret-0123456789abcdef" } } });
    closers.push(() => entra.close());
    const s = await startStack({
      east: { keys: [], tokenAuthority: authority, acceptIdentities: [`${TENANT}/${CLIENT}`] },
      vmEnv: { APP_SECRET: "secret-0123456789abcdef" },
      bootstrap: (y) => withClusters(y, { entra: entra.port }),
      edit: (cfg) => ({
        ...cfg,
        identities: [{ name: "app", type: "clientCredentials", cluster: "entra", tenantId: TENANT, clientId: CLIENT, clientSecretEnv: "APP_SECRET" }],
        providers: [{ ...cfg.providers[0], limits: undefined, auth: { identity: "app" } }, cfg.providers[1]],
        // Probes are rare enough not to meet the revoked token before the request does (the request's own retry is the point).
        healthCheck: { interval: "1s", timeout: "500ms" },
      }),
    });
    stacks.push(s);
    await until(() => s.logs.some((l) => l.message.includes("identity app: token obtained")), 5000);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat(0))).headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(entra.issuedCount()).toBe(1);
    // A token east refuses (revoked): renewed, and the same request retried at east with the new one.
    for (const t of authority.issued()) authority.revoke(t.token);
    const renewed = await post(s.gateway.url, "/v1/chat/completions", chat(1));
    expect(renewed.status).toBe(200);
    expect(renewed.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(entra.issuedCount()).toBe(2);
    expect(s.logs.some((l) => l.message.includes("rejected the token of identity app (status 401): a new token is fetched"))).toBe(true);
    expect(s.logs.some((l) => l.message.includes("rejected its credential"))).toBe(false);
    // The role assignment is missing on east (every token refused): the renewed token is refused
    // too — the identity has no access there: east is ejected within the request, which goes to west.
    s.east.setAcceptIdentities([]);
    for (const t of authority.issued()) authority.revoke(t.token);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(2));
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(entra.issuedCount()).toBe(3);
    await until(() => s.logs.some((l) => /rejected its credential \(identity app|rejected with 401: the credential \(identity app/.test(l.message)), 2000);
    expect(s.logs.some((l) => l.message.includes("rejected the renewed token of identity app too"))).toBe(true);
    const during = await post(s.gateway.url, "/v1/chat/completions", chat(3));
    expect(during.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    // Access restored: a probe with a newer token brings east back.
    s.east.setAcceptIdentities([`${TENANT}/${CLIENT}`]);
    const t0 = Date.now();
    for (;;) {
      if ((await post(s.gateway.url, "/v1/chat/completions", chat(4))).headers["x-ai-failover-provider"] === "aoai-east-ptu") break;
      if (Date.now() - t0 > 6000) throw new Error("east not back 6 s after access was restored");
      await sleep(100);
    }
    // No renewal storm: after "no access" the next token was asked for a second later, not at once.
    const issued = entra.records.filter((x) => x.status === 200);
    expect(issued.length).toBeGreaterThanOrEqual(4);
    expect(issued[3]!.time - issued[2]!.time).toBeGreaterThanOrEqual(900);
    // East never got a token again once it had refused it.
    const byToken = new Map<string, Array<{ time: number; status: number }>>();
    for (const rec of s.east.records) {
      const v = rec.credentials[0]?.value ?? "";
      byToken.set(v, [...(byToken.get(v) ?? []), { time: rec.time, status: rec.status }]);
    }
    for (const [, seen] of byToken) {
      const first401 = seen.find((x) => x.status === 401);
      if (first401) expect(seen.filter((x) => x.time > first401.time + 250)).toEqual([]);
    }
    // Nothing but tokens of this identity ever reached east; west saw only its key.
    for (const c of s.east.credentialsSeen()) {
      expect(c.scheme).toBe("bearer");
      expect(authority.issued().find((t) => t.token === c.value)?.identity).toBe(`${TENANT}/${CLIENT}`);
    }
    expect(new Set(s.west.credentialsSeen().map((c) => c.scheme))).toEqual(new Set(["api-key"]));
  });
});

describe("App Service identity endpoint and a user-assigned managed identity", () => {
  it("each provider gets a token of its own identity: X-IDENTITY-HEADER for App Service, client_id for the user-assigned one", async () => {
    const UAMI = "6b0d6a52-8b8e-4e0f-9d67-0c5a3a1f2e11";
    const authority = new TokenAuthority();
    const entra = await startEntraMock({
      authority, identityHeader: "ih-Xq2Wv7Rt4Yp9Ls3",
      managedIdentity: { systemAssigned: "site-identity", userAssigned: { [UAMI]: "uami-orders" } },
    });
    closers.push(() => entra.close());
    const s = await startStack({
      east: { keys: [], tokenAuthority: authority, acceptIdentities: ["site-identity"] },
      west: { keys: [], tokenAuthority: authority, acceptIdentities: ["uami-orders"] },
      vmEnv: { IDENTITY_HEADER: "ih-Xq2Wv7Rt4Yp9Ls3" },
      bootstrap: (y) => withClusters(y, { "app-identity": entra.port, imds: entra.port }),
      edit: (cfg) => ({
        ...cfg,
        identities: [
          { name: "site", type: "appService", cluster: "app-identity", host: `127.0.0.1:${entra.port}` },
          { name: "orders", type: "managedIdentity", cluster: "imds", clientId: UAMI },
        ],
        providers: [
          { ...cfg.providers[0], limits: undefined, auth: { identity: "site" } },
          { ...cfg.providers[1], limits: undefined, priority: 0, auth: { identity: "orders" } },
        ],
        healthCheck: { interval: "300ms", timeout: "250ms" },
      }),
    });
    stacks.push(s);
    await sleep(800);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat(i));
      expect(r.status).toBe(200);
      seen.add(String(r.headers["x-ai-failover-provider"]));
    }
    expect(seen).toEqual(new Set(["aoai-east-ptu", "aoai-west-payg"]));
    expect(entra.records.filter((r) => r.status === 200).map((r) => `${r.kind}:${r.identity}`).sort())
      .toEqual(["app-service:site-identity", "imds:uami-orders"]);
    for (const [p, identity] of [[s.east, "site-identity"], [s.west, "uami-orders"]] as const) {
      expect(p.records.some((r) => r.status === 401)).toBe(false);
      for (const c of p.credentialsSeen()) expect(authority.issued().find((t) => t.token === c.value)?.identity).toBe(identity);
    }
  });
});
