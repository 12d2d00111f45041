/**
 * Credentials on a request: every credential-bearing header is recorded (the security tests
 * fail on any foreign or empty credential), and one of them is used to authenticate, the
 * way each service does it:
 * - Azure: `api-key` first (any path); else `Authorization: Bearer` — an Entra ID token on
 *   any path, or an API key on /openai/v1 only. No credential → "missing subscription key".
 * - OpenAI: `Authorization: Bearer` only.
 */
import {
  AZURE_401_BAD_TOKEN,
  AZURE_401_INVALID_KEY,
  AZURE_401_MISSING_KEY,
  openai401,
} from "./error-bodies.ts";
import type { Credential, ProviderKind, Surface } from "./types.ts";

const HEADER_SCHEMES: Record<string, Credential["scheme"]> = {
  "api-key": "api-key",
  "x-api-key": "x-api-key",
  "ocp-apim-subscription-key": "ocp-apim-subscription-key",
};

/** All credentials in raw header order (lower-case names), duplicates and empty values kept. */
export function credentialsOf(rawHeaders: Array<[string, string]>): Credential[] {
  const out: Credential[] = [];
  for (const [name, value] of rawHeaders) {
    if (name === "authorization") {
      const m = /^bearer(?:\s+([\s\S]*))?$/i.exec(value);
      out.push(m ? { scheme: "bearer", value: m[1] ?? "" } : { scheme: "authorization", value });
    } else if (HEADER_SCHEMES[name]) {
      out.push({ scheme: HEADER_SCHEMES[name]!, value });
    }
  }
  return out;
}

export function primaryCredential(kind: ProviderKind, all: Credential[]): Credential {
  const apiKey = all.find((c) => c.scheme === "api-key");
  const bearer = all.find((c) => c.scheme === "bearer");
  const chosen = kind === "azure" ? (apiKey ?? bearer) : bearer;
  return chosen ?? { scheme: "none", value: "" };
}

export interface AcceptedCredentials {
  keys: ReadonlySet<string>;
  entraTokens: ReadonlySet<string>;
  /** Tokens checked against the issuer: valid for one of these identities and unexpired. */
  tokens?: { authority: import("./entra.ts").TokenAuthority; identities: ReadonlySet<string> };
}

function tokenAccepted(accepted: AcceptedCredentials, token: string): boolean {
  if (accepted.entraTokens.has(token)) return true;
  const t = accepted.tokens;
  if (!t) return false;
  const v = t.authority.check(token);
  return v.ok && t.identities.has(v.identity);
}

/** undefined = authenticated; otherwise the exact 401 body to send. */
export function authenticate(
  kind: ProviderKind,
  surface: Surface | "unknown",
  cred: Credential,
  accepted: AcceptedCredentials,
): string | undefined {
  if (kind === "openai") {
    if (cred.scheme === "bearer") return accepted.keys.has(cred.value) ? undefined : openai401(cred.value);
    return openai401(undefined);
  }
  switch (cred.scheme) {
    case "api-key":
      return accepted.keys.has(cred.value) ? undefined : AZURE_401_INVALID_KEY;
    case "bearer":
      if (tokenAccepted(accepted, cred.value)) return undefined;
      if (surface === "azure-v1") return accepted.keys.has(cred.value) ? undefined : AZURE_401_INVALID_KEY;
      return AZURE_401_BAD_TOKEN;
    default:
      return AZURE_401_MISSING_KEY;
  }
}
