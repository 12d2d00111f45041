/**
 * Higress's redis calls (only when the host plays Higress): proxy_redis_init / proxy_redis_call and
 * the proxy_on_redis_call_response callback, as higress-group/envoy implements them
 * (source/extensions/common/wasm/context.cc Context::redisInit/redisCall/onRedisCallSuccess/
 * onRedisCallFailure, source/common/redis/async_client_impl.cc AsyncClientImpl,
 * source/extensions/filters/network/common/redis/raw_client_impl.cc RawClientImpl) over
 * higress-group/proxy-wasm-cpp-host (src/exports.cc redis_init/redis_call, src/context.cc):
 *
 *   - the cluster argument is "<cluster>[?query]"; an unknown cluster → BadArgument. Query
 *     parameters are the client's params (`db=N` selects a database on each new connection).
 *   - proxy_redis_init(cluster, username, password, timeout_ms): replaces the cluster's client
 *     config (op timeout = timeout_ms; before any init, 1000 ms) and closes its open connections
 *     (their pending calls fail). Ok.
 *   - proxy_redis_call(cluster, query, token_ptr): the token slot is checked first
 *     (InvalidMemoryAccess); no host → InternalFailure. `query` is sent as the module wrote it
 *     (RESP, e.g. wasm-go's respString); token 7, 11, 15… per VM. A new connection to the host sends
 *     AUTH (username+password, or password alone) and SELECT db first, their replies dropped.
 *   - one reply → proxy_on_redis_call_response(root, token, 0 = Ok, size) with the reply's raw
 *     RESP bytes in buffer type 9 (RedisCallResponse). Failure (connection refused/closed, connect
 *     timeout = the cluster's connect_timeout, op timeout, protocol error, init closing the
 *     connection) → (root, token, 1 = NetworkError, 0) with proxy_get_status 11 "reset".
 *   - the op timeout runs while a connection has calls in flight (restarted by each reply); when it
 *     fires the connection closes and every call on it fails.
 *   - commands are buffered before they are written (raw_client_impl.cc makeRawRequest, with
 *     AsyncClientConfig's fixed max_buffer_size_before_flush 1024 and buffer_flush_timeout 3 ms,
 *     envoy/redis/async_client.h): a command that brings the buffer to 1,024 bytes or more flushes it
 *     at once; otherwise the first command into an empty buffer starts a 3 ms timer that flushes it.
 * One connection per host per VM, as Envoy has one per host per worker thread.
 */
import net from "node:net";
import { WasmResult } from "./abi.ts";
import { RespProtocolError, RespSplitter } from "../redis/resp.ts";
import type { WasmVm } from "./vm.ts";

export const RedisStatus = { Ok: 0, NetworkError: 1 } as const;

/** Envoy's write buffering of Redis commands (AsyncClientConfig: max_buffer_size_before_flush, buffer_flush_timeout). */
export const REDIS_FLUSH_BYTES = 1024;
export const REDIS_FLUSH_MS = 3;

interface Config {
  username: string;
  password: string;
  opTimeoutMs: number;
  params: Map<string, string>;
}

interface Pending {
  /** undefined: AUTH/SELECT, reply dropped. */
  token?: number;
}

class RedisConnection {
  private readonly socket: net.Socket;
  private readonly splitter = new RespSplitter();
  private readonly pending: Pending[] = [];
  private connected = false;
  private timer: NodeJS.Timeout | null = null;
  /** Encoded commands not yet written, and the flush timer. */
  private buffer: Uint8Array[] = [];
  private buffered = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  closed = false;

  constructor(
    private readonly owner: RedisClusterClient,
    readonly key: string,
    host: string,
    port: number,
    connectTimeoutMs: number,
  ) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.arm(connectTimeoutMs);
    this.socket.on("connect", () => {
      this.connected = true;
      this.arm(this.owner.config.opTimeoutMs);
    });
    this.socket.on("data", (chunk) => this.onData(chunk));
    this.socket.on("error", () => {});
    this.socket.on("close", () => this.onClose());
    const c = owner.config;
    if (c.username) this.send(encode(["AUTH", c.username, c.password]));
    else if (c.password) this.send(encode(["AUTH", c.password]));
    const db = c.params.get("db");
    if (db !== undefined) this.send(encode(["SELECT", db]));
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), ms);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  send(query: Uint8Array, token?: number): void {
    this.pending.push({ token });
    const wasEmpty = this.buffered === 0;
    this.buffer.push(query);
    this.buffered += query.length;
    if (this.buffered >= REDIS_FLUSH_BYTES) this.flush();
    else if (wasEmpty) this.flushTimer = setTimeout(() => this.flush(), REDIS_FLUSH_MS);
    if (this.connected && this.pending.length === 1) this.arm(this.owner.config.opTimeoutMs);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.buffered === 0 || this.closed) return;
    const bytes = Buffer.concat(this.buffer);
    this.buffer = [];
    this.buffered = 0;
    this.socket.write(bytes);
  }

  private onData(chunk: Buffer): void {
    let replies: Buffer[];
    try {
      replies = this.splitter.push(chunk);
    } catch (e) {
      if (e instanceof RespProtocolError) return this.close();
      throw e;
    }
    for (const raw of replies) {
      const p = this.pending.shift();
      if (this.pending.length === 0) this.disarm();
      else this.arm(this.owner.config.opTimeoutMs);
      if (p?.token !== undefined) this.owner.done(p.token, new Uint8Array(raw));
    }
  }

  /** Closes now (Envoy's close(NoFlush) raises LocalClose at once): calls in flight fail. */
  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.owner.forget(this);
    const failed = this.pending.splice(0);
    for (const p of failed) if (p.token !== undefined) this.owner.done(p.token, null);
  }
}

/** Envoy's Redis::AsyncClientImpl of one thread-local cluster (here: per VM). */
class RedisClusterClient {
  config: Config = { username: "", password: "", opTimeoutMs: 1000, params: new Map() };
  private readonly connections = new Map<string, RedisConnection>();

  constructor(
    private readonly vm: WasmVm,
    readonly cluster: string,
  ) {}

  initialize(config: Config): void {
    for (const c of [...this.connections.values()]) c.close();
    this.config = config;
  }

  send(query: Uint8Array, token: number): boolean {
    const host = this.vm.opts.dispatcher?.pickHost?.(this.cluster);
    if (!host) return false;
    const key = `${host.address}:${host.port}`;
    let conn = this.connections.get(key);
    if (!conn || conn.closed) {
      conn = new RedisConnection(this, key, host.address, host.port, host.connectTimeoutMs);
      this.connections.set(key, conn);
    }
    conn.send(query, token);
    return true;
  }

  forget(conn: RedisConnection): void {
    if (this.connections.get(conn.key) === conn) this.connections.delete(conn.key);
  }

  done(token: number, reply: Uint8Array | null): void {
    deliver(this.vm, token, reply);
  }

  closeAll(): void {
    for (const c of [...this.connections.values()]) c.close();
  }
}

function encode(args: string[]): Uint8Array {
  const parts = [`*${args.length}\r\n`, ...args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`)];
  return new Uint8Array(Buffer.from(parts.join(""), "utf8"));
}

function clusterOf(target: string): { cluster: string; params: Map<string, string> } {
  const q = target.indexOf("?");
  const cluster = q < 0 ? target : target.slice(0, q);
  const params = new Map<string, string>();
  if (q >= 0) for (const [k, v] of new URLSearchParams(target.slice(q + 1))) params.set(k, v);
  return { cluster, params };
}

/** The per-VM redis state: clients by cluster and the calls waiting for a reply. */
export class RedisCallouts {
  private readonly clients = new Map<string, RedisClusterClient>();
  readonly pending = new Set<number>();
  private nextId = 3;

  constructor(private readonly vm: WasmVm) {}

  private client(cluster: string): RedisClusterClient {
    let c = this.clients.get(cluster);
    if (!c) this.clients.set(cluster, (c = new RedisClusterClient(this.vm, cluster)));
    return c;
  }

  init(target: string, username: string, password: string, timeoutMs: number): number {
    const { cluster, params } = clusterOf(target);
    if (!this.vm.opts.dispatcher?.hasCluster(cluster)) return WasmResult.BadArgument;
    this.client(cluster).initialize({ username, password, opTimeoutMs: timeoutMs, params });
    return WasmResult.Ok;
  }

  call(target: string, query: Uint8Array): { result: number; token: number } {
    const { cluster } = clusterOf(target);
    if (!this.vm.opts.dispatcher?.hasCluster(cluster)) return { result: WasmResult.BadArgument, token: 0 };
    this.nextId = (this.nextId + 4) >>> 0;
    const token = this.nextId;
    this.pending.add(token);
    if (!this.client(cluster).send(query, token)) {
      this.pending.delete(token);
      return { result: WasmResult.InternalFailure, token: 0 };
    }
    return { result: WasmResult.Ok, token };
  }

  /** The root context's destructor: pending calls cancelled, no callbacks; connections closed. */
  cancelAll(): void {
    this.pending.clear();
    for (const c of this.clients.values()) c.closeAll();
  }
}

function deliver(vm: WasmVm, token: number, reply: Uint8Array | null): void {
  const calls = vm.redis;
  if (!calls.pending.delete(token)) return;
  const root = vm.root;
  if (vm.failed || vm.closed || !root) return;
  const run = (): void => {
    if (!vm.has("proxy_on_redis_call_response")) return;
    if (reply) {
      root.redisCallResponse = reply;
      vm.defer(() => {
        root.redisCallResponse = null;
      });
      vm.call(root, "proxy_on_redis_call_response", [root.id, token, RedisStatus.Ok, reply.length]);
    } else {
      root.statusCode = WasmResult.BrokenConnection;
      root.statusMessage = "reset";
      vm.defer(() => {
        root.statusMessage = "";
      });
      vm.call(root, "proxy_on_redis_call_response", [root.id, token, RedisStatus.NetworkError, 0]);
    }
  };
  // A failure raised inside a VM call (proxy_redis_init closing a connection) waits for it to return.
  if (vm.inCall) vm.defer(run);
  else {
    run();
    vm.afterCall();
  }
}
