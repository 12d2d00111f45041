/**
 * A small pipelining Redis client over one TCP connection (node:net), for harness servers (the
 * rate limit stand-in) and tests. Replies arrive in command order; a reply that is a Redis error
 * resolves as a RespError value (not a rejection); a broken connection rejects every pending
 * command and the next command reconnects.
 *
 *   const r = new RedisClient({ port }); await r.command(["SET", "k", "1"]);
 *   const [n] = await r.pipeline([["INCRBY", "k", 2], ["EXPIRE", "k", 60]]); r.close();
 */
import net from "node:net";
import { encodeCommand, parseReply, RespSplitter, type RespValue } from "./resp.ts";

export interface RedisClientOptions {
  host?: string;
  port: number;
  /** Per command, ms (connect included). Default 2000. */
  timeoutMs?: number;
  /** Sent as AUTH first on every new connection. */
  password?: string;
}

interface Pending {
  resolve(v: RespValue): void;
  reject(e: Error): void;
}

export class RedisClient {
  private socket: net.Socket | null = null;
  private splitter = new RespSplitter();
  private pending: Pending[] = [];

  constructor(private readonly opts: RedisClientOptions) {}

  private connect(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect({ host: this.opts.host ?? "127.0.0.1", port: this.opts.port });
    socket.setNoDelay(true);
    this.splitter = new RespSplitter();
    socket.on("data", (chunk) => {
      let replies: Buffer[];
      try {
        replies = this.splitter.push(chunk);
      } catch (e) {
        socket.destroy(e as Error);
        return;
      }
      for (const raw of replies) this.pending.shift()?.resolve(parseReply(raw));
    });
    const fail = (err?: Error) => {
      if (this.socket === socket) this.socket = null;
      const waiting = this.pending;
      this.pending = [];
      for (const p of waiting) p.reject(err ?? new Error("redis connection closed"));
    };
    socket.on("error", fail);
    socket.on("close", () => fail());
    this.socket = socket;
    if (this.opts.password) {
      // AUTH rides first on the connection; its reply is dropped.
      this.pending.push({ resolve: () => {}, reject: () => {} });
      socket.write(encodeCommand(["AUTH", this.opts.password]));
    }
    return socket;
  }

  /** Sends the commands in one write; resolves with their replies in order. */
  pipeline(commands: Array<Array<string | number | Uint8Array>>): Promise<RespValue[]> {
    const socket = this.connect();
    const replies = commands.map(
      () => new Promise<RespValue>((resolve, reject) => this.pending.push({ resolve, reject })),
    );
    socket.write(Buffer.concat(commands.map(encodeCommand)));
    const timeoutMs = this.opts.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`redis: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([Promise.all(replies), timeout]).finally(() => clearTimeout(timer));
  }

  async command(args: Array<string | number | Uint8Array>): Promise<RespValue> {
    return (await this.pipeline([args]))[0]!;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }
}
