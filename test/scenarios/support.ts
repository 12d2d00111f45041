// Shared arrangement for end-to-end scenarios: the real envoy/local.yaml with ports and a few
// plugin settings substituted, mock Azure providers, and the gateway on 2 worker VMs.
import http from "node:http";
import { readFileSync } from "node:fs";
import { startGateway, type Gateway } from "../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider, type MockProviderOptions } from "../../harness/providers/index.ts";
import type { LogRecord } from "../../harness/host/types.ts";
import { analyze, formatReport, formatSlices, type Report } from "../../harness/replay/report.ts";
import { runScenario, type RunHooks, type RunResult, type TargetName } from "../../harness/replay/runner.ts";
import { loadScenario, type Scenario } from "../../harness/replay/scenario.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const LOCAL_YAML = readFileSync(new URL("../../envoy/local.yaml", import.meta.url), "utf8");
export const EAST_KEY = "mock-key-aoai-east-not-a-secret";
export const WEST_KEY = "mock-key-aoai-west-not-a-secret";

export interface Stack {
  east: MockProvider;
  west: MockProvider;
  gateway: Gateway;
  logs: LogRecord[];
  close(): Promise<void>;
}

/**
 * Edits the plugin configuration embedded in local.yaml (JSON inside the YAML block): the
 * callback receives the parsed config and returns the one to use.
 */
export function bootstrapWith(ports: { east: number; west: number }, edit: (cfg: any) => any): string {
  const start = LOCAL_YAML.indexOf("value: |");
  const jsonStart = LOCAL_YAML.indexOf("{", start);
  const jsonEnd = LOCAL_YAML.indexOf("\n                  - name: envoy.filters.http.router", jsonStart);
  const indent = " ".repeat(28);
  const cfg = edit(JSON.parse(LOCAL_YAML.slice(jsonStart, jsonEnd)));
  const json = JSON.stringify(cfg, null, 2).split("\n").map((l) => indent + l).join("\n");
  return (LOCAL_YAML.slice(0, jsonStart) + json.trimStart() + LOCAL_YAML.slice(jsonEnd))
    .replace("port_value: 10000", "port_value: 0")
    .replace("port_value: 9901", "port_value: 0")
    .replace("port_value: 18081", `port_value: ${ports.east}`)
    .replace("port_value: 18082", `port_value: ${ports.west}`);
}

/** Adds variables to vm_config.environment_variables.key_values. */
export function withVmEnv(yaml: string, vars: Record<string, string>): string {
  const anchor = "AOAI_WEST_KEY: mock-key-aoai-west-not-a-secret";
  const indent = " ".repeat(30);
  const extra = Object.entries(vars).map(([k, v]) => `\n${indent}${k}: ${v}`).join("");
  return yaml.replace(anchor, anchor + extra);
}

export async function startStack(opts: {
  edit?: (cfg: any) => any;
  east?: Partial<MockProviderOptions>;
  west?: Partial<MockProviderOptions>;
  workers?: number;
  /** Extra vm_config.environment_variables.key_values. */
  vmEnv?: Record<string, string>;
}): Promise<Stack> {
  const east = await startMockProvider({
    kind: "azure", name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } }, ...opts.east,
  });
  const west = await startMockProvider({
    kind: "azure", name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } }, ...opts.west,
  });
  const logs: LogRecord[] = [];
  const gateway = await startGateway({
    bootstrapText: withVmEnv(bootstrapWith({ east: east.port, west: west.port }, opts.edit ?? ((c) => c)), opts.vmEnv ?? {}),
    baseDir: ROOT,
    workers: opts.workers ?? 2,
    logLevel: 0,
    logger: (r) => logs.push(r),
  });
  return {
    east, west, gateway, logs,
    async close() {
      await gateway.close();
      await Promise.all([east.close(), west.close()]);
    },
  };
}

export interface ClientResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (so connections spread over the worker VMs). */
export function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 10000): Promise<ClientResult> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": String(payload.length), ...headers },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(payload);
  });
}

export const chat = (content = "Say hello") => ({ model: "gpt-4o", messages: [{ role: "user", content }], max_tokens: 50 });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every credential each provider saw, with where it was seen. */
export function credentialAudit(p: MockProvider, ownKey: string): string[] {
  const problems: string[] = [];
  for (const r of p.records) {
    const creds = r.credentials;
    if (creds.length !== 1) problems.push(`${p.name} ${r.method} ${r.path}: ${creds.length} credentials`);
    for (const c of creds) {
      if (c.value === "") problems.push(`${p.name} ${r.method} ${r.path}: empty credential`);
      else if (c.value !== ownKey) problems.push(`${p.name} ${r.method} ${r.path}: foreign credential ${c.value.slice(0, 12)}…`);
    }
  }
  return problems;
}

// ---- replayed scenarios (harness/replay) ------------------------------------------------------

export interface Replayed {
  sc: Scenario;
  res: RunResult;
  report: Report;
}

/** Runs harness/replay/scenarios/<name>.yaml against a target and prints its tables. */
export async function replay(name: string, target: TargetName, hooks?: RunHooks): Promise<Replayed> {
  const sc = loadScenario(new URL(`../../harness/replay/scenarios/${name}.yaml`, import.meta.url).pathname);
  const res = await runScenario(sc, target, hooks);
  const report = analyze(res);
  console.log(`${formatReport(report)}\n${formatSlices(report, sc.sliceMs)}`);
  return { sc, res, report };
}

/** When a timeline action ran (ms since t0). */
export function actionAt(res: RunResult, action: string, provider?: string): number {
  const a = res.actions.find((x) => x.action === action && (provider === undefined || x.provider === provider));
  if (!a) throw new Error(`no ${action} in the timeline of ${res.scenario.name}`);
  if (a.error) throw new Error(`${action} failed: ${a.error}`);
  return a.ranAt;
}

/** Chat (non-probe) records of a provider, with times relative to t0. */
export function chatRecords(res: RunResult, provider: string) {
  const p = res.providers.find((x) => x.name === provider);
  if (!p) throw new Error(`no provider ${provider}`);
  return p.records.filter((r) => r.api !== "models").map((r) => ({ ...r, t: r.time - res.t0 }));
}
