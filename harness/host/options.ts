/** PluginOptions with defaults applied, as the VMs and streams read them. */
import { toBytes } from "./bytes.ts";
import type { HostFlavour } from "./abi.ts";
import type { ClusterDispatcher, FailurePolicy, LogLevel, PluginOptions } from "./types.ts";

export interface ResolvedOptions {
  vmId: string;
  rootId: string;
  pluginName: string;
  configuration: Uint8Array;
  vmConfiguration: Uint8Array;
  environment: Array<[string, string]>;
  workers: number;
  allowOnHeadersStopIteration: boolean;
  flavour: HostFlavour;
  failurePolicy: FailurePolicy;
  bufferLimitBytes: number;
  dispatcher?: ClusterDispatcher;
  logger?: PluginOptions["logger"];
  logLevel: LogLevel;
  trace: boolean;
  profile: boolean;
  clockNs: () => bigint;
  monotonicNs: () => bigint;
  random: (buf: Uint8Array) => void;
  /** Plugin-level properties by NUL-joined path. */
  properties: Map<string, Uint8Array>;
}

export function resolveOptions(opts: PluginOptions): ResolvedOptions {
  const properties = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(opts.properties ?? {})) properties.set(k, toBytes(v));
  return {
    vmId: opts.vmId ?? "",
    rootId: opts.rootId,
    pluginName: opts.pluginName ?? opts.rootId,
    configuration: toBytes(opts.configuration),
    vmConfiguration: toBytes(opts.vmConfiguration ?? ""),
    environment: Object.entries(opts.environment ?? {}),
    workers: Math.max(1, opts.workers ?? 2),
    allowOnHeadersStopIteration: opts.allowOnHeadersStopIteration ?? false,
    flavour: opts.flavour ?? "envoy",
    failurePolicy: opts.failurePolicy ?? "FAIL_RELOAD",
    bufferLimitBytes: opts.bufferLimitBytes ?? 1024 * 1024,
    dispatcher: opts.dispatcher,
    logger: opts.logger,
    logLevel: opts.logLevel ?? 2,
    trace: opts.trace ?? false,
    profile: opts.profile ?? false,
    clockNs: opts.clockNs ?? (() => BigInt(Date.now()) * 1_000_000n),
    monotonicNs: () => process.hrtime.bigint(),
    random: opts.random ?? ((buf) => crypto.getRandomValues(buf)),
    properties,
  };
}
