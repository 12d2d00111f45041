// Metrics through proxy-wasm (Envoy: `wasmcustom.<name>`). Labels are carried in the name
// the way Envoy's tag extraction expects (Istio's convention): `<name>_<label>=.=<value>;.;`
// for each label; `stats_config.stats_tags` in the bootstrap turns them into Prometheus
// labels (envoy/*.yaml ship the regexes; the harness gateway applies the same ones).
// Label values only come from the configuration (provider, consumer, model names) or from
// small fixed sets, so cardinality stays bounded. Ids are defined once per VM and cached.

import { ProviderState } from "../health/state";
import { defineMetric, incrementMetric, recordMetric } from "../host/calls";
import { StreamEnd } from "../plan/response_scan";
import { ProviderSlot } from "../provider/registry";

const COUNTER = 0;
const GAUGE = 1;
const HISTOGRAM = 2;
const NONE: u32 = 0xffffffff;
/** Not defined yet (a cached id slot). */
const UNSET: u32 = 0xfffffffe;

function label(name: string, value: string): string {
  return "_" + name + "=.=" + value + ";.;";
}

/**
 * The requests metric's status_class: the HTTP status class, or how a success answer's transfer
 * failed — "cut" (a stream that ended without its finish, or a transfer broken after the
 * headers) and "stalled" (given up by the stall timeout): the client saw a 200 but not the whole
 * answer. "reset": no status at all.
 */
const STATUS_CLASSES: string[] = ["2xx", "3xx", "4xx", "5xx", "reset", "cut", "stalled"];

function statusClassIndex(status: i32, end: StreamEnd): i32 {
  if (end == StreamEnd.Cut) return 5;
  if (end == StreamEnd.Stalled) return 6;
  if (status >= 200 && status < 600) return status / 100 - 2;
  return 4;
}

/**
 * The per-request metrics of one (view, provider, consumer, model) combination: names built and
 * ids defined on first use, then reused by every request of that combination (no name is built
 * or hashed per request).
 */
export class RequestMetricIds {
  /** ai_failover_requests_total by status class (2xx, 3xx, 4xx, 5xx, reset, cut, stalled). */
  requests: StaticArray<u32> = [UNSET, UNSET, UNSET, UNSET, UNSET, UNSET, UNSET];
  /** ai_failover_tokens_total: [estimated ? 2 : 0 + (output ? 1 : 0)]. */
  tokens: StaticArray<u32> = [UNSET, UNSET, UNSET, UNSET];
  ttfb: u32 = UNSET;
  constructor(public provider: string, public consumer: string, public model: string) {}
}

export class Metrics {
  private ids: Map<string, u32> = new Map();

  private requestIds: Map<u64, RequestMetricIds> = new Map();

  /** A new configuration: metric ids are defined afresh. */
  reset(): void {
    this.ids = new Map();
    this.requestIds = new Map();
  }

  /**
   * The per-request metric ids of a combination: `key` identifies (view, provider, consumer,
   * model) as numbers (0: not cacheable, resolved afresh), the names are what the metrics carry.
   */
  requestSet(key: u64, provider: string, consumer: string, model: string): RequestMetricIds {
    if (key == 0) return new RequestMetricIds(provider, consumer, model);
    const m = this.requestIds;
    if (m.has(key)) return m.get(key);
    const r = new RequestMetricIds(provider, consumer, model);
    m.set(key, r);
    return r;
  }

  /**
   * One finished client request, with how its answer ended, its token usage and time to first
   * byte (-1: none).
   */
  finished(r: RequestMetricIds, counted: bool, status: i32, end: StreamEnd, input: i64, output: i64, estimated: bool, ttfbMs: i64): void {
    if (counted) {
      const sc = statusClassIndex(status, end);
      let id = unchecked(r.requests[sc]);
      if (id == UNSET) {
        id = this.id(COUNTER, "ai_failover_requests_total" + label("provider", r.provider) + label("consumer", r.consumer) +
          label("model", r.model) + label("status_class", unchecked(STATUS_CLASSES[sc])));
        unchecked((r.requests[sc] = id));
      }
      if (id != NONE) incrementMetric(id, 1);
    }
    if (input > 0 || output > 0) {
      const base = estimated ? 2 : 0;
      if (input > 0) this.tokenCounter(r, base, input);
      if (output > 0) this.tokenCounter(r, base + 1, output);
    }
    if (ttfbMs >= 0) {
      let id = r.ttfb;
      if (id == UNSET) r.ttfb = id = this.id(HISTOGRAM, "ai_failover_time_to_first_byte_ms" + label("provider", r.provider));
      if (id != NONE) recordMetric(id, <u64>ttfbMs);
    }
  }

  private tokenCounter(r: RequestMetricIds, slot: i32, delta: i64): void {
    let id = unchecked(r.tokens[slot]);
    if (id == UNSET) {
      id = this.id(COUNTER, "ai_failover_tokens_total" + label("provider", r.provider) + label("consumer", r.consumer) +
        label("model", r.model) + label("estimated", slot >= 2 ? "true" : "false") + label("token_type", (slot & 1) != 0 ? "output" : "input"));
      unchecked((r.tokens[slot] = id));
    }
    if (id != NONE) incrementMetric(id, delta);
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

  failover(from: string, reason: string): void {
    this.counter("ai_failover_failovers_total" + label("provider", from) + label("reason", reason), 1);
  }

  /** result: ok (2xx, or 429: endpoint and key work), client_error (other 4xx: e.g. a wrong healthCheck.path), failed. */
  probe(provider: string, result: string): void {
    this.counter("ai_failover_health_checks_total" + label("provider", provider) + label("result", result), 1);
  }

  /** A token request of an identity: result ok | failed. */
  tokenFetch(identity: string, result: string): void {
    this.counter("ai_failover_token_fetches_total" + label("identity", identity) + label("result", result), 1);
  }

  /** A request served without failover (reason: held_body_limit). */
  failoverOff(reason: string): void {
    this.counter("ai_failover_failover_off_total" + label("reason", reason), 1);
  }

  rejected(reason: string): void {
    this.counter("ai_failover_rejected_total" + label("reason", reason), 1);
  }

  /** Per-provider state gauges, published on every tick by every worker (same values). */
  publishStates(providers: ProviderSlot[], states: ProviderState[], now: i64): void {
    for (let i = 0; i < states.length && i < providers.length; i++) {
      const s = unchecked(states[i]);
      const slot = unchecked(providers[i]);
      const p = label("provider", slot.config.name) + (slot.credential >= 0 ? label("credential", slot.credential.toString()) : "");
      this.gauge("ai_failover_provider_healthy" + p, s.healthy && !s.credentialBad ? 1 : 0);
      this.gauge("ai_failover_provider_available" + p, s.available(now) ? 1 : 0);
      this.gauge("ai_failover_provider_cooldown_ms" + p, s.cooldownUntilMs > now ? s.cooldownUntilMs - now : 0);
      this.gauge("ai_failover_provider_remaining_tokens" + p, s.remainingTokens);
      this.gauge("ai_failover_provider_remaining_requests" + p, s.remainingRequests);
      this.gauge("ai_failover_provider_reserved_tokens" + p, s.tokensReserved);
    }
  }
}
