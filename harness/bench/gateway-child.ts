/**
 * One gateway in its own process, driven over IPC by the bench:
 *   {type:"start", bootstrap, hostOptions?} → {type:"ready", port}
 *   {type:"stats"}            → {type:"stats", stats: ChildStats}
 *   {type:"close"}            → closes the gateway and exits
 * Exits by itself when the bench process goes away (IPC disconnect).
 */
import { startGateway, type Gateway } from "../gateway/index.ts";
import type { LogRecord, PluginOptions } from "../host/types.ts";
import { ROOT } from "./paths.ts";
import type { ChildStats } from "./stack.ts";
import { workerMemoryBytes } from "./vm-memory.ts";

let gateway: Gateway | null = null;
const logLines = [0, 0, 0, 0, 0, 0];
const firstWarnings: string[] = [];

function logger(r: LogRecord): void {
  logLines[r.level]++;
  if (r.level >= 3 && firstWarnings.length < 5) firstWarnings.push(`[${r.vm}] ${r.message}`.slice(0, 300));
}

const send = (m: object) => process.send?.(m);

async function shutdown(): Promise<void> {
  const g = gateway;
  gateway = null;
  await g?.close();
  if (process.connected) process.disconnect();
  process.exit(0);
}

process.on("message", async (m: { type: string; bootstrap?: string; hostOptions?: Partial<PluginOptions> }) => {
  try {
    if (m.type === "start") {
      // Envoy's default log level (info): the filter's per-request logging costs what it would there.
      gateway = await startGateway({ bootstrapText: m.bootstrap!, baseDir: ROOT, workers: 2, logLevel: 2, logger, hostOptions: m.hostOptions });
      send({ type: "ready", port: gateway.listenerPort });
    } else if (m.type === "stats") {
      (globalThis as { gc?: () => void }).gc?.();
      const mem = process.memoryUsage();
      const stats: ChildStats = {
        workerMemory: gateway ? workerMemoryBytes(gateway.host) : [],
        heapUsed: mem.heapUsed,
        rss: mem.rss,
        logLines: [...logLines],
        firstWarnings: [...firstWarnings],
      };
      send({ type: "stats", stats });
    } else if (m.type === "close") {
      await shutdown();
    }
  } catch (e) {
    send({ type: "error", message: (e as Error)?.stack ?? String(e) });
  }
});
process.on("disconnect", () => void shutdown());
