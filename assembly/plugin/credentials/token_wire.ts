// The identity endpoint's wire: the token request of an identity (managed identity, workload
// identity, client secret) and the fields of its answer, scanned rather than parsed. Pure.

import { IdentityConfig, IdentityKind } from "../../config/model";
import { utf8 } from "../../lib/bytes";
import { findValue, intAt, stringAt } from "../../lib/json_fields";
import { isHeaderToken } from "../../config/patterns";

/** A token answer's fields (a small JSON object; scanned, not parsed). */
/** Largest token kept (Entra access tokens are 1.5–4 KB). */
export const MAX_TOKEN: i32 = 16384;
/** An `expires_on` this large is in milliseconds (in seconds it would be the year 5138). */
export const EPOCH_MS_FROM: i64 = 100_000_000_000;
/** The longest a token is believed to live, whatever its answer says. */
export const MAX_LIFETIME_MS: i64 = 86_400_000;

export class TokenAnswer {
  token: string = "";
  /** The lifetime believed (≤ MAX_LIFETIME_MS; ≤ 0: none usable). */
  lifetimeMs: i64 = -1;
  /** The lifetime the answer claims (for the log when it was capped). */
  claimedMs: i64 = -1;
  /** Which field said it: "expires_in", "expires_on" (seconds) or "expires_on (ms)". */
  source: string = "";
  /** `refresh_in` in ms (0: not given). */
  refreshInMs: i64 = 0;
}

const ACCESS_TOKEN = utf8("\"access_token\"");
const EXPIRES_IN = utf8("\"expires_in\"");
const EXPIRES_ON = utf8("\"expires_on\"");
const REFRESH_IN = utf8("\"refresh_in\"");
export const ERROR = utf8("\"error\"");
export const ERROR_CODES = utf8("\"error_codes\"");

/** Reads a token answer received at `now`. */
export function readTokenAnswer(b: Uint8Array, now: i64): TokenAnswer {
  const a = new TokenAnswer();
  const t = stringAt(b, findValue(b, ACCESS_TOKEN), MAX_TOKEN, false);
  if (t === null || !isHeaderToken(t)) return a;
  a.token = t;
  // intAt reads at most 15 digits: 10^20 reads as 10^14, still far beyond the cap.
  const expiresIn = intAt(b, findValue(b, EXPIRES_IN));
  if (expiresIn > 0) {
    a.claimedMs = expiresIn * 1000;
    a.source = "expires_in";
  } else {
    const expiresOn = intAt(b, findValue(b, EXPIRES_ON));
    if (expiresOn > 0) {
      const inMs = expiresOn >= EPOCH_MS_FROM;
      a.claimedMs = (inMs ? expiresOn : expiresOn * 1000) - now;
      a.source = inMs ? "expires_on (ms)" : "expires_on";
    }
  }
  a.lifetimeMs = a.claimedMs > MAX_LIFETIME_MS ? MAX_LIFETIME_MS : a.claimedMs;
  const refreshIn = intAt(b, findValue(b, REFRESH_IN));
  if (refreshIn > 0) a.refreshInMs = refreshIn < MAX_LIFETIME_MS / 1000 ? refreshIn * 1000 : MAX_LIFETIME_MS;
  return a;
}

/** application/x-www-form-urlencoded / query component encoding. */
function formEncode(s: string): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = unchecked(bytes[i]);
    const plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
    if (plain) out += String.fromCharCode(c);
    else out += "%" + (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
  }
  return out;
}

/** The token request for `id`: headers and body of the http_call. */
export function tokenRequest(id: IdentityConfig): TokenCall {
  const call = new TokenCall();
  const resource = formEncode(id.resource() + "/");
  const clientId = id.clientId.length > 0 ? "&client_id=" + formEncode(id.clientId) : "";
  if (id.kind == IdentityKind.ClientCredentials) {
    call.headers = [":method", "POST", ":path", id.path, ":authority", id.host, ":scheme", "https",
      "content-type", "application/x-www-form-urlencoded", "accept", "application/json", "user-agent", "ai-failover"];
    call.body = String.UTF8.encode("grant_type=client_credentials&client_id=" + formEncode(id.clientId) + "&client_secret=" +
      formEncode(id.secret.reveal()) + "&scope=" + formEncode(id.scope));
  } else if (id.kind == IdentityKind.ManagedIdentity) {
    call.headers = [":method", "GET", ":path", id.path + "?api-version=2018-02-01&resource=" + resource + clientId, ":authority", id.host,
      ":scheme", "http", "metadata", "true", "user-agent", "ai-failover"];
  } else {
    call.headers = [":method", "GET", ":path", id.path + "?api-version=2019-08-01&resource=" + resource + clientId, ":authority", id.host,
      ":scheme", "http", "x-identity-header", id.secret.reveal(), "user-agent", "ai-failover"];
  }
  return call;
}

export class TokenCall {
  headers: string[] = [];
  body: ArrayBuffer = new ArrayBuffer(0);
}
