// Metrics through proxy-wasm (Envoy: `wasmcustom.<name>`). Labels are carried in the name
// the way Envoy's tag extraction expects (Istio's convention): `<name>_<label>=.=<value>;.;`
// for each label; `stats_config.stats_tags` in the bootstrap turns them into Prometheus
// labels (envoy/*.yaml ship the regexes; the harness gateway applies the same ones).
// Label values only come from the configuration (provider, consumer, model names) or from
// small fixed sets, so cardinality stays bounded. Ids are defined once per VM and cached.

import { ProviderState } from "../health/state";
import { defineMetric, incrementMetric, recordMetric } from "../host/calls";
import { ProviderSlot } from "../provider/registry";

const COUNTER = 0;
const GAUGE = 1;
const HISTOGRAM = 2;
const NONE: u32 = 0xffffffff;

function label(name: string, value: string): string {
  return "_" + name + "=.=" + value + ";.;";
}

export function statusClass(status: i32): string {
  if (status >= 200 && status < 300) return "2xx";
  if (status >= 300 && status < 400) return "3xx";
  if (status >= 400 && status < 500) return "4xx";
  if (status >= 500 && status < 600) return "5xx";
  return "reset";
}

export class Metrics {
  private ids: Map<string, u32> = new Map();

  /** A new configuration: metric ids are defined afresh. */
  reset(): void {
    this.ids = new Map();
  }

  private id(type: i32, name: string): u32 {
    if (this.ids.has(name)) return this.ids.get(name);
    const id = defineMetric(type, name);
    this.ids.set(name, id);
    return id;
  }

  private counter(name: string, delta: i64): void {
    if (delta <= 0) return;
    const id = this.id(COUNTER, name);
    if (id != NONE) incrementMetric(id, delta);
  }

  private gauge(name: string, value: i64): void {
    const id = this.id(GAUGE, name);
    if (id != NONE) recordMetric(id, <u64>(value < 0 ? 0 : value));
  }

  private histogram(name: string, value: i64): void {
    const id = this.id(HISTOGRAM, name);
    if (id != NONE) recordMetric(id, <u64>(value < 0 ? 0 : value));
  }

  /** One finished client request. */
  request(provider: string, consumer: string, model: string, status: i32): void {
    this.counter("ai_failover_requests_total" + label("provider", provider) + label("consumer", consumer) +
      label("model", model) + label("status_class", statusClass(status)), 1);
  }

  /** Token usage (OpenTelemetry GenAI: gen_ai.client.token.usage by gen_ai.token.type input/output). */
  tokens(provider: string, consumer: string, model: string, input: i64, output: i64, estimated: bool): void {
    const base = label("provider", provider) + label("consumer", consumer) + label("model", model) +
      label("estimated", estimated ? "true" : "false");
    this.counter("ai_failover_tokens_total" + base + label("token_type", "input"), input);
    this.counter("ai_failover_tokens_total" + base + label("token_type", "output"), output);
  }

  failover(from: string, reason: string): void {
    this.counter("ai_failover_failovers_total" + label("provider", from) + label("reason", reason), 1);
  }

  /** Time to first byte of the response, ms (OpenTelemetry: gen_ai.server.time_to_first_token). */
  timeToFirstByte(provider: string, ms: i64): void {
    this.histogram("ai_failover_time_to_first_byte_ms" + label("provider", provider), ms);
  }

  /** result: ok (2xx, or 429: endpoint and key work), client_error (other 4xx: e.g. a wrong healthCheck.path), failed. */
  probe(provider: string, result: string): void {
    this.counter("ai_failover_health_checks_total" + label("provider", provider) + label("result", result), 1);
  }

  rejected(reason: string): void {
    this.counter("ai_failover_rejected_total" + label("reason", reason), 1);
  }

  /** Per-provider state gauges, published on every tick by every worker (same values). */
  publishStates(providers: ProviderSlot[], states: ProviderState[], now: i64): void {
    for (let i = 0; i < states.length && i < providers.length; i++) {
      const s = unchecked(states[i]);
      const p = label("provider", unchecked(providers[i]).config.name);
      this.gauge("ai_failover_provider_healthy" + p, s.healthy && !s.credentialBad ? 1 : 0);
      this.gauge("ai_failover_provider_available" + p, s.available(now) ? 1 : 0);
      this.gauge("ai_failover_provider_cooldown_ms" + p, s.cooldownUntilMs > now ? s.cooldownUntilMs - now : 0);
      this.gauge("ai_failover_provider_remaining_tokens" + p, s.remainingTokens);
      this.gauge("ai_failover_provider_remaining_requests" + p, s.remainingRequests);
      this.gauge("ai_failover_provider_reserved_tokens" + p, s.tokensReserved);
    }
  }
}
