/**
 * A plugin configuration → a bootstrap that runs it on this machine: envoy/local.yaml with the
 * configuration in place, one STATIC cluster per provider `cluster` on 127.0.0.1 (consecutive
 * ports from `firstPort`), and every `apiKeyEnv` given a made-up key in
 * vm_config.environment_variables.key_values (the mocks accept exactly those). `ai-failover mocks`
 * then starts a mock per provider on its cluster's port, honouring its basePath, and
 * `ai-failover serve` runs the gateway on it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";

interface Provider { name?: string; cluster?: string; auth?: { apiKeyEnv?: string; credentials?: Array<{ apiKeyEnv?: string }> } }
interface PluginConfig {
  providers?: Provider[];
  consumers?: Array<{ apiKeyEnv?: string }>;
  identities?: Array<{ clientSecretEnv?: string }>;
  _rules_?: Array<{ providers?: Provider[]; consumers?: Array<{ apiKeyEnv?: string }> }>;
}

/** A key for a variable, the same every time (mixed case: its masked form tells keys apart). */
export function mockKeyFor(envName: string): string {
  const h = createHash("sha256").update(envName).digest("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 16);
  return `mockkey-${envName.toLowerCase().replace(/_/g, "-")}-${h}`;
}

export function localBootstrapFor(root: string, config: PluginConfig, opts: { firstPort?: number; ports?: number[]; listenerPort?: number; adminPort?: number } = {}): string {
  const doc = parse(readFileSync(join(root, "envoy/local.yaml"), "utf8"));
  const all: Provider[] = [...(config.providers ?? []), ...(config._rules_ ?? []).flatMap((r) => r.providers ?? [])];
  const clusters = [...new Set(all.map((p) => p.cluster).filter((c): c is string => typeof c === "string" && c.length > 0))];
  const envNames = [...new Set([
    ...all.map((p) => p.auth?.apiKeyEnv),
    ...all.flatMap((p) => (p.auth?.credentials ?? []).map((c) => c?.apiKeyEnv)),
    ...(config.identities ?? []).map((i) => i?.clientSecretEnv),
    ...(config.consumers ?? []).map((c) => c.apiKeyEnv),
    ...(config._rules_ ?? []).flatMap((r) => (r.consumers ?? []).map((c) => c.apiKeyEnv)),
  ].filter((n): n is string => typeof n === "string" && n.length > 0))];
  const firstPort = opts.firstPort ?? 18081;
  const portOf = (i: number) => opts.ports?.[i] ?? firstPort + i;
  const template = doc.static_resources.clusters[0];
  doc.static_resources.clusters = clusters.map((name, i) => {
    const c = structuredClone(template);
    c.name = name;
    c.load_assignment.cluster_name = name;
    c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = portOf(i);
    return c;
  });
  const listener = doc.static_resources.listeners[0];
  if (opts.listenerPort !== undefined) listener.address.socket_address.port_value = opts.listenerPort;
  if (opts.adminPort !== undefined) doc.admin.address.socket_address.port_value = opts.adminPort;
  const wasm = listener.filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config;
  wasm.configuration.value = JSON.stringify(config, null, 2) + "\n";
  wasm.vm_config.environment_variables = { key_values: Object.fromEntries(envNames.map((n) => [n, mockKeyFor(n)])) };
  return (
    "# Made by `ai-failover bootstrap`: the configuration in front of mock providers on 127.0.0.1\n" +
    "# (clusters " + clusters.map((c, i) => `${c}:${portOf(i)}`).join(", ") + "). Start them with\n" +
    "# `npx ai-failover mocks FILE`, the gateway with `npx ai-failover serve FILE`.\n" +
    stringify(doc, { lineWidth: 0 })
  );
}
