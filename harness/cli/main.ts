/**
 * ai-failover command line.
 *   serve <bootstrap.yaml> [--workers N] [--log-level L] [--host envoy|higress]   the gateway alone, on any bootstrap file
 *   start [--workers N] [--log-level L]                    build if needed, mock providers + gateway on envoy/local.yaml
 *   mocks [bootstrap.yaml]                                 only the mock providers of a bootstrap (for a real Envoy)
 */
import { fileURLToPath } from "node:url";
import type { HostFlavour, LogLevel, LogRecord } from "../host/types.ts";
import { startGateway, type Gateway } from "../gateway/index.ts";
import { startLocal, startMockProviders } from "./start.ts";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const USAGE = `usage:
  ai-failover start [--workers N] [--log-level L]
      build the filter if needed, start two mock Azure OpenAI providers and the gateway on
      envoy/local.yaml, and print a curl line to try it
  ai-failover serve <bootstrap.yaml> [--workers N] [--log-level L] [--host envoy|higress]
      start the gateway alone on an Envoy bootstrap file (e.g. envoy/envoy.yaml for real endpoints)
  ai-failover mocks [bootstrap.yaml]
      start only the mock providers of a bootstrap (default envoy/local.yaml), each on its
      cluster's port with the key the bootstrap gives the filter: put a real Envoy in front
      (envoy/docker-compose.yaml)
  ai-failover validate <file>
      check a plugin configuration (JSON/YAML), an Envoy bootstrap or a Higress WasmPlugin file
      with the filter's own validation and the bootstrap's cross-checks; every problem with its
      path; exit 1 on any
  ai-failover bootstrap <config.json|yaml> [--port N]
      print a bootstrap running that plugin configuration on this machine: envoy/local.yaml with
      one cluster per provider on 127.0.0.1 (ports N, N+1, …; default 18081) and a made-up key
      for every apiKeyEnv — for \`mocks FILE\` and \`serve FILE\`

  --workers N      worker VMs, like Envoy's --concurrency (default 2)
  --log-level L    trace | debug | info | warn | error | critical (default info)
  --host H         envoy (default) | higress: which host's proxy-wasm rules the gateway plays
                   (Higress: ABI 0_2_100 known, no allow_on_headers_stop_iteration in the bootstrap)
`;

const LEVELS = ["trace", "debug", "info", "warn", "error", "critical"] as const;

export interface CliOptions {
  positional: string[];
  workers?: number;
  logLevel: LogLevel;
  flavour?: HostFlavour;
  port?: number;
}

export function parseArgs(args: string[]): CliOptions {
  const out: CliOptions = { positional: [], logLevel: 2 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.startsWith("--") ? a.split("=", 2) : [a, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--workers") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new UsageError("--workers must be a positive integer");
      out.workers = n;
    } else if (flag === "--log-level") {
      const v = value();
      const idx = LEVELS.indexOf(v as (typeof LEVELS)[number]);
      if (idx < 0) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}`);
      out.logLevel = idx as LogLevel;
    } else if (flag === "--host") {
      const v = value();
      if (v !== "envoy" && v !== "higress") throw new UsageError("--host must be envoy or higress");
      out.flavour = v;
    } else if (flag === "--port") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError("--port must be a port number");
      out.port = n;
    } else if (a.startsWith("-")) {
      throw new UsageError(`unknown option ${a}`);
    } else out.positional.push(a);
  }
  return out;
}

class UsageError extends Error {}

export function consoleLogger(record: LogRecord): void {
  process.stderr.write(`[${LEVELS[record.level]}][${record.vm}] ${record.message}\n`);
}

/** Resolves when a signal asks the process to stop. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

async function serve(opts: CliOptions): Promise<number> {
  const [file] = opts.positional;
  if (!file) throw new UsageError("serve needs a bootstrap file");
  const gw: Gateway = await startGateway({
    bootstrapPath: file,
    workers: opts.workers,
    logLevel: opts.logLevel,
    pluginLogLevel: opts.logLevel < 2 ? opts.logLevel : undefined,
    logger: consoleLogger,
    hostOptions: opts.flavour ? { flavour: opts.flavour } : undefined,
  });
  process.stdout.write(
    `ai-failover gateway on ${gw.url}` + (gw.adminUrl ? ` (admin ${gw.adminUrl})` : "") + ` — ${gw.host.workerCount} workers, ${file}\n`,
  );
  await untilSignal();
  await gw.close();
  return 0;
}

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serve(parseArgs(rest));
      case "start": {
        const opts = parseArgs(rest);
        const stop = await startLocal({ root: ROOT, workers: opts.workers, logLevel: opts.logLevel, logger: consoleLogger, out: process.stdout });
        await untilSignal();
        await stop();
        return 0;
      }
      case "mocks": {
        const opts = parseArgs(rest);
        const [file] = opts.positional;
        const { mocks, stop } = await startMockProviders({ root: ROOT, bootstrapText: file ? readFileSync(file, "utf8") : undefined });
        for (const m of mocks) process.stdout.write(`mock provider ${m.name} on ${m.mock.url}\n`);
        process.stdout.write("Ctrl-C stops them.\n");
        await untilSignal();
        await stop();
        return 0;
      }
      case "validate": {
        const opts = parseArgs(rest);
        if (opts.positional.length === 0) throw new UsageError("validate needs a file");
        const { validateFile } = await import("./validate.ts");
        let failed = 0;
        for (const file of opts.positional) {
          const r = await validateFile(ROOT, file);
          if (r.problems.length === 0) {
            process.stdout.write(`${file}: OK (${r.kind}${r.summary ? `: ${r.summary}` : ""})\n`);
            continue;
          }
          failed++;
          process.stdout.write(`${file}: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} (${r.kind})\n`);
          for (const p of r.problems) process.stdout.write(`  ${p}\n`);
        }
        return failed > 0 ? 1 : 0;
      }
      case "bootstrap": {
        const opts = parseArgs(rest);
        const [file] = opts.positional;
        if (!file) throw new UsageError("bootstrap needs a plugin configuration file (JSON or YAML)");
        const { localBootstrapFor } = await import("./local-bootstrap.ts");
        process.stdout.write(localBootstrapFor(ROOT, parseYaml(readFileSync(file, "utf8")), { firstPort: opts.port }));
        return 0;
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 1 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ai-failover: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    // The filter's own lines (each configuration problem) were printed as they were logged.
    process.stderr.write(`ai-failover: ${(e as Error).message}\n`);
    return 1;
  }
}
