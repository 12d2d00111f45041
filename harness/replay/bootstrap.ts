/**
 * The gateway bootstrap of a scenario: the real envoy/local.yaml (or the file the scenario names)
 * with the listener and admin on ephemeral ports, each provider's cluster pointed at its mock, and
 * the scenario's edits merged into the plugin configuration. Also: each provider's own key, read
 * from the same configuration the filter gets (the only key its mock accepts).
 */
import YAML from "yaml";
import type { Scenario } from "./scenario.ts";

type Obj = Record<string, any>;

export interface PluginProvider {
  name: string;
  type: "azure-openai" | "openai";
  cluster: string;
  host: string;
  apiVersion?: string;
  api?: "classic" | "v1";
  basePath?: string;
  deployments?: Record<string, string>;
  models?: string[];
  auth?: { apiKey?: string; apiKeyEnv?: string };
  priority?: number;
  weight?: number;
  limits?: Obj;
}

export interface ResolvedProvider {
  name: string;
  plugin: PluginProvider;
  /** The provider's own credential, as the bootstrap gives it to the filter. */
  key: string;
}

/** Deep merge: mappings merge, everything else (lists included) replaces. `null` deletes. */
export function deepMerge(base: Obj, edit: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(edit)) {
    if (v === null) delete out[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof out[k] === "object" && out[k] !== null && !Array.isArray(out[k])) {
      out[k] = deepMerge(out[k], v);
    } else out[k] = v;
  }
  return out;
}

function wasmFilter(doc: Obj): Obj {
  for (const l of doc.static_resources?.listeners ?? []) {
    for (const fc of l.filter_chains ?? []) {
      for (const f of fc.filters ?? []) {
        for (const hf of f.typed_config?.http_filters ?? []) {
          if (hf.name === "envoy.filters.http.wasm") return hf.typed_config.config;
        }
      }
    }
  }
  throw new Error("bootstrap: no envoy.filters.http.wasm filter");
}

export interface ScenarioBootstrap {
  /** Bootstrap text for startGateway. */
  text(ports: Record<string, number>): string;
  /** The plugin configuration after the scenario's edits. */
  plugin: Obj;
  providers: ResolvedProvider[];
}

/** Applies the scenario to a bootstrap text (ports are filled in later, once the mocks listen). */
export function scenarioBootstrap(sc: Scenario, bootstrapText: string): ScenarioBootstrap {
  const doc = YAML.parse(bootstrapText) as Obj;
  const wasm = wasmFilter(doc);
  const base = JSON.parse(wasm.configuration.value) as Obj;
  const env: Record<string, string> = wasm.vm_config?.environment_variables?.key_values ?? {};
  if (sc.plugin.providers !== undefined) throw new Error(`${sc.source}: plugin.providers: edit providers under providers.<name>.plugin`);
  const { providers: _, ...top } = deepMerge(base, sc.plugin);
  const list = (base.providers as PluginProvider[]).map((p) => {
    const edit = sc.providers.find((s) => s.name === p.name);
    return (edit ? deepMerge(p, edit.plugin) : p) as PluginProvider;
  });
  for (const s of sc.providers) {
    if (!list.some((p) => p.name === s.name)) {
      throw new Error(`${sc.source}: providers.${s.name}: no such provider in ${sc.bootstrap} (it has: ${list.map((p) => p.name).join(", ")})`);
    }
  }
  const plugin = { providers: list, ...top };
  const providers = list
    .filter((p) => sc.providers.some((s) => s.name === p.name))
    .map((p) => {
      const key = p.auth?.apiKeyEnv ? env[p.auth.apiKeyEnv] : p.auth?.apiKey;
      if (!key) throw new Error(`${sc.bootstrap}: provider ${p.name} has no key the replayer can read`);
      return { name: p.name, plugin: p, key };
    });
  const configText = JSON.stringify(plugin, null, 2);
  return {
    plugin,
    providers,
    text(ports) {
      const d = YAML.parse(bootstrapText) as Obj;
      if (d.admin?.address?.socket_address) d.admin.address.socket_address.port_value = 0;
      for (const l of d.static_resources.listeners) l.address.socket_address.port_value = 0;
      wasmFilter(d).configuration.value = configText;
      for (const p of providers) {
        const c = (d.static_resources.clusters as Obj[]).find((x) => x.name === p.plugin.cluster);
        if (!c) throw new Error(`${sc.bootstrap}: provider ${p.name}: no cluster ${p.plugin.cluster}`);
        const port = ports[p.name];
        if (port === undefined) throw new Error(`no port for ${p.name}`);
        c.load_assignment.endpoints = [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }];
      }
      return YAML.stringify(d, { lineWidth: 0 });
    },
  };
}
