/**
 * What the bench runs against: the mock providers (in this process, next to the load client, so
 * SSE frame send and arrival times share one clock) and one gateway child process per filter,
 * each built from envoy/local.yaml with ports and the filter module substituted.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { startMockProvider, type MockProvider } from "../providers/index.ts";
import { LOCAL_YAML_PATH, ROOT } from "./paths.ts";
import type { PluginOptions } from "../host/types.ts";

export { EAST_KEY, WEST_KEY } from "../keys.ts";
import { EAST_KEY, WEST_KEY } from "../keys.ts";
/** Effectively unlimited: the bench measures speed, not admission (which still runs per request). */
const HUGE = 1_000_000_000_000;

export interface Mocks {
  east: MockProvider;
  west: MockProvider;
  close(): Promise<void>;
}

export async function startMocks(): Promise<Mocks> {
  const common = { kind: "azure" as const, defaultLimits: { tokensPerMinute: HUGE, requestsPerMinute: HUGE }, completionTokens: 16 };
  const east = await startMockProvider({ ...common, name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } } });
  const west = await startMockProvider({ ...common, name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
  return { east, west, close: async () => { await Promise.all([east.close(), west.close()]); } };
}

export type FilterKind = "passthrough" | "ai-failover";

/**
 * envoy/local.yaml with ephemeral listener/admin ports, the clusters on the mocks, provider limits
 * raised out of the way, and `wasmPath` as the module. The pass-through filter routes nothing, so
 * its route names the cluster directly (`cluster: aoai-east`) instead of `cluster_header`.
 */
export function benchBootstrap(kind: FilterKind, wasmPath: string, ports: { east: number; west: number }): string {
  const doc = YAML.parse(readFileSync(LOCAL_YAML_PATH, "utf8"));
  doc.admin.address.socket_address.port_value = 0;
  const listener = doc.static_resources.listeners[0];
  listener.address.socket_address.port_value = 0;
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  const wasm = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm").typed_config.config;
  wasm.vm_config.code.local.filename = wasmPath;
  const cfg = JSON.parse(wasm.configuration.value);
  for (const p of cfg.providers) p.limits = { ...p.limits, tokensPerMinute: HUGE, requestsPerMinute: HUGE };
  wasm.configuration.value = JSON.stringify(cfg, null, 2);
  if (kind === "passthrough") {
    const route = hcm.route_config.virtual_hosts[0].routes[0].route;
    delete route.cluster_header;
    route.cluster = "aoai-east";
  }
  for (const c of doc.static_resources.clusters) {
    const port = c.name === "aoai-east" ? ports.east : c.name === "aoai-west" ? ports.west : undefined;
    if (port === undefined) throw new Error(`bench: unexpected cluster ${c.name} in envoy/local.yaml`);
    c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = port;
  }
  return YAML.stringify(doc);
}

export interface ChildStats {
  /** Linear memory of each worker VM, bytes. */
  workerMemory: number[];
  heapUsed: number;
  rss: number;
  /** Log lines the filter/gateway wrote, by level (0..5). */
  logLines: number[];
  firstWarnings: string[];
}

/** A gateway in its own Node process (like Envoy: its own CPU, not the load client's). */
export class GatewayProcess {
  private child: ChildProcess | null = null;
  /** The one question in flight (the bench asks one at a time). */
  private pending: { reply: string; done: (m: any) => void } | null = null;
  port = 0;

  constructor(readonly name: string) {}

  async start(bootstrap: string, timeoutMs = 60_000, hostOptions?: Partial<PluginOptions>): Promise<void> {
    const child = fork(fileURLToPath(new URL("./gateway-child.ts", import.meta.url)), [], {
      cwd: ROOT,
      execArgv: ["--import", "tsx", "--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child = child;
    child.on("message", (m: any) => {
      if (this.pending && (m?.type === this.pending.reply || m?.type === "error")) this.pending.done(m);
    });
    child.on("exit", (code, signal) => {
      this.pending?.done({ type: "error", message: `process exited (${signal ?? code})` });
    });
    const ready = await this.ask({ type: "start", bootstrap, hostOptions }, "ready", timeoutMs);
    this.port = ready.port;
  }

  private ask(msg: object, reply: string, timeoutMs: number): Promise<any> {
    if (this.pending) return Promise.reject(new Error(`${this.name} gateway: a question is already pending`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.pending?.done({ type: "error", message: `no "${reply}" within ${timeoutMs} ms` }), timeoutMs);
      this.pending = {
        reply,
        done: (m: any) => {
          clearTimeout(timer);
          this.pending = null;
          if (m.type === "error") reject(new Error(`${this.name} gateway: ${m.message}`));
          else resolve(m);
        },
      };
      this.child!.send(msg);
    });
  }

  async stats(): Promise<ChildStats> {
    return (await this.ask({ type: "stats" }, "stats", 10_000)).stats;
  }

  /** Closes the gateway and waits for the process to exit (killed after `timeoutMs`). */
  async close(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (child.connected) child.send({ type: "close" });
    else child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
