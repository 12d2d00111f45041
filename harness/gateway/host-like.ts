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

export type HostFactory = (opts: PluginOptions) => Promise<PluginHostLike>;

/** The real host, loaded lazily so the gateway's modules load even before the host exists. */
export const defaultHostFactory: HostFactory = async (opts) => {
  const mod = (await import(new URL("../host/index.ts", import.meta.url).href)) as { PluginHost: { create(o: PluginOptions): Promise<PluginHostLike> } };
  return mod.PluginHost.create(opts);
};
