// Issue 20 item 9 through the gateway: Entra token lifetimes as the token services really send
// them, and what a 401 to a token does. The Entra mock's tokens really expire after `tokenTtlMs`
// (the Azure mocks refuse them then); what its answers *claim* can be made to differ.
//
//   - a claimed lifetime is believed up to 24 h, an `expires_on` in milliseconds is read as such;
//   - refreshed as MSAL does: at `refresh_in` when given, else at half the lifetime for tokens of
//     2 h or more (an IMDS token lives ~24 h), else 5 min (or half its lifetime) before expiry;
//   - a 401 to a token: a new token is fetched and the request retried once with it;
//   - a health check never sends a token the provider already refused;
//   - a failed token request is logged with its AADSTS numbers;
//   - no provider of the model with a usable token: 503 naming the identity.
import { afterEach, describe, expect, it } from "vitest";
import { startEntraMock, TokenAuthority, type EntraMock, type LifetimeClaim } from "../../harness/providers/index.ts";
import { post, sleep, startStack, until, withClusters, type Stack } from "../support/stack.ts";
import { chatRequest } from "../../harness/requests.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "0f3c2a1b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
const SECRET = "Qx8~entra.secret_0123456789ABCDEF";
const APP = `${TENANT}/${CLIENT}`;
const chat = (i: number) => chatRequest(`hello ${i}`, 16);

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

interface Rig { s: Stack; entra: EntraMock; authority: TokenAuthority }

/**
 * The local stack with east on an Entra identity ("app", client credentials; or "vm", IMDS) and,
 * unless `alone`, west on its key in the costlier group.
 */
async function rig(opts: {
  ttlMs: number; kind?: "app" | "vm"; alone?: boolean; checks?: { interval: string } | false; clockNs?: () => bigint;
  /** What the token answers claim of their lifetime (from the first one on). */
  claim?: LifetimeClaim;
}): Promise<Rig> {
  const authority = new TokenAuthority();
  const entra = await startEntraMock({ authority, tokenTtlMs: opts.ttlMs, clients: { [TENANT]: { [CLIENT]: SECRET } }, managedIdentity: { systemAssigned: "vm-identity" } });
  closers.push(() => entra.close());
  entra.setLifetimeClaim(opts.claim);
  const kind = opts.kind ?? "app";
  const s = await startStack({
    workers: 2,
    clockNs: opts.clockNs,
    east: { keys: [], tokenAuthority: authority, acceptIdentities: [kind === "app" ? APP : "vm-identity"] },
    vmEnv: { APP_SECRET: SECRET },
    bootstrap: (y) => withClusters(y, { entra: entra.port }),
    edit: (cfg) => ({
      ...cfg,
      identities: [kind === "app"
        ? { name: "app", type: "clientCredentials", cluster: "entra", tenantId: TENANT, clientId: CLIENT, clientSecretEnv: "APP_SECRET", timeout: "5s" }
        : { name: "vm", type: "managedIdentity", cluster: "entra", timeout: "5s" }],
      providers: [
        { ...cfg.providers[0], auth: { identity: kind }, limits: undefined },
        ...(opts.alone ? [] : [{ ...cfg.providers[1], limits: undefined }]),
      ],
      healthCheck: opts.checks ? { interval: opts.checks.interval, timeout: "150ms" } : { enabled: false },
    }),
  });
  closers.push(() => s.close());
  if (s.logs.some((l) => l.message.includes("invalid configuration"))) throw new Error(s.logs.map((l) => l.message).join("\n"));
  return { s, entra, authority };
}

/** Sequential requests for `ms`: each status, provider and attempts header. */
async function drive(s: Stack, ms: number): Promise<Array<{ status: number; provider: string; attempts: string; body: string }>> {
  const out: Array<{ status: number; provider: string; attempts: string; body: string }> = [];
  const t0 = Date.now();
  for (let i = 0; Date.now() - t0 < ms; i++) {
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(i));
    out.push({ status: r.status, provider: String(r.headers["x-ai-failover-provider"] ?? "-"), attempts: String(r.headers["x-ai-failover-attempts"] ?? "1"), body: r.body.slice(0, 200) });
    await sleep(20);
  }
  return out;
}

describe("a token's lifetime as the answer claims it", () => {
  it("expires_in 10^20: believed 24 h at most (a warning says so); at each real expiry the request's 401 renews the token and the request is retried with it — every request served by the identity's provider", async () => {
    const { s, entra, authority } = await rig({ ttlMs: 2000, alone: true, claim: { expiresIn: 1e20 } });
    await until(() => entra.issuedCount(APP) === 1, 3000);
    const results = await drive(s, 7000);
    expect(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`)).toEqual([]);
    expect(results.every((r) => r.provider === "aoai-east-ptu")).toBe(true);
    // Three real expiries, each met by one request that went twice (the 401, then the new token).
    const retried = results.filter((r) => r.attempts === "2").length;
    expect(retried).toBeGreaterThanOrEqual(2);
    expect(retried).toBeLessThanOrEqual(5);
    const logs = s.logs.map((l) => l.message).join("\n");
    expect(logs).toMatch(/identity app: the token answer's expires_in says it is valid \d{14,} s; it is believed 86400 s at most/);
    expect(logs).toContain("a new token is fetched, and the request retried with it, before the provider is judged");
    expect(logs).not.toContain("rejected its credential");
    // One token per real lifetime, no storm; every token east saw was one of the identity's.
    expect(entra.issuedCount(APP)).toBeGreaterThanOrEqual(3);
    expect(entra.issuedCount(APP)).toBeLessThanOrEqual(6);
    for (const c of s.east.credentialsSeen()) expect(authority.issued().find((t) => t.token === c.value)?.identity).toBe(APP);
  });

  it("expires_on in milliseconds (expires_in absent): read as milliseconds, the token is refreshed before it expires — the provider never refuses one", async () => {
    const { s, entra } = await rig({ ttlMs: 3000, kind: "vm", alone: true, claim: { expiresIn: "omit", expiresOn: "ms" } });
    await until(() => entra.issuedCount("vm-identity") === 1, 3000);
    const results = await drive(s, 6500);
    expect(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`)).toEqual([]);
    expect(s.east.records.filter((r) => r.status === 401)).toEqual([]);
    expect(results.every((r) => r.attempts === "1")).toBe(true);
    // Refreshed at half of 3 s: about four tokens in 6.8 s.
    expect(entra.issuedCount("vm-identity")).toBeGreaterThanOrEqual(4);
    expect(s.logs.some((l) => /identity vm: token obtained, valid 2 s/.test(l.message))).toBe(true);
  });

  it("refresh_in (MSAL's field) is honoured: a 1 h token refreshed every second when the answer says refresh_in 1", async () => {
    const { s, entra } = await rig({ ttlMs: 3_600_000, alone: true, claim: { refreshIn: 1 } });
    await sleep(3600);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat(0))).status).toBe(200);
    expect(entra.issuedCount(APP)).toBeGreaterThanOrEqual(3);
    expect(entra.issuedCount(APP)).toBeLessThanOrEqual(6);
  });

  it("a 24 h token (IMDS) is refreshed at half its lifetime; a 1 h token keeps 5 min before expiry (the gateway's clock jumped ahead)", async () => {
    let skewMs = 0;
    const clockNs = () => BigInt(Date.now() + skewMs) * 1_000_000n;
    // Tokens obtained (a loaded machine may have needed a second try: count from what was stored).
    const obtained = (r: Rig) => r.s.logs.filter((l) => l.message.includes("identity vm: token obtained")).length;
    const day = await rig({ ttlMs: 86_400_000, kind: "vm", alone: true, clockNs });
    await until(() => obtained(day) >= 1, 5000);
    await sleep(300);
    const dayBase = obtained(day);
    skewMs = 11 * 3_600_000;
    await sleep(1500);
    expect(obtained(day)).toBe(dayBase);
    skewMs = 12 * 3_600_000 + 60_000;
    await until(() => obtained(day) === dayBase + 1, 5000);

    skewMs = 0;
    const hour = await rig({ ttlMs: 3_600_000, kind: "vm", alone: true, clockNs });
    await until(() => obtained(hour) >= 1, 5000);
    await sleep(300);
    const hourBase = obtained(hour);
    skewMs = 31 * 60_000;
    await sleep(1500);
    expect(obtained(hour)).toBe(hourBase);
    skewMs = 56 * 60_000;
    await until(() => obtained(hour) === hourBase + 1, 5000);
  });
});

describe("a 401 to a token", () => {
  it("a revoked token: a new one is fetched and the request retried with it at the same provider, rather than sent to the costlier group", async () => {
    const { s, entra, authority } = await rig({ ttlMs: 3_600_000 });
    await until(() => entra.issuedCount(APP) === 1, 3000);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat(0))).headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    for (const t of authority.issued()) authority.revoke(t.token);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(1));
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    expect(entra.issuedCount(APP)).toBe(2);
    expect(s.west.records.filter((x) => x.path.includes("/chat/completions"))).toEqual([]);
    // East saw the revoked token once (the 401) and the new one after it.
    const chats = s.east.records.filter((x) => x.path.includes("/chat/completions"));
    expect(chats.map((x) => x.status)).toEqual([200, 401, 200]);
    expect(chats[2]!.credentials[0]!.value).not.toBe(chats[1]!.credentials[0]!.value);
  });

  it("health checks never send a token the provider already refused: each token that expires is refused once, then replaced", async () => {
    // No traffic: only the probes meet the tokens; their lifetime is claimed ~forever, their truth 1.5 s.
    const { s } = await rig({ ttlMs: 1500, checks: { interval: "200ms" }, claim: { expiresIn: 1e20 } });
    await sleep(6500);
    const probes = s.east.records.filter((r) => r.method === "GET");
    expect(probes.length).toBeGreaterThan(15);
    const byToken = new Map<string, Array<{ time: number; status: number }>>();
    for (const p of probes) {
      const v = p.credentials[0]?.value ?? "";
      byToken.set(v, [...(byToken.get(v) ?? []), { time: p.time, status: p.status }]);
    }
    for (const [, seen] of byToken) {
      const refused = seen.filter((x) => x.status === 401);
      expect(refused.length).toBeLessThanOrEqual(1);
      if (refused.length === 1) expect(seen.filter((x) => x.time > refused[0]!.time)).toEqual([]);
    }
    // Several tokens expired and were replaced, and east is in service at the end.
    expect([...byToken.values()].filter((seen) => seen.some((x) => x.status === 401)).length).toBeGreaterThanOrEqual(2);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(0));
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  });
});

describe("token requests that fail", () => {
  it("are logged with their AADSTS numbers; with no usable token for any provider of the model the client gets 503 naming the identity", async () => {
    const { s, entra } = await rig({ ttlMs: 3_600_000, alone: true });
    entra.setFault({ type: "invalidClient", count: 1_000_000 });
    await until(() => s.logs.some((l) => l.message.includes("identity app: token request")), 3000);
    const line = s.logs.find((l) => l.message.includes("identity app: token request"))!.message;
    expect(line).toContain("failed: status 401 (invalid_client, AADSTS7000215)");
    expect(line).not.toContain(SECRET);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(0));
    expect(r.status).toBe(503);
    const e = JSON.parse(r.body).error;
    expect(e.code).toBe("identity_token_unavailable");
    expect(e.message).toContain("identity app");
    expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(s.east.records).toEqual([]);
  });
});
