// `ai-failover validate` and clusterLimits.redis: a Higress configuration (a WasmPlugin, or a plain
// configuration using Redis) is checked by the Higress build, which can serve it; an Envoy bootstrap
// by the Envoy build, which names the problem.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { LOCAL_YAML, ROOT } from "../support/stack.ts";

const DIR = `${ROOT}test/.build/validate-redis`;
mkdirSync(DIR, { recursive: true });
const REDIS = { redis: { service: "redis.dns", passwordEnv: "REDIS_PASSWORD" }, replicas: 3 };

function validate(file: string) {
  const r = spawnSync(process.execPath, [`${ROOT}bin/ai-failover.mjs`, "validate", file], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("ai-failover validate with clusterLimits.redis", () => {
  it("the shipped WasmPlugin with its commented clusterLimits.redis switched on is OK (checked by the Higress build)", () => {
    const docs = parseAllDocuments(readFileSync(`${ROOT}envoy/higress-wasmplugin.yaml`, "utf8")).map((d) => d.toJS());
    const plugin = docs.find((d) => d?.kind === "WasmPlugin");
    plugin.spec.defaultConfig.clusterLimits = REDIS;
    plugin.spec.vmConfig.env.push({ name: "REDIS_PASSWORD", valueFrom: "HOST" });
    const file = `${DIR}/wasmplugin.yaml`;
    writeFileSync(file, docs.map((d) => stringify(d)).join("---\n"));
    const r = validate(file);
    expect(r.out).toContain(`${file}: OK`);
    expect(r.code).toBe(0);
  });

  it("a plain configuration using Redis is OK; without its password variable the problem is named", () => {
    const cfg = JSON.parse(parse(LOCAL_YAML).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration.value);
    const ok = `${DIR}/plain.json`;
    writeFileSync(ok, JSON.stringify({ ...cfg, providers: cfg.providers.map((p: any) => ({ ...p, auth: { apiKey: `key-of-${p.name}-0123456789` } })), clusterLimits: { redis: { service: "redis.dns" } } }));
    expect(validate(ok).code).toBe(0);
    const bad = `${DIR}/plain-bad.json`;
    writeFileSync(bad, JSON.stringify({ ...cfg, providers: cfg.providers.map((p: any) => ({ ...p, auth: { apiKey: `key-of-${p.name}-0123456789` } })), clusterLimits: REDIS }));
    const r = validate(bad);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/clusterLimits\.redis\.passwordEnv: environment variable "REDIS_PASSWORD" is not set/);
  });

  it("an Envoy bootstrap with clusterLimits.redis: the Envoy build says it cannot, and which module can", () => {
    const doc = parse(LOCAL_YAML);
    const wasm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config;
    wasm.configuration.value = JSON.stringify({ ...JSON.parse(wasm.configuration.value), clusterLimits: { redis: { service: "redis.dns" } } });
    const file = `${DIR}/bootstrap.yaml`;
    writeFileSync(file, stringify(doc));
    const r = validate(file);
    expect(r.code).toBe(1);
    expect(r.out).toContain("clusterLimits.redis: this module is the Envoy build (ai-failover.wasm), which has no Redis calls");
    expect(r.out).toContain("build/ai-failover-higress.wasm");
  });
});
