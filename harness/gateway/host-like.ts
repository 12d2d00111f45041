/** The part of the host's PluginHost the gateway uses (harness/host/index.ts implements it). */
import type { HttpStream, MetricSnapshot, PluginOptions, StreamCallbacks } from "../host/types.ts";

export interface PluginHostLike {
  readonly workerCount: number;
  newStream(connectionId: number, callbacks: StreamCallbacks): HttpStream;
  /** A downstream connection closed (optional: hosts without it keep every mapping). */
  connectionClosed?(connectionId: number): void;
  metrics(): MetricSnapshot[];
  close(): Promise<void>;
}

/**
 * `process`: the process-wide state (shared data keyed by vm_id, queues, stats) to share with
 * another host, e.g. a cluster's upstream wasm filter with the listener's (Envoy keeps one per process).
 */
export type HostFactory = (opts: PluginOptions, process?: unknown) => Promise<PluginHostLike>;

/** The real host, loaded lazily so the gateway's modules load even before the host exists. */
export const defaultHostFactory: HostFactory = async (opts, process) => {
  const mod = (await import(new URL("../host/index.ts", import.meta.url).href)) as { PluginHost: { create(o: PluginOptions, p?: unknown): Promise<PluginHostLike> } };
  return mod.PluginHost.create(opts, process);
};
