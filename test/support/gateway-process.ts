/**
 * A harness gateway in a process of its own — a replica as in production: its own event loop, heap,
 * VMs and shared data, running in parallel with the others. Driven over IPC:
 *
 *   const g = await startGatewayProcess(bootstrapYaml, { flavour: "higress", workers: 2 });
 *   g.url; g.adminUrl; await g.logs(); await g.close();
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { HostFlavour, LogRecord } from "../../harness/host/types.ts";

type Message =
  | { type: "start"; bootstrap: string; flavour: HostFlavour; workers: number; baseDir: string }
  | { type: "logs" }
  | { type: "close" };

export interface GatewayProcess {
  url: string;
  adminUrl: string;
  pid: number;
  logs(): Promise<LogRecord[]>;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string; error?: string } & T) => {
      if (m.type === "error") return done(() => reject(new Error(`gateway process ${child.pid}: ${m.error}`)));
      if (m.type === type) done(() => resolve(m));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`gateway process ${child.pid} exited (${code}) before "${type}"`)));
    const done = (f: () => void) => {
      child.off("message", onMessage);
      child.off("exit", onExit);
      f();
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

export async function startGatewayProcess(bootstrap: string, opts: { flavour?: HostFlavour; workers?: number; baseDir: string }): Promise<GatewayProcess> {
  const child = fork(SELF, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ready = reply<{ url: string; adminUrl: string }>(child, "ready");
  child.send({ type: "start", bootstrap, flavour: opts.flavour ?? "envoy", workers: opts.workers ?? 2, baseDir: opts.baseDir } satisfies Message);
  const { url, adminUrl } = await ready;
  return {
    url, adminUrl, pid: child.pid!,
    async logs() {
      const r = reply<{ logs: LogRecord[] }>(child, "logs");
      child.send({ type: "logs" } satisfies Message);
      return (await r).logs;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "close" } satisfies Message);
      await exited;
    },
  };
}

// ---- the child ------------------------------------------------------------------------------
if (process.send && process.argv[1] === SELF) {
  const { startGateway } = await import("../../harness/gateway/index.ts");
  const logs: LogRecord[] = [];
  let gateway: Awaited<ReturnType<typeof startGateway>> | null = null;
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: Message) => {
    try {
      if (m.type === "start") {
        gateway = await startGateway({ bootstrapText: m.bootstrap, hostOptions: { flavour: m.flavour }, baseDir: m.baseDir, workers: m.workers,
          logLevel: 0, logger: (r) => logs.push(r) });
        process.send!({ type: "ready", url: gateway.url, adminUrl: gateway.adminUrl });
      } else if (m.type === "logs") {
        process.send!({ type: "logs", logs });
      } else if (m.type === "close") {
        await gateway?.close();
        process.exit(0);
      }
    } catch (e) {
      process.send!({ type: "error", error: String((e as Error)?.stack ?? e) });
    }
  });
}
