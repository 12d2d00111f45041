// `ai-failover validate FILE` (issue 12): the filter's own validation plus the bootstrap's
// cross-checks, every problem with its path and the provider's name; exit 0 on every shipped
// example, 1 on any problem.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { LOCAL_YAML, ROOT } from "../support/stack.ts";

const DIR = `${ROOT}test/.build/validate`;
mkdirSync(DIR, { recursive: true });

function validate(...files: string[]) {
  const r = spawnSync(process.execPath, [`${ROOT}bin/ai-failover.mjs`, "validate", ...files], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("ai-failover validate", () => {
  it("exits 0 on every shipped example: envoy/local.yaml, envoy/envoy.yaml, the Higress WasmPlugin, envoy/three-providers.yaml, envoy/entra.yaml", () => {
    const files = ["envoy/local.yaml", "envoy/envoy.yaml", "envoy/higress-wasmplugin.yaml", "envoy/three-providers.yaml", "envoy/entra.yaml"];
    const r = validate(...files);
    expect(r.out + r.err).not.toContain("problem");
    expect(r.code).toBe(0);
    for (const f of files) expect(r.out).toContain(`${f}: OK`);
  });

  it("a bootstrap with five planted problems lists all five, with paths and provider names, and exits 1", () => {
    const doc = parse(LOCAL_YAML);
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const wasm = hcm.http_filters[0].typed_config.config;
    const cfg = JSON.parse(wasm.configuration.value);
    cfg.providers[0].cluster = "aoai-east-typo"; // 1. no such cluster
    cfg.providers[1].auth.apiKeyEnv = "AOAI_WEST_KEY_2"; // 2. variable not listed
    cfg.providers[1].host = "https://aoai-west.openai.azure.com"; // 3. the filter's own check
    wasm.configuration.value = JSON.stringify(cfg, null, 2);
    delete wasm.allow_on_headers_stop_iteration; // 4. body mode without the flag
    const route = hcm.route_config.virtual_hosts[0].routes[0].route;
    delete route.cluster_header; // 5. no cluster_header route
    route.cluster = "aoai-east";
    const file = `${DIR}/planted.yaml`;
    writeFileSync(file, stringify(doc));
    const r = validate(file);
    expect(r.code).toBe(1);
    expect(r.out).toContain("5 problems");
    const lines = r.out.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
    expect(lines).toHaveLength(5);
    const cfgPath = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config";
    expect(lines).toContain(`${cfgPath}.configuration: providers[0].cluster (provider "aoai-east-ptu"): cluster "aoai-east-typo" is not in static_resources.clusters (aoai-east, aoai-west)`);
    expect(lines.some((l) => l.startsWith(`${cfgPath}.configuration: providers[1].auth.apiKeyEnv (provider "aoai-west-payg"): environment variable "AOAI_WEST_KEY_2" is not set`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${cfgPath}.configuration: providers[1].host (provider "aoai-west-payg"): must not include a scheme`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${cfgPath}.allow_on_headers_stop_iteration: must be true in body mode`))).toBe(true);
    expect(lines.some((l) => l.includes("route_config: no route has cluster_header: x-ai-failover-cluster"))).toBe(true);
    // No key in the output.
    expect(r.out).not.toContain("mockkey-");
  });

  it("envoy/entra.yaml without its token clusters: each identity's missing cluster is named", () => {
    const doc = parse(readFileSync(`${ROOT}envoy/entra.yaml`, "utf8"));
    doc.static_resources.clusters = doc.static_resources.clusters.filter((c: { name: string }) => c.name !== "imds" && c.name !== "entra");
    const file = `${DIR}/entra-no-token-clusters.yaml`;
    writeFileSync(file, stringify(doc));
    const r = validate(file);
    expect(r.code).toBe(1);
    const cfgPath = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config";
    expect(r.out).toContain(`${cfgPath}.configuration: identities[0].cluster (identity "gateway-app"): cluster "entra" is not in static_resources.clusters (aoai-east, aoai-west)`);
    expect(r.out).toContain(`${cfgPath}.configuration: identities[1].cluster (identity "node-identity"): cluster "imds" is not in static_resources.clusters (aoai-east, aoai-west)`);
  });

  it("a plain configuration (JSON or YAML) and a WasmPlugin are checked by the filter; paths point into the file's own fields", () => {
    const json = `${DIR}/plain.json`;
    writeFileSync(json, JSON.stringify({ providers: [{ name: "p", type: "openai", cluster: "c", host: "api.openai.com", models: ["gpt-4o"], auth: { apiKeyEnv: "K" }, weight: -1 }] }));
    const r1 = validate(json);
    expect(r1.code).toBe(1);
    expect(r1.out).toMatch(/providers\[0\]\.weight \(provider "p"\): /);
    const docs = parseAllDocuments(readFileSync(`${ROOT}envoy/higress-wasmplugin.yaml`, "utf8")).map((d) => d.toJS());
    const wp = docs.find((d: any) => d?.kind === "WasmPlugin");
    wp.spec.matchRules[1].config.streaming = { allow: "no" };
    const yaml = `${DIR}/wasmplugin.yaml`;
    writeFileSync(yaml, stringify(wp));
    const r2 = validate(yaml);
    expect(r2.code).toBe(1);
    expect(r2.out).toContain("spec.matchRules[1].config.streaming.allow");
  });

  it("a YAML syntax error names the line", () => {
    const file = `${DIR}/broken.yaml`;
    writeFileSync(file, "providers:\n  - name: a\n    type: [openai\n");
    const r = validate(file);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/line \d+, column \d+/);
  });
});
