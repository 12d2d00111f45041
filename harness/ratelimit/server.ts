/**
 * A stand-in for envoyproxy/ratelimit (the reference implementation of Envoy's global rate limit
 * service), which cannot be built here: the same gRPC API
 * (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit over h2c) and the same fixed-window
 * counting in Redis with the same keys, so a filter that works against this works against it, and
 * several gateways (or the real service) can share one Redis.
 *
 * What it does per request, as envoyproxy/ratelimit does (src/service/ratelimit.go,
 * src/redis/fixed_cache_impl.go, src/limiter/base_limiter.go, src/limiter/cache_key.go,
 * src/utils/utilities.go):
 *   - empty domain or no descriptors → gRPC UNKNOWN ("rate limit domain must not be empty" /
 *     "rate limit descriptor list must not be empty"); a Redis failure → UNKNOWN too.
 *   - each descriptor: its limit from the config (or the descriptor's own `limit` override);
 *     hits = the descriptor's hits_addend if present (0 allowed: check only), else
 *     max(1, request.hits_addend).
 *   - key `<prefix><domain>_<k1>_<v1>_<k2>_<v2>_..._<windowStart>` with windowStart =
 *     floor(now / unitSeconds) * unitSeconds; one pipeline of INCRBY key hits + EXPIRE key
 *     (unitSeconds + jitter) for every limited descriptor.
 *   - status: after > limit → OVER_LIMIT, remaining 0; else OK, remaining = limit - after;
 *     current_limit and duration_until_reset = unitSeconds - now % unitSeconds (whole seconds).
 *     No limit → OK with no current_limit; unlimited → OK with remaining 4294967295.
 *   - overall_code OVER_LIMIT iff any descriptor is over.
 * Defaults as the service's: CACHE_KEY_PREFIX "", EXPIRATION_JITTER_MAX_SECONDS 300, no local cache,
 * STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT false. See harness/ratelimit/README.md for the differences.
 *
 * Without `redisPort` the counters live in this process (the same INCRBY/EXPIRE on a Map): several
 * gateways of one test share them as they would share one Redis, with no redis-server needed.
 * `legacyHitsAddend` plays an image older than envoyproxy/ratelimit commit 38500fe (2024-12-27,
 * #802), which ignores a descriptor's own hits_addend: every descriptor counts
 * max(1, request.hits_addend) (src/redis/fixed_cache_impl.go DoLimit before that commit).
 * `rewrite` edits each answer before it is sent (a service that answers oddly).
 *
 *   const rls = await startRateLimitService({ redisPort: redis.port, config: RateLimitConfig.fromYaml(yaml) });
 *   rls.port; rls.requests; rls.delayMs = 200; await rls.close();
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { GrpcStatus, grpcFrame, grpcFrames, parseGrpcTimeout, percentEncode } from "../proto/grpc.ts";
import { ProtoError } from "../proto/wire.ts";
import { RedisClient } from "../redis/client.ts";
import { RespError } from "../redis/resp.ts";
import { RateLimitConfig, unitSeconds, type Limit } from "./config.ts";
import {
  Code, decodeRequest, encodeResponse, RLS_METHOD, RLS_SERVICE, type DescriptorStatus, type RateLimitRequest, type RateLimitResponse,
} from "./rls-proto.ts";

export interface RateLimitServiceOptions {
  config: RateLimitConfig;
  /** The Redis counting the windows; absent: counters in this process (MemoryCounters). */
  redisPort?: number;
  /** Play an envoyproxy/ratelimit image older than 38500fe (2024-12-27): per-descriptor hits_addend ignored. */
  legacyHitsAddend?: boolean;
  redisHost?: string;
  /** Listen port; default 0 (ephemeral). Always 127.0.0.1. */
  port?: number;
  /** CACHE_KEY_PREFIX. Default "". */
  cacheKeyPrefix?: string;
  /** EXPIRATION_JITTER_MAX_SECONDS. Default 300 (the service's default). */
  expirationJitterMaxSeconds?: number;
  /** Unix time in seconds. Default Date.now(). */
  nowSeconds?: () => number;
  /** Redis timeout per pipeline, ms. Default 1000. */
  redisTimeoutMs?: number;
}

export interface RlsCall {
  /** When it arrived (Date.now()). */
  at: number;
  headers: http2.IncomingHttpHeaders;
  request?: RateLimitRequest;
  /** gRPC status sent. */
  status: number;
  response?: RateLimitResponse;
}

export interface RateLimitService {
  readonly port: number;
  readonly url: string;
  /** Every call, in arrival order. */
  readonly calls: RlsCall[];
  /** Delay before answering (to drive client timeouts). Default 0. */
  delayMs: number;
  /** Ignore per-descriptor hits_addend, as images older than envoyproxy/ratelimit 38500fe (2024-12-27) do. */
  legacyHitsAddend: boolean;
  /** Edits each answer before it is sent (the recorded `response` is the edited one). */
  rewrite?: (response: RateLimitResponse, request: RateLimitRequest) => RateLimitResponse | void;
  close(): Promise<void>;
}

/** What the stand-in needs of Redis: a pipeline of INCRBY / EXPIRE. */
interface Counters {
  pipeline(commands: Array<Array<string | number>>): Promise<unknown[]>;
  close(): void;
}

/** INCRBY / EXPIRE on a Map, for a stand-in without redis-server (keys expire on the real clock). */
export class MemoryCounters implements Counters {
  private readonly counts = new Map<string, { n: number; expiresAt: number }>();
  async pipeline(commands: Array<Array<string | number>>): Promise<unknown[]> {
    const now = Date.now();
    return commands.map(([op, key, arg]) => {
      const k = String(key);
      let e = this.counts.get(k);
      if (e && e.expiresAt <= now) {
        this.counts.delete(k);
        e = undefined;
      }
      if (op === "INCRBY") {
        if (!e) this.counts.set(k, (e = { n: 0, expiresAt: Infinity }));
        e.n += Number(arg);
        return e.n;
      }
      if (op === "EXPIRE") {
        if (!e) return 0;
        e.expiresAt = now + Number(arg) * 1000;
        return 1;
      }
      throw new Error(`MemoryCounters: ${String(op)} is not supported`);
    });
  }
  close(): void {
    this.counts.clear();
  }
}

class ServiceError extends Error {}

const MAX_U32 = 0xffffffff;

export async function startRateLimitService(opts: RateLimitServiceOptions): Promise<RateLimitService> {
  const redis: Counters = opts.redisPort === undefined ? new MemoryCounters()
    : new RedisClient({ host: opts.redisHost ?? "127.0.0.1", port: opts.redisPort, timeoutMs: opts.redisTimeoutMs ?? 1000 });
  const prefix = opts.cacheKeyPrefix ?? "";
  const jitterMax = opts.expirationJitterMaxSeconds ?? 300;
  const now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const calls: RlsCall[] = [];

  async function shouldRateLimit(req: RateLimitRequest): Promise<RateLimitResponse> {
    if (req.domain === "") throw new ServiceError("rate limit domain must not be empty");
    if (req.descriptors.length === 0) throw new ServiceError("rate limit descriptor list must not be empty");
    const t = now();
    const limits: Array<Limit | undefined> = req.descriptors.map((d) => {
      if (!opts.config.hasDomain(req.domain)) return undefined;
      if (d.limit) return { requestsPerUnit: d.limit.requestsPerUnit, unit: d.limit.unit, name: "", unlimited: false };
      return opts.config.getLimit(req.domain, d.entries);
    });
    // Before 38500fe (2024-12-27) the service knew only the request's hits_addend (fixed_cache_impl.go
    // DoLimit: hitsAddend := utils.Max(1, request.HitsAddend)); since, utils.GetHitsAddends per descriptor.
    const hits = req.descriptors.map((d) => (d.hitsAddend !== undefined && !svc.legacyHitsAddend ? d.hitsAddend : Math.max(1, req.hitsAddend)));
    const keys = req.descriptors.map((d, i) => {
      const l = limits[i];
      if (!l || l.unlimited) return "";
      const div = unitSeconds(l.unit);
      return `${prefix}${req.domain}_${d.entries.map((e) => `${e.key}_${e.value}_`).join("")}${Math.floor(t / div) * div}`;
    });
    const commands: Array<Array<string | number>> = [];
    const slot: number[] = [];
    keys.forEach((key, i) => {
      if (!key) return;
      const expire = unitSeconds(limits[i]!.unit) + (jitterMax > 0 ? Math.floor(Math.random() * jitterMax) : 0);
      slot[i] = commands.length;
      commands.push(["INCRBY", key, hits[i]!], ["EXPIRE", key, expire]);
    });
    let replies: unknown[] = [];
    if (commands.length > 0) {
      try {
        replies = await redis.pipeline(commands);
      } catch (e) {
        throw new ServiceError(`redis: ${(e as Error).message}`);
      }
      const bad = replies.find((r) => r instanceof RespError);
      if (bad) throw new ServiceError(`redis: ${(bad as RespError).text}`);
    }
    const statuses: DescriptorStatus[] = req.descriptors.map((_, i) => {
      const l = limits[i];
      if (l?.unlimited) return { code: Code.OK, limitRemaining: MAX_U32 };
      if (!l || !keys[i]) return { code: Code.OK, limitRemaining: 0 };
      const after = Number(replies[slot[i]!]);
      const div = unitSeconds(l.unit);
      const currentLimit = { requestsPerUnit: l.requestsPerUnit, unit: l.unit, name: l.name };
      const durationUntilResetMs = (div - (t % div)) * 1000;
      if (after > l.requestsPerUnit) return { code: Code.OVER_LIMIT, currentLimit, limitRemaining: 0, durationUntilResetMs };
      return { code: Code.OK, currentLimit, limitRemaining: l.requestsPerUnit - after, durationUntilResetMs };
    });
    const over = statuses.some((s) => s.code === Code.OVER_LIMIT);
    return { overallCode: over ? Code.OVER_LIMIT : Code.OK, statuses, responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: new Uint8Array(0) };
  }

  const server = http2.createServer();
  // Like a gRPC server (grpc-go), drop a connection that does not speak HTTP/2 at once.
  server.on("unknownProtocol", (socket) => socket.destroy());
  server.on("stream", (stream, headers) => {
    const call: RlsCall = { at: Date.now(), headers, status: GrpcStatus.Unknown };
    calls.push(call);
    const started = Date.now();
    const deadlineMs = parseGrpcTimeout(headers["grpc-timeout"] as string | undefined);
    const trailersOnly = (status: number, message: string) => {
      call.status = status;
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(status), "grpc-message": percentEncode(message) }, { endStream: true });
    };
    if (headers[":method"] !== "POST" || !String(headers["content-type"] ?? "").startsWith("application/grpc")) {
      call.status = -1;
      stream.respond({ ":status": 415, "content-type": "text/plain" });
      stream.end("invalid gRPC request content-type");
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    stream.on("end", async () => {
      const path = String(headers[":path"] ?? "");
      const [, service, method] = path.split("/");
      if (service !== RLS_SERVICE) return trailersOnly(GrpcStatus.Unimplemented, `unknown service ${service}`);
      if (method !== RLS_METHOD) return trailersOnly(GrpcStatus.Unimplemented, `unknown method ${method} for service ${service}`);
      const frames = grpcFrames(new Uint8Array(Buffer.concat(chunks)));
      if (frames.length !== 1 || frames[0]!.flags !== 0) return trailersOnly(GrpcStatus.Internal, "grpc: expected exactly one uncompressed message");
      let response: RateLimitResponse;
      try {
        call.request = decodeRequest(frames[0]!.data);
        if (svc.delayMs > 0) await new Promise((r) => setTimeout(r, svc.delayMs));
        response = await shouldRateLimit(call.request);
      } catch (e) {
        if (e instanceof ProtoError) return trailersOnly(GrpcStatus.Internal, `grpc: error unmarshalling request: ${e.message}`);
        if (e instanceof ServiceError) return trailersOnly(GrpcStatus.Unknown, e.message);
        return trailersOnly(GrpcStatus.Internal, String(e));
      }
      if (deadlineMs !== undefined && Date.now() - started > deadlineMs) return trailersOnly(GrpcStatus.DeadlineExceeded, "context deadline exceeded");
      if (stream.destroyed) return;
      if (svc.rewrite) response = svc.rewrite(response, call.request!) ?? response;
      call.status = GrpcStatus.Ok;
      call.response = response;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(grpcFrame(encodeResponse(response)));
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const svc: RateLimitService = {
    port,
    url: `http://127.0.0.1:${port}`,
    calls,
    delayMs: 0,
    legacyHitsAddend: opts.legacyHitsAddend ?? false,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.close();
    },
  };
  return svc;
}
