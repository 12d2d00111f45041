/** Everything Envoy keeps per process rather than per VM. Two PluginHosts may share one. */
import { SharedData } from "./shared-data.ts";
import type { SabSharedData } from "./shared-data-sab.ts";
import { SharedQueues } from "./shared-queue.ts";
import { Stats } from "./stats.ts";

/** What the host calls need of shared data (SharedData in one thread, SabSharedData across threads). */
export type SharedStore = Pick<SharedData, "get" | "set" | "keys" | "interleave">;

export class ProcessState {
  /** `sharedData`: a SabSharedData for worker VMs in parallel threads (default: one thread's). */
  constructor(readonly sharedData: SharedStore | SabSharedData = new SharedData()) {}
  readonly queues = new SharedQueues();
  readonly stats = new Stats();
}
