// Credentials: exactly one of `apiKey` (inline) or `apiKeyEnv` (a variable name resolved
// through EnvLookup). A missing, empty or malformed credential is a configuration error, never
// a runtime 401. No message ever contains a secret, whole or in part.

import { Credential } from "./model";
import { EnvLookup } from "./env";
import { ObjReader, readString } from "./walk";
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

const HEADER_RULE = "must contain only printable ASCII characters without spaces (it is sent as a header value)";

/** Reads `apiKey` | `apiKeyEnv` from `o`; null (with errors recorded) when unusable. */
export function readCredential(o: ObjReader, env: EnvLookup, where: string): CredentialRead | null {
  const hasKey = o.has("apiKey");
  const hasEnv = o.has("apiKeyEnv");
  if (hasKey && hasEnv) {
    o.field("apiKey");
    o.field("apiKeyEnv");
    o.errs.add(o.path, "set exactly one of apiKey or apiKeyEnv, not both");
    return null;
  }
  if (!hasKey && !hasEnv) {
    o.errs.add(o.path, "a credential is required" + where + ": set apiKey, or apiKeyEnv naming an environment variable");
    return null;
  }
  if (hasKey) {
    const v = o.field("apiKey")!;
    const path = o.pathOf("apiKey");
    const s = readString(v, path, o.errs);
    if (s === null) return null;
    if (s.length == 0) {
      o.errs.add(path, "must not be empty");
      return null;
    }
    if (!isHeaderToken(s)) {
      o.errs.add(path, HEADER_RULE + "; value not shown");
      return null;
    }
    return new CredentialRead(new Credential(s), "apiKey", path);
  }
  const v = o.field("apiKeyEnv")!;
  const path = o.pathOf("apiKeyEnv");
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
    o.errs.add(path, "environment variable " + envNameForMessage(name) + " is empty: give it the key (the VM sees it, with no value)");
    return null;
  }
  if (!isHeaderToken(value)) {
    o.errs.add(path, "environment variable " + envNameForMessage(name) + " " + HEADER_RULE + " (check for a trailing newline)");
    return null;
  }
  return new CredentialRead(new Credential(value), "apiKeyEnv:" + name, path);
}
