// clusterLimits' two engines in the configuration: exactly one of rateLimitService or redis, the
// Redis fields and their errors (by path), the schema saying the same, and a Redis password that
// never appears in an error.
import { readFileSync } from "node:fs";
import Ajv2020Module from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";
import { INVALID_ENV, minimal } from "./config-fixtures.js";

const schema = JSON.parse(readFileSync(new URL("../../assembly/config/ai-failover.schema.json", import.meta.url), "utf8"));
const Ajv2020 = ((Ajv2020Module as unknown as { default?: typeof Ajv2020Module }).default ?? Ajv2020Module) as unknown as new (opts: object) => import("ajv").default;
const validate = new Ajv2020({ allErrors: true, allowUnionTypes: true, strict: true }).compile(schema);

const PASSWORD = "Redis-Pw-7hQ2xZ9kLm";
const ENV = [...Object.entries(INVALID_ENV).map(([k, v]) => `${k}=${v}`), "REDIS_PW=" + PASSWORD].join("\n");

function errorsOf(clusterLimits: unknown): string[] {
  const out = JSON.parse(configSummary(JSON.stringify({ ...minimal(), clusterLimits }), ENV));
  return out.errors ?? [];
}
const schemaOk = (clusterLimits: unknown) => validate(JSON.parse(JSON.stringify({ ...minimal(), clusterLimits }))) as boolean;

const VALID: [string, unknown][] = [
  ["rate limit service", { rateLimitService: { cluster: "ratelimit" } }],
  ["redis by service name", { redis: { service: "redis.dns" }, replicas: 3 }],
  ["redis with every field", {
    redis: { service: "redis.ns.svc.cluster.local", servicePort: 6380, username: "gw", passwordEnv: "REDIS_PW", database: 2, keyPrefix: "llm-gw", timeout: "50ms" },
    leaseTokens: 1000, failureMode: "closed", replicas: 3, retryAfter: "2s",
  }],
  ["redis by cluster name, inline password", { redis: { service: "outbound|6379||redis.dns", password: PASSWORD } }],
  ["rate limit service without shared cooldowns", { rateLimitService: { cluster: "ratelimit" }, shareCooldowns: false }],
  ["redis with shared cooldowns (the default)", { redis: { service: "redis.dns" }, shareCooldowns: true }],
];

const INVALID: [string, unknown, string[]][] = [
  ["neither engine", { replicas: 3 }, [
    "clusterLimits: one of rateLimitService (Envoy's rate limit service, reached over gRPC) or redis (Redis through Higress's Redis calls, build/ai-failover-higress.wasm only) is required",
  ]],
  ["both engines", { rateLimitService: { cluster: "ratelimit" }, redis: { service: "redis.dns" } }, [
    "clusterLimits: set exactly one of rateLimitService (Envoy's rate limit service) or redis (Higress's Redis calls, the Higress build), not both",
  ]],
  ["redis without service", { redis: {} }, [
    "clusterLimits.redis.service: required (the Redis service, as Higress names it: \"redis.dns\", \"redis.ns.svc.cluster.local\", or its cluster \"outbound|6379||redis.dns\")",
  ]],
  ["redis service with a space", { redis: { service: "my redis" } }, [
    "clusterLimits.redis.service: must be a service name (letters, digits, '.', '-', '_'), found \"my redis\"",
  ]],
  ["redis cluster name with a port", { redis: { service: "outbound|6379||redis.dns", servicePort: 6379 } }, [
    "clusterLimits.redis.servicePort: not with a cluster name in service (its port is in the name)",
  ]],
  ["redis port out of range", { redis: { service: "redis.dns", servicePort: 70000 } }, ["clusterLimits.redis.servicePort: must be an integer between 1 and 65535, found 70000"]],
  ["redis both passwords", { redis: { service: "redis.dns", password: PASSWORD, passwordEnv: "REDIS_PW" } }, [
    "clusterLimits.redis: set exactly one of password or passwordEnv, not both",
  ]],
  ["redis password env unset", { redis: { service: "redis.dns", passwordEnv: "NO_SUCH_PW" } }, [
    "clusterLimits.redis.passwordEnv: environment variable \"NO_SUCH_PW\" is not set: it must be listed in the VM's environment (Envoy: vm_config.environment_variables key_values, or host_env_keys with the variable set for Envoy; Higress: vmConfig.env)",
  ]],
  ["redis username without password", { redis: { service: "redis.dns", username: "gw" } }, [
    "clusterLimits.redis.username: a username needs a password (set password or passwordEnv)",
  ]],
  ["redis unknown field", { redis: { service: "redis.dns", db: 1 } }, ["clusterLimits.redis.db: unknown field"]],
  ["redis bad key prefix", { redis: { service: "redis.dns", keyPrefix: "a:b" } }, [
    "clusterLimits.redis.keyPrefix: must match [A-Za-z0-9._-]{1,64}, found \"a:b\"",
  ]],
  ["shareCooldowns not a boolean", { rateLimitService: { cluster: "ratelimit" }, shareCooldowns: "yes" }, ["clusterLimits.shareCooldowns: "]],
  ["redis timeout too long", { redis: { service: "redis.dns", timeout: "2m" } }, ["clusterLimits.redis.timeout: must be between 1ms and 1m, found \"2m\""]],
];

describe("clusterLimits: rateLimitService or redis", () => {
  it.each(VALID)("valid: %s (filter and schema)", (_n, c) => {
    expect(errorsOf(c)).toEqual([]);
    expect(schemaOk(c)).toBe(true);
  });

  it.each(INVALID)("invalid: %s — every problem by its path", (_n, c, want) => {
    const errs = errorsOf(c);
    for (const w of want) expect(errs.some((e) => e.startsWith(w)), `${w}\n in ${JSON.stringify(errs)}`).toBe(true);
  });

  // Beyond a schema: the environment, rules across fields, duration ranges.
  const schemaCannot = /env unset|username without|cluster name with a port|both passwords|timeout too long/;
  it.each(INVALID.filter(([n]) => !schemaCannot.test(n)))("the schema refuses it too: %s", (_n, c) => {
    expect(schemaOk(c)).toBe(false);
  });

  it("a Redis password is never in an error message, whatever is wrong around it", () => {
    const cases = [
      { redis: { service: "bad service", password: PASSWORD } },
      { redis: { service: "redis.dns", password: PASSWORD, passwordEnv: "REDIS_PW" } },
      { redis: { service: "redis.dns", password: PASSWORD + " x" } },
      { redis: { service: "redis.dns", passwordEnv: PASSWORD } },
      { redis: { service: "redis.dns", password: PASSWORD, pasword: PASSWORD } },
    ];
    for (const c of cases) {
      const errs = errorsOf(c);
      expect(errs.length, JSON.stringify(c)).toBeGreaterThan(0);
      expect(errs.join("\n")).not.toContain(PASSWORD);
      expect(errs.join("\n")).not.toContain(PASSWORD.slice(-6));
    }
  });
});
