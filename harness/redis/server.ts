/**
 * A throwaway redis-server for tests and harness runs: Debian's `redis-server` (or $REDIS_SERVER_BIN)
 * on 127.0.0.1 and a free port, no persistence (`--save "" --appendonly no`), its working directory
 * a fresh temp dir. It can be killed (SIGKILL, like a crash) or stopped and started again on the same
 * port mid-test, or paused (SIGSTOP: connections stay open, nothing answers — a hung server), so
 * fail-open paths can be driven. A restarted server starts empty. `password` sets requirepass.
 *
 *   const found = findRedisServer();               // { bin, version } or { reason }
 *   const redis = await startRedis();              // redis.port, redis.host
 *   await redis.kill(); await redis.restart(); await redis.stop();
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "./client.ts";

export type RedisFound = { bin: string; version: string } | { reason: string };

/** A redis-server that answers --version, or why there is none. */
export function findRedisServer(): RedisFound {
  const candidates = [process.env.REDIS_SERVER_BIN, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"].filter(
    (c): c is string => !!c,
  );
  for (const bin of candidates) {
    const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 5000 });
    if (r.status === 0 && /Redis server/i.test(r.stdout)) return { bin, version: r.stdout.trim() };
  }
  return { reason: `no redis-server: none of ${candidates.join(", ")} runs (.ci/run installs Debian's redis-server with apt where it can)` };
}

/** A port nothing listens on right now (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  readonly host = "127.0.0.1";
  private child: ChildProcess | null = null;
  private output = "";
  private readonly dir: string;

  private constructor(
    readonly bin: string,
    readonly port: number,
    private readonly password?: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "harness-redis-"));
  }

  static async start(opts: { bin?: string; port?: number; password?: string } = {}): Promise<RedisServer> {
    let bin = opts.bin;
    if (!bin) {
      const found = findRedisServer();
      if ("reason" in found) throw new Error(found.reason);
      bin = found.bin;
    }
    const server = new RedisServer(bin, opts.port ?? (await freePort()), opts.password);
    await server.spawn();
    return server;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What redis-server printed (for failure messages). */
  get log(): string {
    return this.output;
  }

  private async spawn(): Promise<void> {
    const args = [
      "--port", String(this.port), "--bind", this.host, "--save", "", "--appendonly", "no",
      "--daemonize", "no", "--dir", this.dir, "--logfile", "", "--loglevel", "warning",
      ...(this.password ? ["--requirepass", this.password] : []),
    ];
    const child = spawn(this.bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout!.on("data", (d) => (this.output += d));
    child.stderr!.on("data", (d) => (this.output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.running) throw new Error(`redis-server exited at start (port ${this.port}):\n${this.output}`);
      const c = new RedisClient({ port: this.port, timeoutMs: 500 });
      try {
        if (this.password) await c.command(["AUTH", this.password]);
        if ((await c.command(["PING"])) === "PONG") return;
      } catch {
        // not listening yet
      } finally {
        c.close();
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${this.port}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGCONT");
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(sig);
    await exited;
  }

  /** Ends the server abruptly (SIGKILL): connections reset, like a crash. */
  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  /** Starts it again on the same port (empty: nothing is persisted). Kills it first if running. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Freezes it (SIGSTOP): it accepts nothing new and answers nothing until resume(). */
  pause(): void {
    if (this.running) this.child!.kill("SIGSTOP");
  }

  resume(): void {
    if (this.running) this.child!.kill("SIGCONT");
  }

  /** Stops it (SIGTERM) and removes its directory. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A client (authenticated when the server has a password: its first command is AUTH). */
  client(): RedisClient {
    return new RedisClient({ host: this.host, port: this.port, password: this.password });
  }
}

export const startRedis = RedisServer.start;
