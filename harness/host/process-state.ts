/** Everything Envoy keeps per process rather than per VM. Two PluginHosts may share one. */
import { SharedData } from "./shared-data.ts";
import { SharedQueues } from "./shared-queue.ts";
import { Stats } from "./stats.ts";

export class ProcessState {
  readonly sharedData = new SharedData();
  readonly queues = new SharedQueues();
  readonly stats = new Stats();
}
