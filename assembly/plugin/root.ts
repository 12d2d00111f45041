// Root context (one per worker VM): configuration and the periodic tick (health checks,
// state gauges, the body-wait diagnostic). http_call answers go to their handlers through the
// callout registry.

import { collectFreedBodies } from "./request/held_bodies";
import { RootContext, Context } from "@solo-io/proxy-runtime/assembly";
import { Config } from "../config/model";
import { EnvLookup, parseConfig } from "../config/parse";
import { BufferType, getBuffer, nowMs, setTickPeriod } from "../host/calls";
import { log, Level, setLevel, enabled } from "../host/log";
import { readEnvironment, randomU64 } from "../host/wasi";
import { learnLegacyNames } from "../host/routing";
import { ProviderRegistry } from "../provider/registry";
import { Rng } from "../select/rng";
import { Generation } from "./generation";
import { HealthChecks } from "./health_checks";
import { ClientRequest } from "./request/client_request";
import { buildViews, loadStates, needsCluster } from "./views";
import { Services } from "./services";
import { TIMER_TICK_MS } from "./timers";
import { ProviderConfig } from "../config/model";
import { unsupportedByBuild } from "./cluster/limiter";
import { RLS_COOLDOWN_TICK_MS, sharesThroughService } from "./cluster/rls_cooldowns";

/** "key ****abcd (apiKeyEnv:K)" or "credentials key ****abcd (…), identity east (identity:east); quota shared". */
function credentialsLine(p: ProviderConfig): string {
  if (p.credentials.length <= 1) {
    const c = p.credential;
    return (c.identity !== null ? c.masked() : "key " + c.masked()) + " (" + p.credentialSource + ")";
  }
  const parts: string[] = [];
  for (let k = 0; k < p.credentials.length; k++) {
    const c = unchecked(p.credentials[k]);
    parts.push((c.identity !== null ? c.masked() : "key " + c.masked()) + " (" + unchecked(p.credentialSources[k]) + ")");
  }
  return "credentials " + parts.join(", ") + "; quota " + (p.quotaPerCredential ? "per credential" : "shared");
}

class MapEnv extends EnvLookup {
  constructor(private vars: Map<string, string>) { super(); }
  get(name: string): string | null {
    return this.vars.has(name) ? this.vars.get(name) : null;
  }
}

/** http_call answers at least this large are collected right after they were handled. */
const LARGE_ANSWER: u32 = 1 << 20;

export class FailoverRoot extends RootContext {
  /** What the requests share (the configuration's views, metrics, callouts, timers, tokens, cluster limits). */
  readonly svc: Services = new Services();
  registry: ProviderRegistry = new ProviderRegistry();
  private health: HealthChecks = new HealthChecks(this.svc.callouts, this.svc.metrics, this.svc.tokens);
  private generation: Generation = new Generation();
  /** The period of the slower work (health checks, gauges, token renewal, cluster sync); the tick itself comes every TIMER_TICK_MS. */
  private tickMs: i64 = 1000;
  private nextSlowMs: i64 = 0;

  get config(): Config | null {
    return this.svc.config;
  }

  createContext(contextId: u32): Context {
    return new ClientRequest(contextId, this, this.svc);
  }

  onConfigure(configurationSize: u32): bool {
    const raw = getBuffer(BufferType.PluginConfiguration, 0, configurationSize);
    if (raw === null || raw.byteLength == 0) {
      log(Level.Error, "ai-failover: configuration rejected: the plugin configuration is empty (expected JSON with a providers list)");
      return false;
    }
    const text = String.UTF8.decode(raw);
    const result = parseConfig(text, new MapEnv(readEnvironment()));
    if (!result.ok()) {
      const errors = result.errors;
      log(Level.Error, "ai-failover: configuration rejected: " + errors.length.toString() + " problem(s)");
      for (let i = 0; i < errors.length; i++) log(Level.Error, "ai-failover: invalid configuration: " + unchecked(errors[i]));
      return false;
    }
    const cfg = result.config!;
    // What this build cannot serve (clusterLimits.redis in the Envoy build) is a configuration error too.
    const unsupported = unsupportedByBuild(cfg);
    if (unsupported !== null) {
      log(Level.Error, "ai-failover: configuration rejected: 1 problem(s)");
      log(Level.Error, "ai-failover: invalid configuration: " + unsupported);
      return false;
    }
    setLevel(cfg.logLevel);
    const svc = this.svc;
    svc.config = cfg;
    // Every provider of every view, once per name: what the health checks cover.
    this.registry = new ProviderRegistry();
    svc.views = buildViews(cfg, this.registry);
    svc.rulesNeedCluster = needsCluster(svc.views);
    learnLegacyNames();
    this.health.configure(cfg, this.registry.all);
    svc.tokens.configure(cfg.identities);
    svc.cluster.configure(cfg, this.registry.all);
    svc.rng = new Rng(cfg.seed != 0 ? cfg.seed : randomU64());
    svc.metrics.reset();
    this.tickMs = cfg.healthCheck.intervalMs < 1000 ? cfg.healthCheck.intervalMs : 1000;
    // Cooldowns shared through the rate limit service live in one-second counts: two checks a second.
    if (sharesThroughService(cfg.clusterLimits) && this.tickMs > RLS_COOLDOWN_TICK_MS) this.tickMs = RLS_COOLDOWN_TICK_MS;
    if (this.tickMs < 50) this.tickMs = 50;
    // Requests that wait (a retry after its Retry-After, a stalled error body) are looked at every
    // TIMER_TICK_MS; the rest keeps its own period.
    setTickPeriod(<u32>(this.tickMs < TIMER_TICK_MS ? this.tickMs : TIMER_TICK_MS));
    this.nextSlowMs = 0;
    this.generation.claim(text, nowMs());
    if (enabled(Level.Info)) {
      for (let i = 0; i < cfg.providers.length; i++) {
        const p = unchecked(cfg.providers[i]);
        log(Level.Info, "ai-failover: provider " + p.name + " → cluster " + p.cluster + ", host " + p.host +
          ", priority " + p.priority.toString() + ", weight " + p.weight.toString() + ", " + credentialsLine(p));
      }
    }
    return true;
  }

  onTick(): void {
    if (this.config === null) return;
    const now = nowMs();
    const svc = this.svc;
    // Requests waiting for a renewed token (plugin/credentials/tokens.ts) are due as soon as it is there.
    svc.tokens.wake(now);
    svc.timers.check(now);
    collectFreedBodies();
    if (now < this.nextSlowMs) return;
    // Slightly early rather than a whole timer tick late.
    this.nextSlowMs = now + this.tickMs - TIMER_TICK_MS / 2;
    svc.bodyWait.check(now);
    // A replaced configuration still serves its draining streams, but no longer speaks for the
    // providers: the current one probes them (with its keys) and publishes their state.
    if (!this.generation.current()) return;
    svc.metrics.publishStates(this.registry.all, loadStates(this.registry.all), now);
    svc.tokens.tick(now, this.generation.leaseKey + "/tokens", this.tickMs * 3);
    if (svc.cluster.on) svc.cluster.tick(this.config!, this.registry.all, now, this.tickMs);
    this.health.tick(now, this.tickMs, this.generation.leaseKey);
  }

  // gRPC answers: the rate limit service's (plugin/cluster/limiter.ts).
  on_grpc_receive(token: u32, responseSize: u32): void {
    if (!this.svc.cluster.receive(token, responseSize)) log(Level.Warn, "ai-failover: gRPC answer for unknown call " + token.toString());
  }

  /** Higress build: a Redis reply (plugin/cluster/limiter.ts; exported by entry_higress.ts). */
  onRedisCallResponse(token: u32, status: u32, size: u32): void {
    if (!this.svc.cluster.redisAnswer(token, status, size) && enabled(Level.Debug)) log(Level.Debug, "ai-failover: redis reply for unknown call " + token.toString());
  }

  on_grpc_close(token: u32, statusCode: u32): void {
    // A close for a token never handed out follows a call the host refused at once (no healthy host).
    if (!this.svc.cluster.close(token, statusCode) && enabled(Level.Debug)) log(Level.Debug, "ai-failover: gRPC close for unknown call " + token.toString());
  }

  onHttpCallResponse(token: u32, headers: u32, bodySize: u32, trailers: u32): void {
    if (!this.svc.callouts.deliver(token, headers, bodySize, trailers)) {
      log(Level.Warn, "ai-failover: response for unknown callout " + token.toString());
    }
    // A large answer (a failover attempt's, read whole) left as much garbage: collect it now,
    // outside the handler's frames, so the next one reuses the memory instead of growing the VM.
    if (bodySize >= LARGE_ANSWER) __collect();
  }
}
