/**
 * A lean HTTP/1.1 keep-alive client for the bench (one request in flight per connection).
 * Requests are pre-serialised bytes; responses are parsed just enough to find their end
 * (content-length or chunked) and, for SSE, when each event ("…\n\n") arrived. Keeping the
 * client cheap keeps the load generator from hiding the cost of what is measured.
 */
import net from "node:net";

export interface Timing {
  status: number;
  /** performance.now() when the request was written. */
  start: number;
  /** When the whole response had arrived. */
  end: number;
  /** Arrival time of each SSE event end ("\n\n"), when frames were tracked. */
  frames: number[];
  /** The value of the response header named by `trackHeader`, if any. */
  header?: string;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailers" | "done";

export function serializeRequest(method: string, path: string, host: string, headers: Record<string, string>, body: Buffer): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${body.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + "\r\n"), body]);
}

export class Connection {
  private socket: net.Socket | null = null;
  private connecting: Promise<void> | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private state: State = "done";
  private remaining = 0;
  private lastByte = 0;
  private trackFrames = false;
  private trackHeader = "";
  private current: Timing | null = null;
  private resolve: ((t: Timing) => void) | null = null;
  private reject: ((e: Error) => void) | null = null;
  private keepAlive = true;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly port: number, private readonly timeoutMs = 15_000) {}

  private connect(): Promise<void> {
    this.connecting ??= new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port: this.port, noDelay: true });
      s.once("connect", () => {
        s.off("error", reject);
        s.on("error", (e) => this.fail(e));
        resolve();
      });
      s.once("error", reject);
      s.on("data", (d: Buffer) => this.onData(d));
      s.on("close", () => {
        if (this.socket === s) {
          this.socket = null;
          this.connecting = null;
        }
        this.fail(new Error("connection closed"));
      });
      this.socket = s;
    }).catch((e) => {
      this.socket = null;
      this.connecting = null;
      throw e;
    });
    return this.connecting;
  }

  async request(bytes: Buffer, opts: { frames?: boolean; header?: string } = {}): Promise<Timing> {
    if (this.resolve) throw new Error("one request at a time per connection");
    if (!this.socket || !this.keepAlive) {
      this.socket?.destroy();
      this.socket = null;
      this.connecting = null;
      this.keepAlive = true;
    }
    await this.connect();
    return new Promise<Timing>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.trackFrames = opts.frames ?? false;
      this.trackHeader = opts.header ?? "";
      this.state = "head";
      this.pending = Buffer.alloc(0);
      this.lastByte = 0;
      this.timer = setTimeout(() => {
        this.socket?.destroy();
        this.fail(new Error(`no complete response within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.current = { status: 0, start: performance.now(), end: 0, frames: [] };
      this.socket!.write(bytes);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
    this.connecting = null;
  }

  private fail(e: Error): void {
    const reject = this.reject;
    this.settle();
    this.keepAlive = false;
    reject?.(e);
  }

  private settle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.resolve = null;
    this.reject = null;
    this.current = null;
    this.state = "done";
  }

  private onData(d: Buffer): void {
    const t = this.current;
    if (!t) return;
    const now = performance.now();
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let at = 0;
    const buf = this.pending;
    while (at < buf.length || this.state === "done") {
      if (this.state === "head") {
        const end = buf.indexOf(HEAD_END, at);
        if (end < 0) break;
        this.parseHead(buf.toString("latin1", at, end), t);
        at = end + 4;
      } else if (this.state === "length") {
        const n = Math.min(this.remaining, buf.length - at);
        this.body(buf, at, at + n, now);
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = "done";
      } else if (this.state === "chunk-size") {
        const end = buf.indexOf(CRLF, at);
        if (end < 0) break;
        const size = parseInt(buf.toString("latin1", at, end).split(";")[0]!, 16);
        if (!Number.isFinite(size)) return this.fail(new Error("bad chunk size"));
        at = end + 2;
        this.remaining = size;
        this.state = size === 0 ? "trailers" : "chunk-data";
      } else if (this.state === "chunk-data") {
        const n = Math.min(this.remaining, buf.length - at);
        this.body(buf, at, at + n, now);
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = "chunk-crlf";
      } else if (this.state === "chunk-crlf") {
        if (buf.length - at < 2) break;
        at += 2;
        this.state = "chunk-size";
      } else if (this.state === "trailers") {
        const end = buf.indexOf(CRLF, at);
        if (end < 0) break;
        const empty = end === at;
        at = end + 2;
        if (empty) this.state = "done";
      } else {
        // done
        const resolve = this.resolve;
        t.end = now;
        this.settle();
        this.pending = Buffer.alloc(0);
        resolve?.(t);
        return;
      }
    }
    this.pending = at >= buf.length ? Buffer.alloc(0) : buf.subarray(at);
  }

  private parseHead(head: string, t: Timing): void {
    const lines = head.split("\r\n");
    t.status = Number(lines[0]!.split(" ")[1]);
    let length = -1;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const c = line.indexOf(":");
      if (c < 0) continue;
      const name = line.slice(0, c).trim().toLowerCase();
      const value = line.slice(c + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
      else if (name === "connection" && value.toLowerCase() === "close") this.keepAlive = false;
      if (this.trackHeader && name === this.trackHeader) t.header = value;
    }
    if (chunked) this.state = "chunk-size";
    else if (length > 0) {
      this.state = "length";
      this.remaining = length;
    } else this.state = "done";
  }

  /** Body bytes [from, to): note SSE event ends ("\n\n", possibly split across reads). */
  private body(buf: Buffer, from: number, to: number, now: number): void {
    if (!this.trackFrames || to <= from) return;
    let prev = this.lastByte;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b === 10 && prev === 10) {
        this.current!.frames.push(now);
        prev = 0;
      } else if (b !== 13) prev = b;
    }
    this.lastByte = prev;
  }
}
