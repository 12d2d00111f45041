/**
 * Mock Microsoft Entra ID token services (issue 10): the client-credentials token endpoint, the
 * Azure Instance Metadata Service (IMDS) managed-identity endpoint and the App Service / Container
 * Apps identity endpoint — one server, one TokenAuthority that remembers every token it issued
 * (whose identity, which audience, until when). An Azure mock provider given that authority
 * (MockProviderOptions.tokenAuthority + acceptIdentities) accepts `Authorization: Bearer` tokens
 * issued for its identities and not expired, and answers Azure's 401 to expired, foreign or
 * unknown ones — as Azure OpenAI with key authentication disabled does.
 *
 * Endpoints and their answers, as the services document them:
 *   POST /{tenant}/oauth2/v2.0/token   form: grant_type=client_credentials, client_id, client_secret,
 *        scope=https://cognitiveservices.azure.com/.default
 *        → 200 {"token_type":"Bearer","expires_in":N,"ext_expires_in":N,"access_token":"…"}
 *        → 401 {"error":"invalid_client",…} (unknown client or wrong secret), 400 invalid_scope / unsupported_grant_type
 *   GET  /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://cognitiveservices.azure.com/[&client_id=…]
 *        header Metadata: true (else 400) → 200 {"access_token","client_id","expires_in":"N","expires_on":"epoch s",
 *        "ext_expires_in","not_before","resource","token_type":"Bearer"} (numbers as strings, as IMDS sends them)
 *   GET  /msi/token?api-version=2019-08-01&resource=…[&client_id=…]   header X-IDENTITY-HEADER: <identityHeader>
 *        → 200 {"access_token","expires_on":"epoch s","resource","token_type":"Bearer","client_id"}
 * Faults: setFault({ type: "status", status }), { type: "slow", ms }, { type: "invalidClient" },
 * optionally for `count` requests. Every request is recorded (kind, identity, status).
 * What a 200 says of the token's lifetime can be made to differ from the truth (the token still
 * expires after `tokenTtlMs`): setLifetimeClaim({ expiresIn, expiresOn: "seconds" | "ms" | "omit",
 * refreshIn }) — an `expires_in` of 10^20, an `expires_on` in milliseconds, MSAL's `refresh_in`.
 * authority.revoke(token) makes the services refuse a token before its expiry.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Listener } from "./listener.ts";

export const COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default";
export const COGNITIVE_RESOURCE = "https://cognitiveservices.azure.com";

export interface IssuedToken {
  token: string;
  /** Which identity it stands for: "<tenant>/<client id>" or a managed identity's name. */
  identity: string;
  audience: string;
  issuedAt: number;
  expiresAt: number;
}

/** Every token issued, for the services that accept them. */
export class TokenAuthority {
  private readonly tokens = new Map<string, IssuedToken>();
  constructor(readonly clock: () => number = Date.now) {}

  issue(identity: string, audience: string, ttlMs: number): IssuedToken {
    const now = this.clock();
    const t: IssuedToken = { token: `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString("base64url")}`, identity, audience, issuedAt: now, expiresAt: now + ttlMs };
    this.tokens.set(t.token, t);
    return t;
  }

  /** The token is refused from now on (as if it had expired). */
  revoke(token: string): void {
    const t = this.tokens.get(token);
    if (t) t.expiresAt = Math.min(t.expiresAt, this.clock());
  }

  /** Who a token is, or why it is refused. */
  check(token: string, audience = COGNITIVE_RESOURCE): { ok: true; identity: string } | { ok: false; reason: "unknown" | "expired" | "audience" } {
    const t = this.tokens.get(token);
    if (!t) return { ok: false, reason: "unknown" };
    if (this.clock() >= t.expiresAt) return { ok: false, reason: "expired" };
    if (t.audience.replace(/\/$/, "") !== audience.replace(/\/$/, "")) return { ok: false, reason: "audience" };
    return { ok: true, identity: t.identity };
  }

  issued(): IssuedToken[] {
    return [...this.tokens.values()];
  }
}

export type TokenFault =
  | { type: "status"; status: number; count?: number }
  | { type: "slow"; ms: number; count?: number }
  | { type: "invalidClient"; count?: number };

export interface TokenRequestRecord {
  kind: "client-credentials" | "imds" | "app-service" | "other";
  time: number;
  identity?: string;
  status: number;
}

export interface EntraMockOptions {
  /** Shared with the Azure mocks that accept its tokens (default: a new one). */
  authority?: TokenAuthority;
  /** tenant → client id → secret (client credentials). */
  clients?: Record<string, Record<string, string>>;
  /** The VM's managed identities: the system-assigned one's name, and user-assigned ones by client id. */
  managedIdentity?: { systemAssigned?: string; userAssigned?: Record<string, string> };
  /** App Service: the X-IDENTITY-HEADER value the endpoint requires. */
  identityHeader?: string;
  /** Token lifetime (compress it to test refreshes). Default 1 h. */
  tokenTtlMs?: number;
  port?: number;
}

/** What a 200 claims of the token's lifetime instead of the truth (undefined fields: the truth). */
export interface LifetimeClaim {
  /** `expires_in` (seconds): a number, a string of digits (as IMDS writes it), or "omit". */
  expiresIn?: number | string | "omit";
  /** `expires_on`: the true epoch in "seconds" (the services' own), in "ms", or "omit". */
  expiresOn?: "seconds" | "ms" | "omit";
  /** MSAL's `refresh_in` (seconds). */
  refreshIn?: number;
}

export interface EntraMock {
  readonly url: string;
  readonly port: number;
  readonly authority: TokenAuthority;
  readonly records: TokenRequestRecord[];
  /** Lifetime fields of the next 200s (undefined: the truth). */
  setLifetimeClaim(c: LifetimeClaim | undefined): void;
  setFault(f: TokenFault): void;
  clearFaults(): void;
  /** Token requests served with a token, per identity. */
  issuedCount(identity?: string): number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function json(res: ServerResponse, status: number, body: unknown): number {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
  return status;
}

function aadError(error: string, code: number, description: string) {
  return { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code], timestamp: new Date().toISOString() };
}

export async function startEntraMock(opts: EntraMockOptions = {}): Promise<EntraMock> {
  const authority = opts.authority ?? new TokenAuthority();
  const ttl = opts.tokenTtlMs ?? 3_600_000;
  const records: TokenRequestRecord[] = [];
  let faults: TokenFault[] = [];
  let claim: LifetimeClaim | undefined;
  /** The answer's lifetime fields, as claimed (over the true `fields`). */
  const claimed = (fields: Record<string, unknown>, t: IssuedToken): Record<string, unknown> => {
    if (!claim) return fields;
    const out = { ...fields };
    if (claim.expiresIn === "omit") delete out.expires_in;
    else if (claim.expiresIn !== undefined) out.expires_in = claim.expiresIn;
    if (claim.expiresOn === "omit") delete out.expires_on;
    else if (claim.expiresOn === "ms") out.expires_on = typeof out.expires_on === "number" ? t.expiresAt : String(t.expiresAt);
    else if (claim.expiresOn === "seconds") out.expires_on = String(Math.floor(t.expiresAt / 1000));
    if (claim.refreshIn !== undefined) out.refresh_in = claim.refreshIn;
    return out;
  };
  const takeFault = (): TokenFault | undefined => {
    const f = faults[0];
    if (!f) return undefined;
    if (f.count !== undefined && --f.count <= 0) faults.shift();
    return f;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://entra.local");
    const body = req.method === "POST" ? await readBody(req) : "";
    const rec: TokenRequestRecord = { kind: "other", time: authority.clock(), status: 0 };
    records.push(rec);
    const cc = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    rec.kind = cc ? "client-credentials" : url.pathname === "/metadata/identity/oauth2/token" ? "imds" : url.pathname === "/msi/token" ? "app-service" : "other";
    const fault = rec.kind === "other" ? undefined : takeFault();
    if (fault?.type === "slow") await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.type === "status") {
      rec.status = json(res, fault.status, aadError("temporarily_unavailable", 50001, "The service is temporarily unavailable."));
      return;
    }
    if (cc) {
      if (req.method !== "POST") return void (rec.status = json(res, 405, aadError("invalid_request", 900561, "The endpoint only accepts POST requests.")));
      const form = new URLSearchParams(body);
      const tenant = cc[1]!;
      const clientId = form.get("client_id") ?? "";
      rec.identity = `${tenant}/${clientId}`;
      if (form.get("grant_type") !== "client_credentials") return void (rec.status = json(res, 400, aadError("unsupported_grant_type", 70003, "The app requested an unsupported grant type.")));
      if (form.get("scope") !== COGNITIVE_SCOPE) return void (rec.status = json(res, 400, aadError("invalid_scope", 1002012, "The provided value for scope is not valid.")));
      const secret = opts.clients?.[tenant]?.[clientId];
      if (fault?.type === "invalidClient" || secret === undefined || secret !== form.get("client_secret")) {
        return void (rec.status = json(res, 401, aadError("invalid_client", 7000215, "Invalid client secret provided.")));
      }
      const t = authority.issue(rec.identity, COGNITIVE_RESOURCE, ttl);
      const s = Math.floor(ttl / 1000);
      rec.status = json(res, 200, claimed({ token_type: "Bearer", expires_in: s, ext_expires_in: s, access_token: t.token }, t));
      return;
    }
    if (rec.kind === "imds" || rec.kind === "app-service") {
      if (rec.kind === "imds" && req.headers["metadata"] !== "true") {
        return void (rec.status = json(res, 400, { error: "invalid_request", error_description: "Required metadata header not specified" }));
      }
      if (rec.kind === "app-service" && (opts.identityHeader === undefined || req.headers["x-identity-header"] !== opts.identityHeader)) {
        return void (rec.status = json(res, 401, { statusCode: 401, message: "Unauthorized: X-IDENTITY-HEADER is missing or wrong" }));
      }
      const resource = url.searchParams.get("resource") ?? "";
      if (resource.replace(/\/$/, "") !== COGNITIVE_RESOURCE) return void (rec.status = json(res, 400, { error: "invalid_resource", error_description: `AADSTS500011: resource ${resource} not found` }));
      const clientId = url.searchParams.get("client_id");
      const identity = clientId ? opts.managedIdentity?.userAssigned?.[clientId] : opts.managedIdentity?.systemAssigned;
      if (!identity || fault?.type === "invalidClient") {
        return void (rec.status = json(res, 400, { error: "invalid_request", error_description: "Identity not found" }));
      }
      rec.identity = identity;
      const t = authority.issue(identity, COGNITIVE_RESOURCE, ttl);
      const expiresOn = String(Math.floor(t.expiresAt / 1000));
      const s = String(Math.floor(ttl / 1000));
      rec.status = json(res, 200, claimed(rec.kind === "imds"
        ? { access_token: t.token, client_id: clientId ?? "system", expires_in: s, expires_on: expiresOn, ext_expires_in: s, not_before: String(Math.floor(t.issuedAt / 1000)), resource: `${COGNITIVE_RESOURCE}/`, token_type: "Bearer" }
        : { access_token: t.token, expires_on: expiresOn, resource: `${COGNITIVE_RESOURCE}/`, token_type: "Bearer", client_id: clientId ?? "system" }, t));
      return;
    }
    rec.status = json(res, 404, { error: "not_found" });
  };

  const listener = new Listener((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: "server_error" });
    });
  });
  const port = await listener.listen(opts.port ?? 0);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    authority,
    records,
    setLifetimeClaim: (c) => void (claim = c),
    setFault: (f) => void faults.push({ ...f }),
    clearFaults: () => void (faults = []),
    issuedCount: (identity) => records.filter((r) => r.status === 200 && (identity === undefined || r.identity === identity)).length,
    close: () => listener.close(),
  };
}
