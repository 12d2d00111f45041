// The Redis engine (Higress build only): a lease, a look and a cooldown are one EVAL of the script
// in cluster/redis_script.ts on the pool's key, sent with Higress's proxy_redis_call. The limits
// counted are the configured ones (limits.tokensPerMinute, consumer tokensPerMinute and, per
// request, requestsPerMinute), which are then the cluster's figures.
//
// How Higress's own Redis plugins do the same (alibaba/higress plugins/wasm-go/extensions/
// ai-token-ratelimit main.go + config/config.go, higress-group/wasm-go pkg/wrapper/redis_wrapper.go):
// the cluster is `outbound|<port>||<service>` with "?db=N", RedisInit(cluster, username, password,
// timeout) at configure time (a refused init is retried before the next call), and EVAL <script>
// 1 <key> <args…> as a RESP array of bulk strings, the reply read as RESP.

import { ClusterLimitsConfig } from "../../config/model";
import { readReserveReply, ReserveArgs, reserveCommand } from "../../cluster/redis_script";
import { Result } from "../../host/calls";
import { enabled, Level, log } from "../../host/log";
import { redisCall, redisInit, redisReply } from "../../host/redis";
import { ClusterEngine, EngineAnswer, EngineCall, EngineStart, PoolKind } from "./engine";

export class RedisEngine extends ClusterEngine {
  private ready: bool = false;
  /** The last Redis error reply (a script or AUTH error), for the warning. */
  lastError: string = "";

  label(): string {
    return "redis";
  }

  limitsHere(): bool {
    return true;
  }

  configure(c: ClusterLimitsConfig): void {
    this.ready = false;
    this.init(c, true);
  }

  /** `loud`: warn when it fails (at configure time; later failures are the limiter's rate-limited warnings). */
  private init(c: ClusterLimitsConfig, loud: bool = false): bool {
    const r = c.redis!;
    // The password goes to the host only; messages name where it came from, never its value.
    const res = redisInit(r.cluster, r.username, r.password.reveal(), <u32>c.timeoutMs);
    this.ready = res == Result.Ok;
    if (!this.ready && loud && enabled(Level.Warn)) {
      log(Level.Warn, "ai-failover: cluster limits: redis client for cluster " + r.cluster + " not initialised (result " + res.toString() +
        (res == Result.BadArgument ? ": no such cluster" : "") + "); retried before the next call");
    }
    return this.ready;
  }

  start(call: EngineCall, c: ClusterLimitsConfig): EngineStart {
    const out = new EngineStart();
    const r = c.redis!;
    if (!this.ready && !this.init(c)) {
      out.why = "redis client for cluster " + r.cluster + " could not be initialised (no such cluster?)";
      return out;
    }
    const a = new ReserveArgs();
    a.windowMs = call.windowMs;
    a.tokenLimit = call.tokenLimit;
    a.requestLimit = call.requestLimit;
    a.want = call.want;
    a.need = call.need;
    a.reported = call.reported;
    a.requests = call.requests;
    a.publishMs = call.publishMs;
    a.publishReason = call.publishReason;
    const key = r.keyPrefix + (call.kind == PoolKind.Provider ? ":provider:" : ":consumer:") + call.name;
    const s = redisCall(r.cluster, reserveCommand(key, a));
    out.ok = s.result == Result.Ok;
    out.token = s.token;
    if (!out.ok) {
      out.why = "redis call not started on cluster " + r.cluster + " (result " + s.result.toString() + (s.result == Result.BadArgument ?
        ": no such cluster" : s.result == Result.InternalFailure ? ": no healthy host" : "") + ")";
    }
    return out;
  }

  unreadable(): string {
    return "redis answered " + (this.lastError.length > 0 ? "\"" + this.lastError + "\"" : "something that is not the script's reply");
  }

  /** proxy_on_redis_call_response with status Ok: the script's reply; null (lastError set) when it is not one. */
  answer(size: u32): EngineAnswer | null {
    const rep = readReserveReply(redisReply(size));
    if (!rep.ok) {
      this.lastError = rep.error;
      // NOAUTH / WRONGPASS: the connection's AUTH failed; initialise again before the next call.
      // (Redis 7 answers an unauthenticated connection's long command with a protocol error instead.)
      if (rep.error.startsWith("NOAUTH") || rep.error.startsWith("WRONGPASS") || rep.error.includes("unauthenticated")) this.ready = false;
      return null;
    }
    const a = new EngineAnswer();
    a.code = rep.code;
    a.limited = true;
    a.resetMs = rep.resetMs;
    a.granted = rep.granted;
    a.remaining = rep.remaining;
    a.cooldownMs = rep.cooldownMs;
    a.cooldownReason = rep.cooldownReason;
    return a;
  }
}
