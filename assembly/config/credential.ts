// Credentials: exactly one of `apiKey` (inline) or `apiKeyEnv` (a variable name resolved
// through EnvLookup). A missing, empty or malformed credential is a configuration error, never
// a runtime 401. No message ever contains a secret, whole or in part.

import { Credential, IdentityConfig, ProviderConfig } from "./provider_model";
import { EnvLookup } from "./env";
import { ArrReader, ObjReader, readString } from "./walk";
import { isEnvName, isHeaderToken } from "./patterns";
import { quote } from "./text";

export class CredentialRead {
  credential: Credential;
  /** "apiKey" or "apiKeyEnv:NAME". */
  source: string;
  /** Path of the member the credential came from (for later cross-checks). */
  path: string;
  constructor(credential: Credential, source: string, path: string) {
    this.credential = credential;
    this.source = source;
    this.path = path;
  }
}

/**
 * A variable name for messages. A value that looks like a key (long, no '_') was probably a
 * key pasted into apiKeyEnv: it is not echoed.
 */
function envNameForMessage(name: string): string {
  if (name.length >= 20 && !name.includes("_")) return "(name not shown: it looks like a key rather than a variable name)";
  return quote(name);
}

/** Reads `apiKey` | `apiKeyEnv` from `o`; null (with errors recorded) when unusable. */
export function readCredential(o: ObjReader, env: EnvLookup, where: string): CredentialRead | null {
  return readSecret(o, env, "apiKey", "apiKeyEnv", where, "it is sent as a header value");
}

/**
 * Reads a secret given inline (`inline`) or through an environment variable (`fromEnv`):
 * exactly one of them. Null (with errors recorded) when unusable; messages never show a value.
 */
export function readSecret(o: ObjReader, env: EnvLookup, inline: string, fromEnv: string, where: string, sentAs: string): CredentialRead | null {
  const hasKey = o.has(inline);
  const hasEnv = o.has(fromEnv);
  const rule = "must contain only printable ASCII characters without spaces (" + sentAs + ")";
  if (hasKey && hasEnv) {
    o.field(inline);
    o.field(fromEnv);
    o.errs.add(o.path, "set exactly one of " + inline + " or " + fromEnv + ", not both");
    return null;
  }
  if (!hasKey && !hasEnv) {
    o.errs.add(o.path, (inline == "apiKey" ? "a credential" : inline) + " is required" + where + ": set " + inline + ", or " + fromEnv +
      " naming an environment variable");
    return null;
  }
  if (hasKey) {
    const v = o.field(inline)!;
    const path = o.pathOf(inline);
    const s = readString(v, path, o.errs);
    if (s === null) return null;
    if (s.length == 0) {
      o.errs.add(path, "must not be empty");
      return null;
    }
    if (!isHeaderToken(s)) {
      o.errs.add(path, rule + "; value not shown");
      return null;
    }
    return new CredentialRead(new Credential(s), inline, path);
  }
  const v = o.field(fromEnv)!;
  const path = o.pathOf(fromEnv);
  const name = readString(v, path, o.errs);
  if (name === null) return null;
  if (!isEnvName(name)) {
    o.errs.add(path, "must be an environment variable name (letters, digits and '_', not starting with a digit); value not shown");
    return null;
  }
  const value = env.get(name);
  if (value === null) {
    o.errs.add(path, "environment variable " + envNameForMessage(name) + " is not set: it must be listed in the VM's environment " +
      "(Envoy: vm_config.environment_variables key_values, or host_env_keys with the variable set for Envoy; Higress: vmConfig.env)");
    return null;
  }
  if (value.length == 0) {
    o.errs.add(path, "environment variable " + envNameForMessage(name) + " is empty: give it the " + (inline == "apiKey" ? "key" : "value") +
      " (the VM sees it, with no value)");
    return null;
  }
  if (!isHeaderToken(value)) {
    o.errs.add(path, "environment variable " + envNameForMessage(name) + " " + rule + " (check for a trailing newline)");
    return null;
  }
  return new CredentialRead(new Credential(value), fromEnv + ":" + name, path);
}

/** Most credentials one provider may list (their rejection marks fit one byte of its state). */
export const MAX_CREDENTIALS: i32 = 8;

/** `{ identity: NAME }`: a credential standing for a configured identity's token. */
function readIdentityRef(o: ObjReader, identities: IdentityConfig[]): CredentialRead | null {
  const path = o.pathOf("identity");
  const name = readString(o.field("identity")!, path, o.errs);
  if (name === null) return null;
  for (let i = 0; i < identities.length; i++) {
    const id = unchecked(identities[i]);
    if (id.name == name) return new CredentialRead(new Credential("", id), "identity:" + name, path);
  }
  const names: string[] = [];
  for (let i = 0; i < identities.length; i++) names.push(quote(unchecked(identities[i]).name));
  o.errs.add(path, "names no identity: " + quote(name) + (identities.length == 0 ? " (the top-level identities list is empty)"
    : " is not one of " + names.join(", ")));
  return null;
}

/** One credential of a provider: apiKey | apiKeyEnv | identity. */
function readProviderCredential(o: ObjReader, env: EnvLookup, identities: IdentityConfig[]): CredentialRead | null {
  if (!o.has("identity")) {
    if (!o.has("apiKey") && !o.has("apiKeyEnv")) {
      o.field("identity");
      o.errs.add(o.path, "a credential is required for every provider: set apiKey, apiKeyEnv naming an environment variable, " +
        "identity naming an entry of identities, or credentials listing several");
      return null;
    }
    return readCredential(o, env, " for every provider");
  }
  if (o.has("apiKey") || o.has("apiKeyEnv")) {
    o.field("apiKey");
    o.field("apiKeyEnv");
    o.errs.add(o.path, "set exactly one of apiKey, apiKeyEnv or identity");
    return null;
  }
  return readIdentityRef(o, identities);
}

/**
 * A provider's `auth`: one credential (`apiKey` | `apiKeyEnv` | `identity`), or
 * `credentials: [ … ]` (1..8 of them, each one of those) with `quota: "shared" | "perCredential"`.
 */
export function readProviderAuth(auth: ObjReader, env: EnvLookup, identities: IdentityConfig[], p: ProviderConfig): void {
  if (!auth.has("credentials")) {
    auth.reject("quota", "only with credentials (a list of several)");
    const c = readProviderCredential(auth, env, identities);
    if (c !== null) {
      p.credentials = [c.credential];
      p.credentialSources = [c.source];
    }
  } else {
    if (auth.has("apiKey") || auth.has("apiKeyEnv") || auth.has("identity")) {
      auth.field("apiKey");
      auth.field("apiKeyEnv");
      auth.field("identity");
      auth.errs.add(auth.path, "set either credentials (a list) or one of apiKey, apiKeyEnv, identity, not both");
    }
    const list: ArrReader | null = auth.arr("credentials");
    if (list !== null) {
      if (list.length == 0) auth.errs.add(list.path, "must list at least one credential");
      if (list.length > MAX_CREDENTIALS) {
        auth.errs.add(list.path, "at most " + MAX_CREDENTIALS.toString() + " credentials per provider, found " + list.length.toString());
      }
      const at: i32[] = [];
      for (let i = 0; i < list.length && i < MAX_CREDENTIALS; i++) {
        const o = list.objAt(i);
        if (o === null) continue;
        const c = readProviderCredential(o, env, identities);
        o.finish();
        if (c === null) continue;
        for (let k = 0; k < p.credentials.length; k++) {
          if (unchecked(p.credentials[k]).equals(c.credential)) {
            auth.errs.add(list.pathAt(i), "the same credential as " + list.pathAt(unchecked(at[k])) + " (value not shown): list each credential once");
          }
        }
        p.credentials.push(c.credential);
        p.credentialSources.push(c.source);
        at.push(i);
      }
    }
    const quota = auth.str("quota", false);
    if (quota !== null) {
      if (quota == "perCredential") p.quotaPerCredential = true;
      else if (quota != "shared") auth.errs.add(auth.pathOf("quota"), "must be \"shared\" (one rate-limit window; the first credential not rejected is used) " +
        "or \"perCredential\" (each credential its own window and health), found " + quote(quota));
    }
  }
  if (p.credentials.length > 0) {
    p.credential = unchecked(p.credentials[0]);
    p.credentialSource = unchecked(p.credentialSources[0]);
  }
}
