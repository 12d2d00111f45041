// How the cluster-limit engine's calls went, as operators see it: the calls metric by result, one
// warning per 10 s per worker while calls fail (and what the requests do meanwhile), and one line
// when the engine answers again. Shared by the lease calls (limiter.ts) and the rate limit
// service's side calls (rls_side.ts).

import { ClusterLimitsConfig } from "../../config/model";
import { defineMetric, incrementMetric } from "../../host/calls";
import { enabled, Level, log } from "../../host/log";

export const enum CallResult { Ok = 0, OverLimit = 1, Unlimited = 2, Failed = 3 }

const RESULTS: string[] = ["ok", "over_limit", "unlimited", "failed"];
const UNSET: u32 = 0xffffffff;

export class EngineReport {
  private metricIds: u32[] = [UNSET, UNSET, UNSET, UNSET];
  private lastWarnMs: i64 = -100000;
  private failing: bool = false;

  /** A new configuration: metric ids are defined again (the host may have a new VM's table). */
  reset(): void {
    for (let i = 0; i < 4; i++) unchecked((this.metricIds[i] = UNSET));
  }

  count(result: CallResult): void {
    let id = unchecked(this.metricIds[<i32>result]);
    if (id == UNSET) {
      id = defineMetric(0, "ai_failover_cluster_limit_calls_total_result=.=" + unchecked(RESULTS[<i32>result]) + ";.;");
      unchecked((this.metricIds[<i32>result] = id));
    }
    if (id != UNSET) incrementMetric(id, 1);
  }

  /** One warning per 10 s per worker, whatever the request rate. `limits`: the failure mode applies to requests. */
  warn(c: ClusterLimitsConfig, now: i64, why: string, limits: bool = true): void {
    this.failing = true;
    if (now - this.lastWarnMs >= 10000 && enabled(Level.Warn)) {
      this.lastWarnMs = now;
      log(Level.Warn, "ai-failover: cluster limits: " + why + (limits ? "; failing " + (c.failOpen ? "open (each replica admits up to limit / " +
        c.replicas.toString() + ")" : "closed (503)") : "; not asked again") + " for " + c.retryMs.toString() + " ms");
    }
  }

  /** A call was answered: said once after failures. */
  answeredAgain(label: string): void {
    if (!this.failing) return;
    this.failing = false;
    if (enabled(Level.Info)) log(Level.Info, "ai-failover: cluster limits: the " + label + " answers again");
  }
}
