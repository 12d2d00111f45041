// The engine that counts cluster-wide limits (plugin/cluster/limiter.ts): where a lease is asked for and
// how its answer reads. Two exist: the rate limit service over gRPC (plugin/cluster/rls_engine.ts, every
// build) and Redis over Higress's Redis calls (plugin/cluster/redis_engine.ts, only in the Higress build,
// registered by assembly/entry_higress.ts so that the Envoy build never imports them).

import { ClusterLimitsConfig } from "../../config/model";

export const enum PoolKind { Provider = 0, Consumer = 1 }

/** One call: a lease (want > 0), a look (want 0), and a cooldown to publish. */
export class EngineCall {
  kind: PoolKind = PoolKind.Provider;
  name: string = "";
  /** Tokens asked for (0: only look). */
  want: i64 = 0;
  /** The fewest tokens worth granting (the waiting request's estimate). */
  need: i64 = 0;
  /** Tokens used that the engine has not counted yet (always counted). */
  reported: i64 = 0;
  /** Requests to count with it (Redis, per request mode: 1). */
  requests: i64 = 0;
  /** The pool's limits as configured (Redis counts against these; the rate limit service has its own). */
  tokenLimit: i64 = 0;
  requestLimit: i64 = 0;
  windowMs: i64 = 60000;
  /** A provider cooldown to publish (ms from now; 0: none) and its reason (health/state.ts Reason). */
  publishMs: i64 = 0;
  publishReason: i32 = 0;
}

/** What the engine answered. */
export class EngineAnswer {
  /** 1 granted, 2 over the limit (rls.ts RlsCode). */
  code: i32 = 1;
  /** The pool has a limit at the engine (the rate limit service may not know a descriptor). */
  limited: bool = true;
  /** ms until the engine's window ends (-1: not said); believed up to `windowMs` and an hour (cluster/pool.ts capEngineWait). */
  resetMs: i64 = -1;
  /** The window's length as the engine says it (the rate limit service's unit; 0: not said, the configured one applies). */
  windowMs: i64 = 0;
  /** Tokens granted (-1: what was asked for). */
  granted: i64 = -1;
  /** Tokens left in the window after this call. */
  remaining: i64 = 0;
  /** A provider cooldown another replica published: ms left (0: none), and its reason. */
  cooldownMs: i64 = 0;
  cooldownReason: i32 = 0;
}

export class EngineStart {
  ok: bool = false;
  token: u32 = 0;
  /** Why it did not start (for the warning). */
  why: string = "";
}

export abstract class ClusterEngine {
  /** For messages: "rate limit service", "redis". */
  abstract label(): string;
  /**
   * Are the configured limits the cluster's (Redis: counted against them, a pool without a limit
   * is never asked about), or does the engine hold its own (the rate limit service's YAML)?
   */
  abstract limitsHere(): bool;
  /** Configure time (Redis: the client's settings). */
  configure(c: ClusterLimitsConfig): void {}
  /** Sends one call (Redis: initialises the client again first if the host refused it). */
  abstract start(call: EngineCall, c: ClusterLimitsConfig): EngineStart;
  /** The answer's bytes (inside the engine's answer callback), read; null when unreadable. */
  abstract answer(size: u32): EngineAnswer | null;
  /** Why the last answer was unreadable (for the warning). */
  unreadable(): string {
    return "unreadable answer from the " + this.label();
  }
}

/** The Redis engine, when the module was built with it (entry_higress.ts). */
let REDIS_ENGINE: ClusterEngine | null = null;

export function registerRedisEngine(e: ClusterEngine): void {
  REDIS_ENGINE = e;
}

export function redisEngine(): ClusterEngine | null {
  return REDIS_ENGINE;
}
