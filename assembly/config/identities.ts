// identities[]: the Microsoft Entra identities providers authenticate with instead of keys
// (Azure OpenAI resources with key authentication disabled). Each names how its tokens are
// obtained and the Envoy cluster that reaches the token endpoint:
//   clientCredentials  POST https://login.microsoftonline.com/{tenantId}/oauth2/v2.0/token
//   managedIdentity    GET  http://169.254.169.254/metadata/identity/oauth2/token (IMDS)
//   appService         GET  {IDENTITY_ENDPOINT} with X-IDENTITY-HEADER (App Service, Container Apps, Functions)
// Top level only: every Higress rule shares them. Secrets never appear in messages.

import { Credential, IdentityConfig, IdentityKind } from "./model";
import { EnvLookup } from "./env";
import { ArrReader, ObjReader } from "./walk";
import { checkHost } from "./host";
import { NAME_RULE, checkProbePath, isHeaderToken, isName } from "./patterns";
import { readSecret } from "./credential";
import { Fnv64, fnv1a32, hex } from "../lib/hash";
import { quote } from "./text";

export const MAX_IDENTITIES: i32 = 16;

/** 8-4-4-4-12 hexadecimal digits (Entra tenant, application and client ids). */
export function isGuid(s: string): bool {
  if (s.length != 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != 45) return false;
      continue;
    }
    const hexDigit = (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
    if (!hexDigit) return false;
  }
  return true;
}

/** A tenant: its id (GUID) or a verified domain ("contoso.onmicrosoft.com"). */
function isTenant(s: string): bool {
  if (isGuid(s)) return true;
  if (s.length == 0 || s.length > 253 || !s.includes(".")) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46;
    if (!ok) return false;
  }
  return true;
}

function readKind(o: ObjReader, id: IdentityConfig): bool {
  const t = o.str("type", true, "\"clientCredentials\", \"managedIdentity\" or \"appService\"");
  if (t === null) return false;
  if (t == "clientCredentials") id.kind = IdentityKind.ClientCredentials;
  else if (t == "managedIdentity") id.kind = IdentityKind.ManagedIdentity;
  else if (t == "appService") id.kind = IdentityKind.AppService;
  else {
    o.errs.add(o.pathOf("type"), "must be \"clientCredentials\", \"managedIdentity\" or \"appService\", found " + quote(t));
    return false;
  }
  return true;
}

function readClientId(o: ObjReader, id: IdentityConfig, required: bool): void {
  const v = o.str("clientId", required, required ? "the application (client) id, a GUID" : "");
  if (v === null) return;
  if (isGuid(v)) id.clientId = v;
  else o.errs.add(o.pathOf("clientId"), "must be a GUID (8-4-4-4-12 hexadecimal digits), found " + quote(v));
}

function readIdentity(o: ObjReader, env: EnvLookup): IdentityConfig {
  const id = new IdentityConfig();
  const name = o.str("name", true, "a unique name providers refer to");
  if (name !== null) {
    if (isName(name)) id.name = name;
    else o.errs.add(o.pathOf("name"), NAME_RULE + ", found " + quote(name));
  }
  const typed = readKind(o, id);
  const cluster = o.nonEmpty("cluster", true, "the Envoy cluster that reaches the token endpoint");
  if (cluster !== null) {
    if (isHeaderToken(cluster) && cluster.length <= 255) id.cluster = cluster;
    else o.errs.add(o.pathOf("cluster"), "must be at most 255 printable ASCII characters without spaces, found " + quote(cluster));
  }
  const kind = id.kind;
  const host = o.str("host", typed && kind == IdentityKind.AppService,
    "the identity endpoint's host:port (from IDENTITY_ENDPOINT, e.g. \"localhost:42356\")");
  if (host !== null) {
    const why = checkHost(host);
    if (why.length == 0) id.host = host;
    else o.errs.add(o.pathOf("host"), why);
  } else if (typed) {
    id.host = kind == IdentityKind.ClientCredentials ? "login.microsoftonline.com" : kind == IdentityKind.ManagedIdentity ? "169.254.169.254" : "";
  }
  if (typed) {
    if (kind == IdentityKind.ClientCredentials) {
      const tenant = o.str("tenantId", true, "the directory (tenant) id, a GUID, or a verified domain");
      if (tenant !== null) {
        if (isTenant(tenant)) id.tenantId = tenant;
        else o.errs.add(o.pathOf("tenantId"), "must be a GUID or a domain name such as \"contoso.onmicrosoft.com\", found " + quote(tenant));
      }
      readClientId(o, id, true);
      const secret = readSecret(o, env, "clientSecret", "clientSecretEnv", " for a clientCredentials identity", "it is sent in a form body");
      if (secret !== null) {
        id.secret = secret.credential;
        id.secretSource = secret.source;
      }
      o.reject("identityHeaderEnv", "only for type \"appService\"");
      o.reject("identityHeader", "only for type \"appService\"");
    } else {
      readClientId(o, id, false);
      o.reject("tenantId", "only for type \"clientCredentials\" (a managed identity's tenant is the resource's)");
      o.reject("clientSecret", "only for type \"clientCredentials\" (a managed identity has no secret)");
      o.reject("clientSecretEnv", "only for type \"clientCredentials\" (a managed identity has no secret)");
      if (kind == IdentityKind.AppService) {
        if (o.has("identityHeaderEnv") || o.has("identityHeader")) {
          const header = readSecret(o, env, "identityHeader", "identityHeaderEnv", " for an appService identity",
            "it is sent as the X-IDENTITY-HEADER header");
          if (header !== null) {
            id.secret = header.credential;
            id.secretSource = header.source;
          }
        } else {
          // App Service and Container Apps set IDENTITY_HEADER; the VM sees it only when listed.
          const v = env.get("IDENTITY_HEADER");
          if (v === null || v.length == 0 || !isHeaderToken(v)) {
            o.errs.add(o.pathOf("identityHeaderEnv"), "not set, and the environment variable IDENTITY_HEADER is " +
              (v === null ? "not set" : v.length == 0 ? "empty" : "not a printable header value") +
              ": list IDENTITY_HEADER in the VM's environment, or name the variable holding X-IDENTITY-HEADER here");
          } else {
            id.secret = new Credential(v);
            id.secretSource = "identityHeaderEnv:IDENTITY_HEADER";
          }
        }
      } else {
        o.reject("identityHeaderEnv", "only for type \"appService\"");
        o.reject("identityHeader", "only for type \"appService\"");
      }
    }
    const defaultPath = kind == IdentityKind.ClientCredentials ? "/" + id.tenantId + "/oauth2/v2.0/token"
      : kind == IdentityKind.ManagedIdentity ? "/metadata/identity/oauth2/token" : "/msi/token";
    const path = o.str("path", false);
    if (path !== null) {
      const why = checkProbePath(path);
      if (why.length > 0) o.errs.add(o.pathOf("path"), why + ", found " + quote(path));
      else if (path.includes("?")) o.errs.add(o.pathOf("path"), "must not carry a query (the gateway adds the parameters), found " + quote(path));
      else id.path = path;
    } else {
      id.path = defaultPath;
    }
  } else {
    o.field("tenantId"); o.field("clientId"); o.field("clientSecret"); o.field("clientSecretEnv"); o.field("identityHeaderEnv"); o.field("identityHeader"); o.field("path");
  }
  const scope = o.str("scope", false);
  if (scope !== null) {
    if (scope.startsWith("https://") && scope.length > 8 && isHeaderToken(scope) && !scope.includes("?") && !scope.includes("&")) id.scope = scope;
    else o.errs.add(o.pathOf("scope"), "must be an https:// scope such as \"https://cognitiveservices.azure.com/.default\", found " + quote(scope));
  }
  id.timeoutMs = o.duration("timeout", 5000, 100, 60000);
  o.finish();
  id.fingerprint = identityFingerprint(id);
  return id;
}

function identityFingerprint(id: IdentityConfig): string {
  const f = new Fnv64();
  f.str("kind=").int(<i32>id.kind);
  f.str("\ncluster=").str(id.cluster);
  f.str("\nhost=").str(id.host);
  f.str("\npath=").str(id.path);
  f.str("\ntenant=").str(id.tenantId);
  f.str("\nclient=").str(id.clientId);
  f.str("\nscope=").str(id.scope);
  f.str("\nsecret=").hex(<u64>fnv1a32(id.secret.reveal()), 8);
  return hex(f.h, 16);
}

/** Reads the top-level `identities` (optional, 1..16 entries, unique names). */
export function readIdentities(root: ObjReader, env: EnvLookup): IdentityConfig[] {
  const out: IdentityConfig[] = [];
  const list: ArrReader | null = root.arr("identities");
  if (list === null) return out;
  if (list.length > MAX_IDENTITIES) {
    root.errs.add(list.path, "at most " + MAX_IDENTITIES.toString() + " identities are supported, found " + list.length.toString());
  }
  const names = new Map<string, string>();
  for (let i = 0; i < list.length; i++) {
    const o = list.objAt(i);
    if (o === null) continue;
    const id = readIdentity(o, env);
    if (id.name.length > 0) {
      if (names.has(id.name)) {
        root.errs.add(o.pathOf("name"), "duplicate identity name " + quote(id.name) + " (also " + names.get(id.name) + "); names must be unique");
        continue;
      }
      names.set(id.name, list.pathAt(i));
    }
    out.push(id);
  }
  return out;
}
