// Root context (one per worker VM): configuration and the periodic tick (health checks,
// state gauges, the body-wait diagnostic). http_call answers go to their handlers through the
// callout registry.

import { RootContext, Context } from "@solo-io/proxy-runtime/assembly";
import { Config } from "../config/model";
import { EnvLookup, parseConfig } from "../config/parse";
import { BufferType, getBuffer, nowMs, setTickPeriod } from "../host/calls";
import { Callouts } from "../host/callouts";
import { log, Level, setLevel, enabled } from "../host/log";
import { readEnvironment, randomU64 } from "../host/wasi";
import { learnLegacyNames } from "../host/routing";
import { ProviderRegistry } from "../provider/registry";
import { Rng } from "../select/rng";
import { BodyWaitWatch } from "./body_wait";
import { Generation } from "./generation";
import { HealthChecks } from "./health_checks";
import { Metrics } from "./metrics";
import { ClientRequest } from "./request";
import { buildViews, ConfigView, loadStates, needsCluster } from "./views";
import { ErrorBodyWait } from "./error_wait";
import { ModelEjections } from "./model_ejections";
import { Tokens } from "./tokens";
import { ProviderConfig } from "../config/model";
import { ClusterLimiter, unsupportedByBuild } from "./cluster";
import { RLS_COOLDOWN_TICK_MS, sharesThroughService } from "./cluster_rls_cooldowns";

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
  config: Config | null = null;
  /** Global view first, then one per `_rules_` entry. */
  views: ConfigView[] = [];
  /** Some `_match_service_` rule: each request's cluster name is read. */
  rulesNeedCluster: bool = false;
  registry: ProviderRegistry = new ProviderRegistry();
  rng: Rng = new Rng(1);
  metrics: Metrics = new Metrics();
  callouts: Callouts = new Callouts();
  bodyWait: BodyWaitWatch = new BodyWaitWatch();
  errorWait: ErrorBodyWait = new ErrorBodyWait();
  modelsOut: ModelEjections = new ModelEjections();
  /** Entra tokens of the configured identities (shared by every worker). */
  tokens: Tokens = new Tokens(this.callouts, this.metrics);
  /** Cluster-wide limits (clusterLimits): the rate limit service, or Redis in the Higress build. */
  cluster: ClusterLimiter = new ClusterLimiter();
  private health: HealthChecks = new HealthChecks(this.callouts, this.metrics, this.tokens);
  private generation: Generation = new Generation();
  private tickMs: i64 = 1000;

  createContext(contextId: u32): Context {
    return new ClientRequest(contextId, this);
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
    this.config = cfg;
    // Every provider of every view, once per name: what the health checks cover.
    this.registry = new ProviderRegistry();
    this.views = buildViews(cfg, this.registry);
    this.rulesNeedCluster = needsCluster(this.views);
    learnLegacyNames();
    this.health.configure(cfg, this.registry.all);
    this.tokens.configure(cfg.identities);
    this.cluster.configure(cfg, this.registry.all);
    this.rng = new Rng(cfg.seed != 0 ? cfg.seed : randomU64());
    this.metrics.reset();
    this.tickMs = cfg.healthCheck.intervalMs < 1000 ? cfg.healthCheck.intervalMs : 1000;
    // Cooldowns shared through the rate limit service live in one-second counts: two checks a second.
    if (sharesThroughService(cfg.clusterLimits) && this.tickMs > RLS_COOLDOWN_TICK_MS) this.tickMs = RLS_COOLDOWN_TICK_MS;
    if (this.tickMs < 50) this.tickMs = 50;
    setTickPeriod(<u32>this.tickMs);
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
    this.bodyWait.check(now);
    this.errorWait.check(now);
    // A replaced configuration still serves its draining streams, but no longer speaks for the
    // providers: the current one probes them (with its keys) and publishes their state.
    if (!this.generation.current()) return;
    this.metrics.publishStates(this.registry.all, loadStates(this.registry.all), now);
    this.tokens.tick(now, this.generation.leaseKey + "/tokens", this.tickMs * 3);
    if (this.cluster.on) this.cluster.tick(this.config!, this.registry.all, now, this.tickMs);
    this.health.tick(now, this.tickMs, this.generation.leaseKey);
  }

  // gRPC answers: the rate limit service's (plugin/cluster.ts).
  on_grpc_receive(token: u32, responseSize: u32): void {
    if (!this.cluster.receive(token, responseSize)) log(Level.Warn, "ai-failover: gRPC answer for unknown call " + token.toString());
  }

  /** Higress build: a Redis reply (plugin/cluster.ts; exported by entry_higress.ts). */
  onRedisCallResponse(token: u32, status: u32, size: u32): void {
    if (!this.cluster.redisAnswer(token, status, size) && enabled(Level.Debug)) log(Level.Debug, "ai-failover: redis reply for unknown call " + token.toString());
  }

  on_grpc_close(token: u32, statusCode: u32): void {
    // A close for a token never handed out follows a call the host refused at once (no healthy host).
    if (!this.cluster.close(token, statusCode) && enabled(Level.Debug)) log(Level.Debug, "ai-failover: gRPC close for unknown call " + token.toString());
  }

  onHttpCallResponse(token: u32, headers: u32, bodySize: u32, trailers: u32): void {
    if (!this.callouts.deliver(token, headers, bodySize, trailers)) {
      log(Level.Warn, "ai-failover: response for unknown callout " + token.toString());
    }
    // A large answer (a failover attempt's, read whole) left as much garbage: collect it now,
    // outside the handler's frames, so the next one reuses the memory instead of growing the VM.
    if (bodySize >= LARGE_ANSWER) __collect();
  }
}
