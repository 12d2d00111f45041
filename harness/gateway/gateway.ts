/** startGateway: an Envoy-like process built from a static bootstrap, running the filter in the host. */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { readFile } from "node:fs/promises";
import type { LogLevel, LogRecord, PluginOptions } from "../host/types.ts";
import { BootstrapError, loadBootstrap, type GatewayConfig, type WasmConfig } from "./bootstrap.ts";
import { ClusterManager } from "./clusters.ts";
import { Exchange } from "./exchange.ts";
import { clusterDispatcher } from "./http-call.ts";
import { createAdminServer } from "./admin.ts";
import { defaultHostFactory, type HostFactory, type PluginHostLike } from "./host-like.ts";
import { PluginChain } from "./chain.ts";

export interface GatewayOptions {
  /** Bootstrap text (YAML or JSON)… */
  bootstrapText?: string;
  /** …or a bootstrap file. */
  bootstrapPath?: string;
  /** Where relative paths in the bootstrap resolve. Default: the working directory (like Envoy). */
  baseDir?: string;
  /** Worker VMs (Envoy's --concurrency). Default 2. */
  workers?: number;
  /** Receives host log lines and the gateway's own (vm "gateway"). */
  logger?: (record: LogRecord) => void;
  logLevel?: LogLevel;
  trace?: boolean;
  /** Source of vm_config.environment_variables.host_env_keys. Default process.env. */
  env?: Record<string, string | undefined>;
  /** For tests: another PluginHost implementation. Default: harness/host. */
  hostFactory?: HostFactory;
  /** Extra host options (e.g. clockNs, bufferLimitBytes) merged last. */
  hostOptions?: Partial<PluginOptions>;
  /**
   * For tests: everything the listener sends to clients, per response (`id`): the status and
   * headers as one JSON text, then each body write as latin1 text.
   */
  clientTap?: (id: number, part: string) => void;
  /**
   * Lowers the plugin configuration's own `logLevel` to this when it is higher (the CLI's
   * `--log-level debug` shows the filter's debug lines without editing the configuration).
   */
  pluginLogLevel?: LogLevel;
  /**
   * For tests: other wasm plugins on every stream, each its own host (its own VMs, the same
   * workers and host options): `before` the bootstrap's plugin (nearer the client), `after` it
   * (nearer the router), in chain order (harness/gateway/chain.ts).
   */
  plugins?: { before?: ExtraPlugin[]; after?: ExtraPlugin[] };
  /**
   * For tests: Envoy's random generator (a non-negative integer per call), e.g. to pin the retry
   * back-off's jitter. Default: Math.random based.
   */
  random?: () => number;
}

/** Another wasm plugin on the stream: its module and plugin configuration text. */
export interface ExtraPlugin {
  wasm: Uint8Array;
  configuration?: string;
  name?: string;
}

const PLUGIN_LEVELS = ["trace", "debug", "info", "warn", "error", "critical"];

/** The configuration with `logLevel` lowered to `level` (unchanged if not JSON or already lower). */
function withPluginLogLevel(configuration: string, level: LogLevel): string {
  try {
    const c = JSON.parse(configuration);
    if (!c || typeof c !== "object" || Array.isArray(c)) return configuration;
    const now = PLUGIN_LEVELS.indexOf(typeof c.logLevel === "string" ? c.logLevel : "info");
    if (now >= 0 && now <= level) return configuration;
    return JSON.stringify({ ...c, logLevel: PLUGIN_LEVELS[level] });
  } catch {
    return configuration;
  }
}

/**
 * Positions the filter reports inside the configuration text ("invalid JSON at line 3, column
 * 7", "duplicate key (line 12, …") also as lines of the bootstrap file it is embedded in.
 */
function inFileLines(message: string, firstLine: number | undefined, source: string): string {
  if (firstLine === undefined) return message;
  return message.replace(/\bline (\d+)(, column \d+)?/g, (m, l: string) => `${m} (line ${firstLine + Number(l) - 1} of ${source})`);
}

let nextTapId = 0;

/** Reports what `res` sends: the head (status and headers) and every body write. */
function tapResponse(res: http.ServerResponse, tap: (id: number, part: string) => void): void {
  const id = ++nextTapId;
  const text = (c: unknown) => (typeof c === "string" ? c : c instanceof Uint8Array ? Buffer.from(c).toString("latin1") : "");
  const r = res as unknown as Record<string, (...a: unknown[]) => unknown>;
  const writeHead = r.writeHead!.bind(res);
  const write = r.write!.bind(res);
  const end = r.end!.bind(res);
  r.writeHead = (...a: unknown[]) => (tap(id, JSON.stringify(a)), writeHead(...a));
  r.write = (...a: unknown[]) => (tap(id, text(a[0])), write(...a));
  r.end = (...a: unknown[]) => (typeof a[0] !== "function" && a[0] !== undefined && tap(id, text(a[0])), end(...a));
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly listenerPort: number;
  readonly adminPort?: number;
  /** http://address:listenerPort */
  readonly url: string;
  readonly adminUrl?: string;
  readonly host: PluginHostLike;
  readonly clusters: ClusterManager;
  close(): Promise<void>;
}

function listen(server: http.Server, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const source = opts.bootstrapPath ?? "bootstrap";
  const text = opts.bootstrapText ?? (opts.bootstrapPath ? await readFile(opts.bootstrapPath, "utf8") : undefined);
  if (text === undefined) throw new Error("startGateway: give bootstrapText or bootstrapPath");
  const config = loadBootstrap(text, { source, baseDir: opts.baseDir });
  const level = opts.logLevel ?? 2;
  const log = (lvl: LogLevel, message: string) => {
    if (lvl >= level) opts.logger?.({ level: lvl, vm: "gateway", message });
  };

  const w = config.wasm;
  const code = async (c: WasmConfig): Promise<Uint8Array> => {
    try {
      return await readFile(c.codeFile);
    } catch (e) {
      throw new BootstrapError(source, [
        `…vm_config.code.local.filename: cannot read ${c.codeFile} (${(e as NodeJS.ErrnoException).code ?? e}); build it with \`npm run build\``,
      ]);
    }
  };
  const wasm = await code(w);
  const env = opts.env ?? process.env;
  const environmentOf = (c: WasmConfig): Record<string, string> => {
    const environment: Record<string, string> = { ...c.keyValues };
    for (const k of c.hostEnvKeys) {
      const v = env[k];
      if (v === undefined) log(3, `host_env_keys: ${k} is not set in the environment; the filter will not see it`);
      else environment[k] = v;
    }
    return environment;
  };
  const environment = environmentOf(w);

  const clusters = new ClusterManager(config.clusters);
  let host: PluginHostLike;
  const hosts: PluginHostLike[] = [];
  /** Each cluster's upstream wasm filters, in chain order, as one host (see upstreamHostFor). */
  const upstreamFilters = new Map<string, PluginHostLike>();
  /** Upstream filter hosts of their own (closed with the gateway). */
  const upstreamHosts: PluginHostLike[] = [];
  try {
    const base: PluginOptions = {
      wasm,
      vmId: w.vmId,
      rootId: w.rootId,
      pluginName: w.name,
      configuration: opts.pluginLogLevel !== undefined ? withPluginLogLevel(w.configuration, opts.pluginLogLevel) : w.configuration,
      vmConfiguration: w.vmConfiguration,
      environment,
      workers: opts.workers ?? 2,
      allowOnHeadersStopIteration: w.allowOnHeadersStopIteration,
      failurePolicy: w.failurePolicy,
      dispatcher: clusterDispatcher(clusters),
      logger: opts.logger && ((r) => opts.logger!({ ...r, message: inFileLines(r.message, w.configurationLine, source) })),
      logLevel: level,
      trace: opts.trace,
      ...opts.hostOptions,
    };
    const extra = async (p: ExtraPlugin, k: string) =>
      await (opts.hostFactory ?? defaultHostFactory)({
        ...base, wasm: p.wasm, vmId: `${w.vmId}-${k}`, pluginName: p.name ?? k, configuration: p.configuration ?? "", vmConfiguration: "", environment: {},
      });
    for (const [i, p] of (opts.plugins?.before ?? []).entries()) hosts.push(await extra(p, `before-${i}`));
    const primary = hosts.length;
    hosts.push(await (opts.hostFactory ?? defaultHostFactory)(base));
    for (const [i, p] of (opts.plugins?.after ?? []).entries()) hosts.push(await extra(p, `after-${i}`));
    host = hosts.length === 1 ? hosts[0]! : new PluginChain(hosts, primary);

    // A cluster's upstream wasm filters (HttpProtocolOptions.http_filters). Envoy keeps one Wasm
    // per VM key (vm_id, code, vm configuration: source/extensions/common/wasm/wasm.cc
    // createWasm/getOrCreateThreadLocalWasm) and one root context per plugin key (root_id and
    // configuration) in it; shared data is process-wide, keyed by vm_id. The harness host holds
    // one plugin per VM, so: a filter identical to the listener's (same VM key and plugin) runs on
    // the listener's host itself (its VMs, root context and shared data); any other gets VMs of
    // its own on the same process state (shared data still shared by vm_id, module globals not).
    const listenerHost = hosts[primary]!;
    const sharedProcess = (listenerHost as { process?: unknown }).process;
    const byKey = new Map<string, PluginHostLike>();
    const samePlugin = (u: WasmConfig) => u.vmId === w.vmId && u.codeFile === w.codeFile && u.vmConfiguration === w.vmConfiguration &&
      u.rootId === w.rootId && u.configuration === w.configuration && u.name === w.name;
    for (const [cluster, c] of config.clusters) {
      const chain: PluginHostLike[] = [];
      for (const [i, u] of (c.upstreamFilters ?? []).entries()) {
        if (samePlugin(u)) {
          chain.push(listenerHost);
          continue;
        }
        const key = JSON.stringify(u);
        let h = byKey.get(key);
        if (!h) {
          h = await (opts.hostFactory ?? defaultHostFactory)({
            ...base, wasm: await code(u), vmId: u.vmId, rootId: u.rootId, pluginName: u.name || `${cluster}-upstream-${i}`,
            configuration: u.configuration, vmConfiguration: u.vmConfiguration, environment: environmentOf(u),
            allowOnHeadersStopIteration: u.allowOnHeadersStopIteration, failurePolicy: u.failurePolicy,
            logger: opts.logger,
          }, sharedProcess);
          byKey.set(key, h);
          upstreamHosts.push(h);
        }
        chain.push(h);
      }
      if (chain.length > 0) upstreamFilters.set(cluster, chain.length === 1 ? chain[0]! : new PluginChain(chain, 0));
    }
  } catch (e) {
    await Promise.all(upstreamHosts.map((h) => h.close()));
    await Promise.all(hosts.map((h) => h.close()));
    clusters.close();
    throw e;
  }

  let ready = false;
  const admin = config.admin ? createAdminServer({ ready: () => ready, metrics: () => host.metrics(), clusters, statsTags: config.statsTags }) : undefined;

  // One id per downstream connection; the host pins each connection to one worker VM.
  const connectionIds = new WeakMap<Socket, number>();
  let nextConnectionId = 0;
  const server = http.createServer({ noDelay: true, requestTimeout: 0, keepAliveTimeout: 60_000 });
  server.on("connection", (socket: Socket) => {
    const id = ++nextConnectionId;
    connectionIds.set(socket, id);
    // The host pins a connection to a worker; tell it when the connection is gone.
    socket.once("close", () => host.connectionClosed?.(id));
  });
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (opts.clientTap) tapResponse(res, opts.clientTap);
    const ctx = { config, clusters, host, log, random: opts.random, bufferLimitBytes: opts.hostOptions?.bufferLimitBytes, upstreamFilters };
    new Exchange(ctx, req, res, connectionIds.get(req.socket) ?? ++nextConnectionId).start();
  };
  server.on("request", onRequest);
  // Node answers an Expect other than 100-continue with 417 by itself; Envoy's connection manager
  // only handles 100-continue and proxies any other expectation like a plain header.
  server.on("checkExpectation", onRequest);

  let adminPort: number | undefined;
  let listenerPort: number;
  try {
    if (admin) adminPort = await listen(admin, config.admin!.address, config.admin!.port);
    listenerPort = await listen(server, config.listener.address, config.listener.port);
  } catch (e) {
    if (admin?.listening) await close(admin);
    clusters.close();
    await host.close();
    await Promise.all(upstreamHosts.map((h) => h.close()));
    throw e;
  }
  ready = true;
  const hostPart = (a: string) => (a.includes(":") ? `[${a}]` : a === "0.0.0.0" ? "127.0.0.1" : a);
  log(2, `listening on ${config.listener.address}:${listenerPort}${admin ? `, admin on ${config.admin!.address}:${adminPort}` : ""}`);

  let closing: Promise<void> | undefined;
  return {
    config,
    listenerPort,
    adminPort,
    url: `http://${hostPart(config.listener.address)}:${listenerPort}`,
    adminUrl: admin ? `http://${hostPart(config.admin!.address)}:${adminPort}` : undefined,
    host,
    clusters,
    close() {
      closing ??= (async () => {
        ready = false;
        await Promise.all([close(server), admin ? close(admin) : undefined]);
        clusters.close();
        await host.close();
        await Promise.all(upstreamHosts.map((h) => h.close()));
      })();
      return closing;
    },
  };
}
