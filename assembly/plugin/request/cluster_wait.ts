// A request and the cluster-wide limits (plugin/cluster/limiter.ts): its consumer's share taken at
// admission, and the park-and-resume around a lease — the request's body stays held
// (StopIterationAndBuffer) while the lease is asked for, and it is routed again from the answer.

import { ConsumerConfig } from "../../config/model";
import { Take } from "../../cluster/pool";
import { continueRequest } from "../../host/grpc";
import { Rejection } from "../../plan/rejection";
import { overBudget } from "../../plan/rejection";
import { LeaseWaiter, PoolKind } from "../cluster/limiter";
import { Phase } from "./phase";
import { RequestState } from "./state";
import { reject } from "./response";

/** The gateway's reply when the cluster-wide limits cannot be checked and the failure mode is closed. */
export function clusterUnavailable(): Rejection {
  return new Rejection(503, "ai_failover_cluster_limit_unavailable", "ai-failover gateway: the rate limit service that counts " +
    "cluster-wide limits is unreachable and clusterLimits.failureMode is \"closed\"; retry shortly", "api_error",
    "cluster_limit_unavailable").counted("cluster_limit_unavailable").retryAfter(1);
}

/** Routes the request again once its lease was answered; lets it go on if it is sent. */
class RouteAgain extends LeaseWaiter {
  constructor(public request: RequestState) { super(); }
  contextId(): u32 {
    return this.request.context_id;
  }
  leased(now: i64): void {
    const r = this.request;
    // Replied, or gone (on_log ran) while the lease was asked for.
    if (r.phase != Phase.ReadingBody && r.phase != Phase.Idle) return;
    if (r.route(r.promptEstimate, r.maxTokens, r.scan !== null)) continueRequest();
  }
}

/**
 * May the request wait for a lease? Only before its first attempt, with its whole body held, and
 * a bounded number of times (a request that keeps losing fresh leases to others stops waiting).
 */
export function mayWait(r: RequestState): bool {
  return r.attempts == 0 && r.bodyComplete && r.clusterWaits < 4;
}

/** Parks the request on a lease for `name`'s pool. False when no call could start (route again now). */
export function parkForLease(r: RequestState, kind: PoolKind, name: string, now: i64): bool {
  r.clusterWaits++;
  return r.svc.cluster.lease(kind, name, r.need, now, new RouteAgain(r));
}

/**
 * The consumer's cluster-wide budget (consumers with tokensPerMinute only: their local budget
 * reservation carries the take). True: admitted; false: a reply was sent or the request is parked.
 */
export function clusterConsumer(r: RequestState, c: ConsumerConfig, now: i64): bool {
  const lim = r.svc.cluster;
  const budget = r.budget;
  if (!lim.on || budget === null || c.tokensPerMinute <= 0) return true;
  for (let tries = 0; tries < 2; tries++) {
    const t = lim.take(PoolKind.Consumer, c.name, r.need, c.tokensPerMinute, 60000, true, now);
    if (t.hold !== null) {
      budget.cluster = t.hold;
      return true;
    }
    if (t.verdict == Take.Lease) {
      const wait = mayWait(r);
      if (wait && parkForLease(r, PoolKind.Consumer, c.name, now)) {
        r.releaseBudget(now);
        return false;
      }
      if (!wait) lim.lease(PoolKind.Consumer, c.name, r.need, now, null);
      // No call could start: the pool is now degraded; take again under the failure mode.
      else if (tries == 0) continue;
    }
    r.releaseBudget(now);
    if (t.verdict == Take.Unavailable) reject(r, clusterUnavailable());
    else reject(r, overBudget(c, r.need, t.windowEndMs > now ? t.windowEndMs - now : 1000));
    return false;
  }
  r.releaseBudget(now);
  reject(r, clusterUnavailable());
  return false;
}
