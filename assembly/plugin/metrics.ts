// Metrics through proxy-wasm (Envoy: wasmcustom.<name>). Ids are defined once per VM.

import { Config } from "../config/model";
import { ProviderState } from "../health/state";
import { defineMetric, incrementMetric, recordMetric } from "../host/calls";

const COUNTER = 0;
const GAUGE = 1;

export class Metrics {
  requests: u32[] = [];
  failovers: u32[] = [];
  upstreamErrors: u32[] = [];
  probesOk: u32[] = [];
  probesFailed: u32[] = [];
  healthy: u32[] = [];
  available: u32[] = [];
  noProvider: u32 = 0xffffffff;

  configure(cfg: Config): void {
    this.requests = [];
    this.failovers = [];
    this.upstreamErrors = [];
    this.probesOk = [];
    this.probesFailed = [];
    this.healthy = [];
    this.available = [];
    for (let i = 0; i < cfg.providers.length; i++) {
      const n = unchecked(cfg.providers[i]).name;
      const base = "ai_failover.provider." + n + ".";
      this.requests.push(defineMetric(COUNTER, base + "requests_total"));
      this.failovers.push(defineMetric(COUNTER, base + "failovers_total"));
      this.upstreamErrors.push(defineMetric(COUNTER, base + "upstream_errors_total"));
      this.probesOk.push(defineMetric(COUNTER, base + "health_checks_ok_total"));
      this.probesFailed.push(defineMetric(COUNTER, base + "health_checks_failed_total"));
      this.healthy.push(defineMetric(GAUGE, base + "healthy"));
      this.available.push(defineMetric(GAUGE, base + "available"));
    }
    this.noProvider = defineMetric(COUNTER, "ai_failover.no_provider_total");
  }

  request(i: i32): void { if (i >= 0 && i < this.requests.length) incrementMetric(unchecked(this.requests[i]), 1); }
  failover(i: i32): void { if (i >= 0 && i < this.failovers.length) incrementMetric(unchecked(this.failovers[i]), 1); }
  upstreamError(i: i32): void { if (i >= 0 && i < this.upstreamErrors.length) incrementMetric(unchecked(this.upstreamErrors[i]), 1); }
  noChoice(): void { incrementMetric(this.noProvider, 1); }
  probe(i: i32, ok: bool): void {
    if (i < 0 || i >= this.probesOk.length) return;
    incrementMetric(ok ? unchecked(this.probesOk[i]) : unchecked(this.probesFailed[i]), 1);
  }
  publishStates(cfg: Config, states: ProviderState[], now: i64): void {
    for (let i = 0; i < states.length && i < this.healthy.length; i++) {
      const s = unchecked(states[i]);
      recordMetric(unchecked(this.healthy[i]), s.healthy && !s.credentialBad ? 1 : 0);
      recordMetric(unchecked(this.available[i]), s.available(now) ? 1 : 0);
    }
  }
}
