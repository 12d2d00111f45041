/**
 * `npm start`: the whole thing on one machine. Builds the filter when its sources are newer than
 * the module, starts one mock provider per provider of envoy/local.yaml's plugin configuration
 * (on the port of that provider's cluster, accepting exactly that provider's key), starts the
 * gateway on the same file, then sends the printed curl request once to show whether it works.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LogLevel, LogRecord } from "../host/types.ts";
import { loadBootstrap, startGateway, type Gateway, type GatewayConfig } from "../gateway/index.ts";

export interface StartOptions {
  root: string;
  /** Default: <root>/envoy/local.yaml. */
  bootstrapText?: string;
  workers?: number;
  logLevel?: LogLevel;
  logger?: (r: LogRecord) => void;
  out: { write(s: string): unknown };
  /** Default true. */
  build?: boolean;
}

export interface LocalStack {
  gateway: Gateway;
  providers: Array<{ name: string; url: string; records: Array<{ path: string; headers: Record<string, string> }>; close(): Promise<void> }>;
  curl: string;
  /** Status of the self-check request. */
  checkStatus: number;
  stop(): Promise<void>;
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

/**
 * True when build/ai-failover.wasm is missing or older than assembly/ or asconfig.json. An
 * installed package (no assembly/) ships the module built: never.
 */
export function needsBuild(root: string, wasmFile: string): boolean {
  if (!existsSync(join(root, "assembly"))) return false;
  let built: number;
  try {
    built = statSync(wasmFile).mtimeMs;
  } catch {
    return true;
  }
  return Math.max(newestMtime(join(root, "assembly")), newestMtime(join(root, "asconfig.json"))) > built;
}

interface PluginProvider {
  name: string;
  type: string;
  cluster: string;
  deployments?: Record<string, string>;
  models?: string[];
  auth?: { apiKey?: string; apiKeyEnv?: string; identity?: string; credentials?: Array<{ apiKey?: string; apiKeyEnv?: string; identity?: string }> };
  basePath?: string;
}

/** One mock per provider of the plugin configuration, on its cluster's first endpoint. */
function mockSpecs(config: GatewayConfig) {
  const plugin = JSON.parse(config.wasm.configuration) as { providers: PluginProvider[] };
  return plugin.providers.map((p) => {
    const ep = config.clusters.get(p.cluster)?.endpoints[0];
    if (!ep) throw new Error(`provider ${p.name}: cluster ${p.cluster} has no endpoint in the bootstrap`);
    // Every key of the provider (a credentials list: each one); the mock accepts exactly those.
    const entries = p.auth?.credentials ?? (p.auth ? [p.auth] : []);
    const keys = entries.filter((c) => !c.identity).map((c) => (c.apiKeyEnv ? config.wasm.keyValues[c.apiKeyEnv] : c.apiKey));
    if (entries.some((c) => c.identity) && keys.length === 0) {
      throw new Error(`provider ${p.name}: authenticates with an Entra identity only; the local mocks run no token endpoint (give it a key for local runs)`);
    }
    if (keys.length === 0 || keys.some((k) => !k)) {
      throw new Error(`provider ${p.name}: no key (vm_config.environment_variables.key_values.${entries.map((c) => c.apiKeyEnv).join(", ")})`);
    }
    const azure = p.type === "azure-openai";
    const deployments = Object.fromEntries(Object.entries(p.deployments ?? {}).map(([model, d]) => [d, { model }]));
    return {
      spec: azure
        ? { kind: "azure" as const, name: p.name, port: ep.port, keys: keys as string[], deployments, basePath: p.basePath }
        : { kind: "openai" as const, name: p.name, port: ep.port, keys: keys as string[], models: p.models, basePath: p.basePath },
      model: Object.keys(p.deployments ?? {})[0] ?? p.models?.[0],
    };
  });
}

/** A mock provider started for one provider of the plugin configuration (its full handle included). */
export interface StartedMock {
  name: string;
  /** The provider's key as the bootstrap gives it to the filter (the only key the mock accepts). */
  key: string;
  mock: {
    url: string;
    port: number;
    records: LocalStack["providers"][number]["records"];
    credentialsSeen(): Array<{ scheme: string; value: string }>;
    close(): Promise<void>;
  };
}

/**
 * Only the mock providers of a bootstrap (one per provider of its plugin configuration, on the
 * port of that provider's cluster, accepting exactly the key the bootstrap gives the filter): for
 * a real Envoy (envoy/docker-compose.yaml) or any other proxy in front of them.
 */
export async function startMockProviders(opts: { root: string; bootstrapText?: string }): Promise<{ mocks: StartedMock[]; stop(): Promise<void> }> {
  const text = opts.bootstrapText ?? readFileSync(join(opts.root, "envoy/local.yaml"), "utf8");
  const config = loadBootstrap(text, { source: "envoy/local.yaml", baseDir: opts.root });
  const { startMockProvider } = (await import(new URL("../providers/index.ts", import.meta.url).href)) as {
    startMockProvider(o: object): Promise<StartedMock["mock"]>;
  };
  const mocks: StartedMock[] = [];
  const stop = async () => {
    await Promise.all(mocks.map((m) => m.mock.close()));
  };
  try {
    for (const { spec } of mockSpecs(config)) mocks.push({ name: spec.name, key: spec.keys[0]!, mock: await startMockProvider(spec) });
  } catch (e) {
    await stop();
    throw e;
  }
  return { mocks, stop };
}

export async function startLocal(opts: StartOptions): Promise<() => Promise<void>> {
  const stack = await startLocalStack(opts);
  return stack.stop;
}

export async function startLocalStack(opts: StartOptions): Promise<LocalStack> {
  const { root, out } = opts;
  const text = opts.bootstrapText ?? readFileSync(join(root, "envoy/local.yaml"), "utf8");
  const config = loadBootstrap(text, { source: "envoy/local.yaml", baseDir: root });

  if (opts.build !== false && needsBuild(root, config.wasm.codeFile)) {
    out.write("building the filter (npm run build)…\n");
    const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) throw new Error("npm run build failed");
  }

  const specs = mockSpecs(config);
  const started = await startMockProviders({ root, bootstrapText: text });
  const providers: LocalStack["providers"] = started.mocks.map(({ name, mock: m }) => ({ name, url: m.url, records: m.records, close: () => m.close() }));
  const stopAll = started.stop;
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      bootstrapText: text,
      baseDir: root,
      workers: opts.workers,
      logLevel: opts.logLevel,
      pluginLogLevel: opts.logLevel !== undefined && opts.logLevel < 2 ? opts.logLevel : undefined,
      logger: opts.logger,
    });
  } catch (e) {
    await stopAll();
    throw e;
  }

  const model = specs.find((s) => s.model)?.model ?? "gpt-4o";
  const body = JSON.stringify({ model, messages: [{ role: "user", content: "Say hello" }] });
  const curl = `curl -sS ${gateway.url}/v1/chat/completions -H 'content-type: application/json' -d '${body}'`;
  let checkStatus = 0;
  let checkBody = "";
  try {
    const r = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    checkStatus = r.status;
    checkBody = await r.text();
  } catch (e) {
    checkBody = (e as Error).message;
  }

  for (const p of providers) out.write(`mock provider ${p.name} on ${p.url}\n`);
  out.write(`gateway on ${gateway.url}` + (gateway.adminUrl ? ` (admin ${gateway.adminUrl}/stats/prometheus)` : "") + "\n\n");
  out.write(`try:\n  ${curl}\n\n`);
  out.write(
    checkStatus === 200
      ? `(checked: that request just returned 200)\n`
      : `WARNING: that request just returned ${checkStatus || "no response"}: ${checkBody.slice(0, 200)}\n`,
  );
  out.write("Ctrl-C stops everything.\n");

  return {
    gateway,
    providers,
    curl,
    checkStatus,
    async stop() {
      await gateway.close();
      await stopAll();
    },
  };
}
