// Issue 10: auth by Microsoft Entra identity and several credentials per provider — the
// configuration contract. Every malformed auth / identities block is rejected as a whole with
// each problem at its path; no message shows a secret.
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "11111111-2222-3333-4444-555555555555";
const SECRET = "Qx8~secret.value_ABCDEFGH12345";
const KEY1 = "key1-0123456789abcdefKEY1";
const KEY2 = "key2-0123456789abcdefKEY2";
const ENV: Record<string, string> = { APP_SECRET: SECRET, K1: KEY1, K2: KEY2, IDENTITY_HEADER: "ih-0123456789abcdef" };

function summary(cfg: unknown, env: Record<string, string> = ENV): { config?: any; errors?: string[] } {
  const text = Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n");
  return JSON.parse(configSummary(JSON.stringify(cfg), text));
}
const errorsOf = (cfg: unknown, env?: Record<string, string>) => summary(cfg, env).errors ?? [];

const azure = (auth: unknown, name = "east") => ({
  name, type: "azure-openai", cluster: name, host: `${name}.openai.azure.com`, apiVersion: "2024-10-21",
  deployments: { "gpt-4o": "gpt4o" }, auth,
});
const app = () => ({ name: "app", type: "clientCredentials", cluster: "entra", tenantId: TENANT, clientId: CLIENT, clientSecretEnv: "APP_SECRET" });
const vm = () => ({ name: "vm", type: "managedIdentity", cluster: "imds" });

describe("identities", () => {
  it("reads the three kinds with their defaults", () => {
    const out = summary({
      identities: [app(), { ...vm(), clientId: CLIENT }, { name: "site", type: "appService", cluster: "msi", host: "localhost:42356" }],
      providers: [azure({ identity: "app" }), azure({ identity: "vm" }, "west"), azure({ identity: "site" }, "north")],
    });
    expect(out.errors).toBeUndefined();
    const [a, v, s] = out.config.identities;
    expect(a).toMatchObject({ type: "clientCredentials", host: "login.microsoftonline.com", path: `/${TENANT}/oauth2/v2.0/token`,
      tenantId: TENANT, clientId: CLIENT, secretSource: "clientSecretEnv:APP_SECRET", scope: "https://cognitiveservices.azure.com/.default",
      timeoutMs: 5000 });
    expect(a.secret).toBe("****" + SECRET.slice(-4));
    expect(v).toMatchObject({ type: "managedIdentity", host: "169.254.169.254", path: "/metadata/identity/oauth2/token", clientId: CLIENT, secret: "" });
    expect(s).toMatchObject({ type: "appService", host: "localhost:42356", path: "/msi/token", secretSource: "identityHeaderEnv:IDENTITY_HEADER" });
    const [east] = out.config.providers;
    expect(east.credential).toBe("identity app");
    expect(east.credentialSource).toBe("identity:app");
    // The secret never appears anywhere in the summary.
    expect(JSON.stringify(out)).not.toContain(SECRET);
  });

  it("a changed identity changes its providers' records (state starts afresh), an unchanged one keeps them", () => {
    const base = { identities: [app()], providers: [azure({ identity: "app" })] };
    const fp = (c: unknown) => summary(c).config.providers[0].fingerprint;
    const other = { identities: [{ ...app(), clientId: "99999999-2222-3333-4444-555555555555" }], providers: [azure({ identity: "app" })] };
    expect(fp(base)).toBe(fp(structuredClone(base)));
    expect(fp(other)).not.toBe(fp(base));
  });

  it.each([
    ["unknown type", { identities: [{ ...app(), type: "workload" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].type: must be \"clientCredentials\", \"managedIdentity\" or \"appService\", found \"workload\""]],
    ["client credentials without tenant, client and secret",
      { identities: [{ name: "app", type: "clientCredentials", cluster: "entra" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].tenantId: required (the directory (tenant) id, a GUID, or a verified domain)",
        "identities[0].clientId: required (the application (client) id, a GUID)",
        "identities[0]: clientSecret is required for a clientCredentials identity: set clientSecret, or clientSecretEnv naming an environment variable"]],
    ["client id not a GUID", { identities: [{ ...app(), clientId: "my-app" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].clientId: must be a GUID (8-4-4-4-12 hexadecimal digits), found \"my-app\""]],
    ["secret variable unset", { identities: [{ ...app(), clientSecretEnv: "NOPE" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].clientSecretEnv: environment variable \"NOPE\" is not set: it must be listed in the VM's environment (Envoy: vm_config.environment_variables key_values, or host_env_keys with the variable set for Envoy; Higress: vmConfig.env)"]],
    ["secret inline and from the environment", { identities: [{ ...app(), clientSecret: SECRET }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0]: set exactly one of clientSecret or clientSecretEnv, not both"]],
    ["a managed identity with a secret and a tenant", { identities: [{ ...vm(), tenantId: TENANT, clientSecret: SECRET }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].tenantId: only for type \"clientCredentials\" (a managed identity's tenant is the resource's)",
        "identities[0].clientSecret: only for type \"clientCredentials\" (a managed identity has no secret)"]],
    ["app service without host nor header", { identities: [{ name: "site", type: "appService", cluster: "msi" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].host: required (the identity endpoint's host:port (from IDENTITY_ENDPOINT, e.g. \"localhost:42356\"))",
        "identities[0].identityHeaderEnv: not set, and the environment variable IDENTITY_HEADER is not set: list IDENTITY_HEADER in the VM's environment, or name the variable holding X-IDENTITY-HEADER here"],
      { K1: KEY1 }],
    ["duplicate names", { identities: [app(), app()], providers: [azure({ apiKey: KEY1 })] },
      ["identities[1].name: duplicate identity name \"app\" (also identities[0]); names must be unique"]],
    ["a scope that is not https", { identities: [{ ...app(), scope: "api://x/.default" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].scope: must be an https:// scope such as \"https://cognitiveservices.azure.com/.default\", found \"api://x/.default\""]],
    ["a path with a query", { identities: [{ ...vm(), path: "/token?x=1" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].path: must not carry a query (the gateway adds the parameters), found \"/token?x=1\""]],
    ["an unknown member", { identities: [{ ...app(), secret: "x" }], providers: [azure({ apiKey: KEY1 })] },
      ["identities[0].secret: unknown field"]],
    ["identities in a rule", { identities: [app()], providers: [azure({ identity: "app" })], _rules_: [{ _match_route_: ["r"], identities: [] }] },
      ["_rules_[0].identities: identities are shared by every rule: list them at the top level"]],
  ] as [string, unknown, string[], Record<string, string>?][])("%s", (_n, cfg, expected, env) => {
    const errors = errorsOf(cfg, env);
    for (const e of expected) expect(errors).toContain(e);
    expect(errors.join("\n")).not.toContain(SECRET);
  });
});

describe("provider auth", () => {
  it("a list of credentials, shared quota by default", () => {
    const out = summary({ identities: [app()], providers: [azure({ credentials: [{ apiKeyEnv: "K1" }, { apiKeyEnv: "K2" }, { identity: "app" }] })] });
    expect(out.errors).toBeUndefined();
    const p = out.config.providers[0];
    expect(p.credentials).toEqual(["****KEY1", "****KEY2", "identity app"]);
    expect(p.credentialSources).toEqual(["apiKeyEnv:K1", "apiKeyEnv:K2", "identity:app"]);
    expect(p.quota).toBe("shared");
    expect(p.credential).toBe("****KEY1");
    expect(JSON.stringify(out)).not.toContain(KEY1);
  });

  it("quota perCredential", () => {
    const out = summary({ providers: [azure({ credentials: [{ apiKey: KEY1 }, { apiKey: KEY2 }], quota: "perCredential" })] });
    expect(out.config.providers[0].quota).toBe("perCredential");
  });

  it("a provider's fingerprint is unchanged for a single key (state survives the upgrade) and changes with its credentials", () => {
    const fp = (auth: unknown) => summary({ providers: [azure(auth)] }).config.providers[0].fingerprint;
    expect(fp({ apiKey: KEY1 })).toBe(fp({ credentials: [{ apiKey: KEY1 }] }));
    expect(fp({ credentials: [{ apiKey: KEY1 }, { apiKey: KEY2 }] })).not.toBe(fp({ apiKey: KEY1 }));
    expect(fp({ credentials: [{ apiKey: KEY1 }, { apiKey: KEY2 }] })).not.toBe(fp({ credentials: [{ apiKey: KEY2 }, { apiKey: KEY1 }] }));
  });

  it.each([
    ["an unknown identity", { identities: [app()], providers: [azure({ identity: "ap" })] },
      ["providers[0].auth.identity: names no identity: \"ap\" is not one of \"app\""]],
    ["an identity without identities", { providers: [azure({ identity: "app" })] },
      ["providers[0].auth.identity: names no identity: \"app\" (the top-level identities list is empty)"]],
    ["a key and an identity", { identities: [app()], providers: [azure({ apiKey: KEY1, identity: "app" })] },
      ["providers[0].auth: set exactly one of apiKey, apiKeyEnv or identity"]],
    ["credentials and a key", { providers: [azure({ apiKey: KEY1, credentials: [{ apiKey: KEY2 }] })] },
      ["providers[0].auth: set either credentials (a list) or one of apiKey, apiKeyEnv, identity, not both"]],
    ["an empty list", { providers: [azure({ credentials: [] })] }, ["providers[0].auth.credentials: must list at least one credential"]],
    ["nine credentials", { providers: [azure({ credentials: Array.from({ length: 9 }, (_, i) => ({ apiKey: `key-${i}-0123456789abcdef` })) })] },
      ["providers[0].auth.credentials: at most 8 credentials per provider, found 9"]],
    ["the same key twice", { providers: [azure({ credentials: [{ apiKeyEnv: "K1" }, { apiKey: KEY1 }] })] },
      ["providers[0].auth.credentials[1]: the same credential as providers[0].auth.credentials[0] (value not shown): list each credential once"]],
    ["an entry with nothing", { providers: [azure({ credentials: [{ apiKey: KEY1 }, {}] })] },
      ["providers[0].auth.credentials[1]: a credential is required for every provider: set apiKey, apiKeyEnv naming an environment variable, identity naming an entry of identities, or credentials listing several"]],
    ["an entry not an object", { providers: [azure({ credentials: [KEY1] })] },
      ["providers[0].auth.credentials[0]: expected an object, found a string"]],
    ["an unknown member in an entry", { providers: [azure({ credentials: [{ apiKey: KEY1, weight: 2 }] })] },
      ["providers[0].auth.credentials[0].weight: unknown field"]],
    ["quota without a list", { providers: [azure({ apiKey: KEY1, quota: "shared" })] }, ["providers[0].auth.quota: only with credentials (a list of several)"]],
    ["an unknown quota", { providers: [azure({ credentials: [{ apiKey: KEY1 }], quota: "split" })] },
      ["providers[0].auth.quota: must be \"shared\" (one rate-limit window; the first credential not rejected is used) or \"perCredential\" (each credential its own window and health), found \"split\""]],
    ["a consumer key equal to a listed provider key", { providers: [azure({ credentials: [{ apiKey: KEY1 }, { apiKey: KEY2 }] })],
      consumers: [{ name: "c", apiKey: KEY2 }] },
      ["consumers[0].apiKey: equals the credential of provider \"east\": a client could present a provider key; issue consumers their own keys"]],
  ] as [string, unknown, string[]][])("%s", (_n, cfg, expected) => {
    const errors = errorsOf(cfg);
    for (const e of expected) expect(errors).toContain(e);
    const all = errors.join("\n");
    expect(all).not.toContain(KEY1);
    expect(all).not.toContain(KEY2);
  });
});
