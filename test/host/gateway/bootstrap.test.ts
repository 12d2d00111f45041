import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { BootstrapError, higressPluginConfig, loadBootstrap } from "../../../harness/gateway/index.ts";
import { LOCAL_YAML, ROOT } from "../../support/stack.ts";

const ENVOY_YAML = readFileSync(new URL("../../../envoy/envoy.yaml", import.meta.url), "utf8");

function problemsOf(text: string): string[] {
  try {
    loadBootstrap(text, { baseDir: ROOT });
  } catch (e) {
    expect(e).toBeInstanceOf(BootstrapError);
    return (e as BootstrapError).problems;
  }
  throw new Error("bootstrap was accepted");
}

const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const WASM = `${HCM}.http_filters[0].typed_config.config`;
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

describe("bootstrap: the files users get", () => {
  it("envoy/local.yaml: listener, admin, wasm plugin, cluster_header route, two STATIC clusters", () => {
    const c = loadBootstrap(LOCAL_YAML, { baseDir: ROOT });
    expect(c.listener).toMatchObject({ address: "127.0.0.1", port: 10000 });
    expect(c.admin).toEqual({ address: "127.0.0.1", port: 9901 });
    expect(c.virtualHosts[0].routes[0]).toMatchObject({ prefix: "/", clusterHeader: "x-ai-failover-cluster", timeoutMs: 300_000 });
    expect(c.wasm).toMatchObject({
      rootId: "ai-failover",
      vmId: "ai-failover",
      codeFile: `${ROOT}build/ai-failover.wasm`,
      allowOnHeadersStopIteration: true,
      hostEnvKeys: [],
    });
    expect(Object.keys(c.wasm.keyValues)).toEqual(["AOAI_EAST_KEY", "AOAI_WEST_KEY"]);
    const plugin = JSON.parse(c.wasm.configuration);
    expect(plugin.providers.map((p: any) => [p.name, p.cluster, p.auth.apiKeyEnv])).toEqual([
      ["aoai-east-ptu", "aoai-east", "AOAI_EAST_KEY"],
      ["aoai-west-payg", "aoai-west", "AOAI_WEST_KEY"],
    ]);
    expect(plugin.retry).toEqual({ maxAttempts: 3, onStatus: [429, 500, 502, 503, 504] });
    expect([...c.clusters.values()].map((x) => [x.name, x.type, x.endpoints, x.tls])).toEqual([
      ["aoai-east", "STATIC", [{ address: "127.0.0.1", port: 18081 }], undefined],
      ["aoai-west", "STATIC", [{ address: "127.0.0.1", port: 18082 }], undefined],
    ]);
  });

  it("envoy/envoy.yaml: STRICT_DNS + TLS with sni and verification, keys from the environment", () => {
    const c = loadBootstrap(ENVOY_YAML, { baseDir: ROOT });
    expect(c.wasm.hostEnvKeys).toEqual(["AOAI_EAST_KEY", "AOAI_WEST_KEY"]);
    expect(c.wasm.keyValues).toEqual({});
    const east = c.clusters.get("aoai-east")!;
    expect(east).toMatchObject({ type: "STRICT_DNS", family: 4, endpoints: [{ address: "aoai-east.openai.azure.com", port: 443 }] });
    expect(east.tls).toEqual({
      sni: "aoai-east.openai.azure.com",
      caFile: "/etc/ssl/certs/ca-certificates.crt",
      verify: true,
      dnsSans: ["aoai-east.openai.azure.com"],
    });
    // Same plugin configuration as the local file: only the endpoints and the key source differ.
    expect(JSON.parse(c.wasm.configuration)).toEqual(JSON.parse(loadBootstrap(LOCAL_YAML).wasm.configuration));
  });

  it("an HTTP/2 cluster for gRPC callouts (the rate limit service): accepted, but no route may use it; explicit HTTP/1.1 accepted, HTTP/3 refused", () => {
    const doc = parse(LOCAL_YAML);
    const rls = structuredClone(doc.static_resources.clusters[0]);
    rls.name = "rls";
    rls.load_assignment.cluster_name = "rls";
    rls.typed_extension_protocol_options = { [HPO]: { "@type": `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: {} } } };
    doc.static_resources.clusters.push(rls);
    const c = loadBootstrap(stringify(doc), { baseDir: ROOT });
    expect([c.clusters.get("rls")!.http2, c.clusters.get("aoai-east")!.http2]).toEqual([true, false]);

    const routed = structuredClone(doc);
    const route = routed.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route;
    delete route.cluster_header;
    route.cluster = "rls";
    expect(problemsOf(stringify(routed)).join("\n")).toMatch(/route\.cluster: cluster "rls" speaks HTTP\/2/);

    // Explicit HTTP/1.1 is what Envoy does without the field (needed to give a cluster http_filters).
    rls.typed_extension_protocol_options[HPO].explicit_http_config = { http_protocol_options: {} };
    expect(loadBootstrap(stringify(doc), { baseDir: ROOT }).clusters.get("rls")!.http2).toBe(false);
    rls.typed_extension_protocol_options[HPO].explicit_http_config = { http3_protocol_options: {} };
    expect(problemsOf(stringify(doc)).join("\n")).toMatch(/http3_protocol_options: field not supported .*HTTP\/1\.1, or HTTP\/2 for gRPC callouts/);
  });

  it("JSON bootstrap is accepted too", () => {
    expect(loadBootstrap(JSON.stringify(parse(LOCAL_YAML))).listener.port).toBe(10000);
  });
});

describe("bootstrap: refusals name every field", () => {
  it("lists every unsupported field by its path, not only the first", () => {
    const doc = parse(LOCAL_YAML);
    doc.node = { id: "x" };
    doc.admin.access_log_path = "/dev/null";
    const listener = doc.static_resources.listeners[0];
    listener.listener_filters = [];
    const hcm = listener.filter_chains[0].filters[0].typed_config;
    hcm.access_log = [];
    hcm.route_config.virtual_hosts[0].routes[0].match.safe_regex = { regex: ".*" };
    hcm.route_config.virtual_hosts[0].routes[0].route.hash_policy = [{ header: { header_name: "x-user" } }];
    hcm.http_filters[0].typed_config.config.vm_config.code.remote = { http_uri: {} };
    hcm.http_filters[0].typed_config.config.reload_config = {};
    doc.static_resources.clusters[0].typed_extension_protocol_options = {
      [HPO]: { "@type": `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: {} }, common_http_protocol_options: {} },
    };
    doc.static_resources.clusters[1].type = "EDS";
    doc.static_resources.clusters[1].health_checks = [];
    doc.static_resources.secrets = [];

    const problems = problemsOf(stringify(doc));
    const paths = problems.map((p) => p.split(": ")[0]);
    expect(paths).toEqual(
      expect.arrayContaining([
        "node",
        "admin.access_log_path",
        "static_resources.listeners[0].listener_filters",
        `${HCM}.access_log`,
        `${HCM}.route_config.virtual_hosts[0].routes[0].match.safe_regex`,
        `${HCM}.route_config.virtual_hosts[0].routes[0].route.hash_policy`,
        `${WASM}.vm_config.code.remote`,
        `${WASM}.reload_config`,
        `static_resources.clusters[0].typed_extension_protocol_options.${HPO}.common_http_protocol_options`,
        "static_resources.clusters[1].type",
        "static_resources.clusters[1].health_checks",
        "static_resources.secrets",
      ]),
    );
    expect(problems).toHaveLength(12);
    expect(problems.find((p) => p.startsWith("static_resources.clusters[0].typed"))).toMatch(/supported in HttpProtocolOptions: explicit_http_config/);
    expect(problems.find((p) => p.startsWith("static_resources.clusters[1].type"))).toMatch(/unsupported value "EDS"/);
  });

  it("explains type URLs, camelCase names, filter order, STATIC host names and duplicate env keys", () => {
    const doc = parse(LOCAL_YAML);
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.statPrefix = hcm.stat_prefix;
    delete hcm.stat_prefix;
    hcm.http_filters[1].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
    const problems = problemsOf(stringify(doc));
    expect(problems).toEqual([
      `${HCM}.http_filters[1].typed_config.@type: unsupported type "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua" (supported: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm, type.googleapis.com/envoy.extensions.filters.http.router.v3.Router)`,
      `${HCM}.statPrefix: field not supported by the ai-failover gateway (write it as "stat_prefix": the gateway accepts Envoy's proto field names only)`,
      `${HCM}.stat_prefix: required field is missing`,
    ]);

    const semantic = parse(LOCAL_YAML);
    const h2 = semantic.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    h2.http_filters.reverse();
    semantic.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address =
      "aoai-east.openai.azure.com";
    h2.http_filters[1].typed_config.config.vm_config.environment_variables.host_env_keys = ["AOAI_EAST_KEY"];
    const p2 = problemsOf(stringify(semantic));
    expect(p2).toHaveLength(4);
    expect(p2[0]).toMatch(/http_filters\[0\].*must be the wasm filter/);
    expect(p2[1]).toMatch(/http_filters\[1\].*must be the router/);
    expect(p2[2]).toMatch(/clusters\[0\].*"aoai-east.openai.azure.com" is not an IP address.*STRICT_DNS/);
    expect(p2[3]).toMatch(/Key AOAI_EAST_KEY is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables/);
  });

  it("rejects a wrong runtime, bad durations and more than one listener", () => {
    const doc = parse(LOCAL_YAML);
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.http_filters[0].typed_config.config.vm_config.runtime = "envoy.wasm.runtime.null";
    hcm.route_config.virtual_hosts[0].routes[0].route.timeout = 300;
    doc.static_resources.listeners.push(doc.static_resources.listeners[0]);
    const problems = problemsOf(stringify(doc));
    expect(problems).toContain(`static_resources.listeners: the gateway supports at most 1 entry here, got 2`);
    expect(problems).toContain(
      `${WASM}.vm_config.runtime: unsupported value "envoy.wasm.runtime.null" (supported: envoy.wasm.runtime.v8)`,
    );
    expect(problems).toContain(
      `${HCM}.route_config.virtual_hosts[0].routes[0].route.timeout: expected a duration such as "15s" or "0.25s", got number 300`,
    );
  });

  it("reports YAML syntax errors", () => {
    expect(problemsOf("static_resources: [")[0]).toMatch(/^not valid YAML\/JSON: .*line 1/);
  });
});

describe("Route.request_headers_to_remove", () => {
  it("is read from the route; pseudo-headers and host are refused as Envoy refuses them", () => {
    expect(loadBootstrap(LOCAL_YAML, { baseDir: ROOT }).virtualHosts[0]!.routes[0]!.requestHeadersToRemove).toEqual(["x-ai-failover-cluster"]);
    expect(loadBootstrap(ENVOY_YAML, { baseDir: ROOT }).virtualHosts[0]!.routes[0]!.requestHeadersToRemove).toEqual(["x-ai-failover-cluster"]);
    const bad = LOCAL_YAML.replace("request_headers_to_remove: [x-ai-failover-cluster]", 'request_headers_to_remove: [":authority", host]');
    expect(() => loadBootstrap(bad, { baseDir: ROOT })).toThrow(BootstrapError);
    try { loadBootstrap(bad, { baseDir: ROOT }); } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain(`':-prefixed' or host headers may not be removed (found ":authority")`);
      expect(msg).toContain(`':-prefixed' or host headers may not be removed (found "host")`);
    }
  });
});

// Higress's controller (pkg/ingress/config/ingress_config.go) builds the plugin configuration from
// a WasmPlugin: defaultConfig, then one _rules_ entry per matchRules item.
describe("higressPluginConfig: a WasmPlugin as Higress's controller delivers it", () => {
  it("defaultConfig plus one rule per matchRules item, ingress/service/domain turned into _match_*_", () => {
    const cfg = higressPluginConfig({
      defaultConfig: { providers: ["p"], retry: { maxAttempts: 3 } },
      matchRules: [
        { ingress: ["default/llm"], service: ["llm.dns:443"], config: { retry: { maxAttempts: 1 } } },
        { domain: ["*.team.example"], config: { streaming: { allow: false } } },
        { service: ["batch.dns"], configDisable: true, config: {} },
      ],
    });
    expect(cfg).toEqual({
      providers: ["p"], retry: { maxAttempts: 3 },
      _rules_: [
        { retry: { maxAttempts: 1 }, _match_route_: ["default/llm"], _match_service_: ["llm.dns:443"] },
        { streaming: { allow: false }, _match_domain_: ["*.team.example"] },
      ],
    });
  });

  it("pluginConfig wins; defaultConfigDisable drops the global part; a rule without a condition is refused", () => {
    expect(higressPluginConfig({ pluginConfig: { a: 1 }, defaultConfig: { b: 2 } })).toEqual({ a: 1 });
    expect(higressPluginConfig({ defaultConfig: { b: 2 }, defaultConfigDisable: true, matchRules: [{ domain: ["x.example"] }] }))
      .toEqual({ _rules_: [{ _match_domain_: ["x.example"] }] });
    expect(() => higressPluginConfig({ defaultConfig: {}, matchRules: [{ config: { a: 1 } }] })).toThrow("matchRules[0]: invalid match rule has no match condition");
  });
});
