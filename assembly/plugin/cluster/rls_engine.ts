// The rate limit service engine (envoyproxy/ratelimit, ShouldRateLimit over proxy_grpc_call): a
// lease is one descriptor whose hits_addend carries the tokens; the limits are the service's YAML.

import { ClusterLimitsConfig } from "../../config/model";
import { decodeRateLimitResponse, encodeRateLimitRequest, RLS_METHOD, RLS_SERVICE, RlsDescriptor, unitMs } from "../../cluster/rls";
import { Result } from "../../host/calls";
import { grpcCall, grpcMessage } from "../../host/grpc";
import { ClusterEngine, EngineAnswer, EngineCall, EngineStart, PoolKind } from "./engine";

export class RlsEngine extends ClusterEngine {
  label(): string {
    return "rate limit service";
  }

  limitsHere(): bool {
    return false;
  }

  start(call: EngineCall, c: ClusterLimitsConfig): EngineStart {
    const d = new RlsDescriptor(<u64>(call.want + call.reported)).entry(call.kind == PoolKind.Provider ? "provider" : "consumer", call.name);
    return this.send(encodeRateLimitRequest(c.domain, [d]), c);
  }

  /** One ShouldRateLimit of `msg` (a RateLimitRequest) to the service. */
  send(msg: Uint8Array, c: ClusterLimitsConfig): EngineStart {
    const start = grpcCall(c.cluster, RLS_SERVICE, RLS_METHOD, msg, <u32>c.timeoutMs);
    const out = new EngineStart();
    out.ok = start.result == Result.Ok;
    out.token = start.token;
    if (!out.ok) out.why = "rate limit service call not started on cluster " + c.cluster + " (result " + start.result.toString() + ")";
    return out;
  }

  /** proxy_on_grpc_receive's message; null when unreadable. */
  answer(size: u32): EngineAnswer | null {
    const res = decodeRateLimitResponse(grpcMessage(size));
    if (!res.ok || res.statuses.length < 1) return null;
    const s = unchecked(res.statuses[0]);
    const a = new EngineAnswer();
    a.code = s.code == 2 ? 2 : 1;
    a.limited = s.limited;
    a.resetMs = s.resetMs;
    a.windowMs = s.limited ? unitMs(s.unit) : 0;
    a.remaining = <i64>s.remaining;
    return a;
  }
}
