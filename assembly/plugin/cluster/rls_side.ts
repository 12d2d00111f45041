// The rate limit service's side calls, beside the leases: the version check (is the service one
// whose answers mean what the filter takes them to? rls_check.ts) and the cooldown sync (publish
// this replica's cooldowns, learn the others'; rls_cooldowns.ts). Neither holds a request: a
// failure backs off and is reported, and traffic goes on.

import { ClusterLimitsConfig } from "../../config/model";
import { decodeRateLimitResponse } from "../../cluster/rls";
import { nowMs } from "../../host/calls";
import { grpcMessage, grpcStatusMessage } from "../../host/grpc";
import { ProviderSlot } from "../../provider/registry";
import { CallResult, EngineReport } from "./report";
import { RlsCheck, RlsVerdict } from "./rls_check";
import { CooldownCall, RlsCooldowns } from "./rls_cooldowns";
import { RlsEngine } from "./rls_engine";

const CHECK = " (version check; cooldowns are not shared until it answers)";
const SYNC = " (cooldown sync; traffic goes on, learned cooldowns run out)";

export class RlsSide {
  check: RlsCheck = new RlsCheck();
  cooldowns: RlsCooldowns = new RlsCooldowns();
  /** The check's verdict as of this VM's last tick. */
  verdict: RlsVerdict = RlsVerdict.Unknown;

  constructor(private engine: RlsEngine, private report: EngineReport) {}

  configure(c: ClusterLimitsConfig, providers: ProviderSlot[]): void {
    this.cooldowns.configure(c, providers);
    this.check.configure(c);
    this.verdict = this.check.verdict();
  }

  /** A tick with the rate limit service as the engine: the version check when due. */
  tickCheck(c: ClusterLimitsConfig, now: i64, tickMs: i64): RlsVerdict {
    if (this.check.due(now, tickMs)) {
      const start = this.engine.send(this.check.request(), c);
      if (start.ok) this.check.sent(start.token, now);
      else {
        this.check.failed(now, c.retryMs);
        this.report.warn(c, now, start.why + CHECK, false);
      }
    }
    this.verdict = this.check.verdict();
    return this.verdict;
  }

  /** This tick's publish call (own cooldowns, hits 1) and check call (the others', hits 0): only through a service known to honour a check-only call. */
  tickCooldowns(c: ClusterLimitsConfig, now: i64, tickMs: i64): void {
    if (this.verdict != RlsVerdict.Current || !this.cooldowns.due(now, tickMs)) return;
    const publish: string[] = [];
    const check: string[] = [];
    this.cooldowns.split(now, publish, check);
    if (publish.length > 0) this.sendCooldowns(c, true, publish, now);
    if (check.length > 0) this.sendCooldowns(c, false, check, now);
  }

  private sendCooldowns(c: ClusterLimitsConfig, publish: bool, names: string[], now: i64): void {
    const start = this.engine.send(this.cooldowns.request(names, publish ? 1 : 0), c);
    if (!start.ok) {
      this.cooldowns.backOff(now + c.retryMs);
      this.report.count(CallResult.Failed);
      this.report.warn(c, now, start.why + SYNC, false);
      return;
    }
    this.cooldowns.sent(start.token, new CooldownCall(publish, names, now));
  }

  private cooldownCallFailed(c: ClusterLimitsConfig, token: u32, now: i64, why: string): void {
    this.cooldowns.drop(token);
    this.cooldowns.backOff(now + c.retryMs);
    this.report.count(CallResult.Failed);
    this.report.warn(c, now, why + SYNC, false);
  }

  /** Calls older than `limitMs`: failed, whatever the host does. */
  expire(c: ClusterLimitsConfig, now: i64, limitMs: i64): void {
    const late = "no answer from the rate limit service within " + limitMs.toString() + " ms";
    if (this.check.late(now, limitMs)) {
      this.check.failed(now, c.retryMs);
      this.report.warn(c, now, late + CHECK, false);
    }
    const lateSync = this.cooldowns.late(now, limitMs);
    for (let i = 0; i < lateSync.length; i++) this.cooldownCallFailed(c, unchecked(lateSync[i]), now, late);
  }

  owns(token: u32): bool {
    return this.check.owns(token) || this.cooldowns.owns(token);
  }

  /** proxy_on_grpc_receive for a side call (`owns(token)`). */
  receive(c: ClusterLimitsConfig, token: u32, size: u32): void {
    const now = nowMs();
    const answer = decodeRateLimitResponse(grpcMessage(size));
    if (this.check.owns(token)) {
      if (this.check.answered(answer, now, c.retryMs)) {
        this.report.count(CallResult.Ok);
        this.report.answeredAgain(this.engine.label());
        this.verdict = this.check.verdict();
      } else {
        this.report.count(CallResult.Failed);
        this.report.warn(c, now, "unreadable answer from the rate limit service" + CHECK, false);
      }
    } else if (this.cooldowns.answered(token, answer, now)) {
      this.report.count(CallResult.Ok);
      this.report.answeredAgain(this.engine.label());
    } else {
      this.cooldowns.backOff(now + c.retryMs);
      this.report.count(CallResult.Failed);
      this.report.warn(c, now, "unreadable answer from the rate limit service" + SYNC, false);
    }
  }

  /** proxy_on_grpc_close for a side call (`owns(token)`). */
  close(c: ClusterLimitsConfig, token: u32, status: u32): void {
    const now = nowMs();
    const why = "rate limit service call failed: gRPC status " + status.toString() + " " + grpcStatusMessage();
    if (this.check.owns(token)) {
      this.check.failed(now, c.retryMs);
      this.report.count(CallResult.Failed);
      this.report.warn(c, now, why + CHECK, false);
    } else {
      this.cooldownCallFailed(c, token, now, why);
    }
  }
}
