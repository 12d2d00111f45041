// Root context (one per worker VM): configuration, health checks, callout dispatch.
// Orchestrates only; policy lives in config/, health/, select/, provider/.

import { RootContext, Context } from "@solo-io/proxy-runtime/assembly";
import { Config, Limits, ProviderConfig } from "../config/model";
import { EnvLookup, parseConfig } from "../config/parse";
import { fnv1a } from "../lib/bytes";
import { BufferType, getBuffer, getHeader, getStatusCode, httpCall, MapType, nowMs, Result, setTickPeriod } from "../host/calls";
import { log, Level, setLevel, enabled } from "../host/log";
import { readEnvironment, randomU64 } from "../host/wasi";
import { loadState, stateKey, StateOp, updateState } from "../host/store";
import { acquireLease } from "../host/lease";
import { ProviderState, Reason, reasonName } from "../health/state";
import { applyProbe, classifyStatus, Outcome } from "../health/transitions";
import { authHeaderName, authHeaderValue, probePath } from "../provider/route";
import { Rng } from "../select/rng";
import { intHeader, retryAfterMs } from "./headers";
import { ResponseOp, SettleOp } from "./admission";
import { UsageScanner } from "../lib/usage";
import { FailoverStream } from "./stream";
import { Metrics } from "./metrics";

class MapEnv extends EnvLookup {
  constructor(private vars: Map<string, string>) { super(); }
  get(name: string): string | null {
    return this.vars.has(name) ? this.vars.get(name) : null;
  }
}

const enum CalloutKind { Probe = 0, Attempt = 1 }

class Callout {
  /** Attempts: the view the provider index refers to, and the reservation made for it. */
  view: ConfigView | null = null;
  reserved: i64 = 0;
  reservedAt: i64 = 0;
  /** Set when the stream ended before the answer: the consumer budget the answer settles. */
  consumerKey: string = "";
  consumerFp: u32 = 0;
  consumerLimits: Limits | null = null;
  consumerNeed: i64 = 0;
  consumerAt: i64 = 0;
  constructor(public kind: CalloutKind, public provider: i32, public contextId: u32, public startedMs: i64) {}
}

class ProbeOp extends StateOp {
  flipped: bool = false;
  constructor(public outcome: Outcome, public status: i32, public now: i64, public retryAfter: i64, public cfg: Config) { super(); }
  apply(s: ProviderState): bool {
    this.flipped = applyProbe(s, this.outcome, this.status, this.now, this.retryAfter, this.cfg.healthCheck, this.cfg.cooldown);
    return true;
  }
}

/**
 * One configuration a request can run under: the global one, or a Higress `_rules_` entry
 * (global ⊕ overrides). Providers are shared by name across views (same record enforced by
 * validation), so their state in shared data is too.
 */
export class ConfigView {
  config: Config;
  keys: string[] = [];
  fingerprints: u32[] = [];
  matchRoutes: string[] = [];
  matchDomains: string[] = [];
  constructor(config: Config) {
    this.config = config;
    for (let i = 0; i < config.providers.length; i++) {
      const p = unchecked(config.providers[i]);
      this.keys.push(stateKey(p.name));
      this.fingerprints.push(fnv1a(p.fingerprint));
    }
  }
  /** Does this rule apply to a request on `route` for `authority`? */
  matches(route: string, authority: string): bool {
    for (let i = 0; i < this.matchRoutes.length; i++) if (unchecked(this.matchRoutes[i]) == route) return true;
    let host = authority.toLowerCase();
    const colon = host.lastIndexOf(":");
    if (colon > 0 && !host.endsWith("]")) host = host.substring(0, colon);
    for (let i = 0; i < this.matchDomains.length; i++) {
      const d = unchecked(this.matchDomains[i]).toLowerCase();
      if (d.startsWith("*.")) {
        if (host.endsWith(d.substring(1)) && host.length > d.length - 1) return true;
      } else if (d == host) return true;
    }
    return false;
  }
}

class ClearCredentialOp extends StateOp {
  constructor(public now: i64) { super(); }
  apply(s: ProviderState): bool {
    if (!s.credentialBad || this.now < s.cooldownUntilMs) return false;
    s.credentialBad = false;
    if (s.reason == Reason.CredentialBad) s.reason = Reason.None;
    return true;
  }
}

export class FailoverRoot extends RootContext {
  config: Config | null = null;
  /** Global view first, then one per `_rules_` entry. */
  views: ConfigView[] = [];
  /** Per provider of the global view: shared-data key and fingerprint hash. */
  keys: string[] = [];
  fingerprints: u32[] = [];
  rng: Rng = new Rng(1);
  metrics: Metrics = new Metrics();
  private owner: u64 = 0;
  private tickMs: i64 = 1000;
  private probing: bool[] = [];
  /** Every provider of every view, once per name (what the health checks cover). */
  private probedProviders: ProviderConfig[] = [];
  private probed: ConfigView = new ConfigView(new Config());
  /** When each provider's next probe is due (this VM's view; reset when the lease moves here). */
  private nextProbeAt: i64[] = [];
  private callouts: Map<u32, Callout> = new Map();
  /** Body-mode streams whose headers were held and that have not seen a body callback yet. */
  private awaitingBody: Map<u32, i64> = new Map();
  private warnedBodyWait: bool = false;
  /** Streams waiting for an in-request attempt made through http_call. */
  streams: Map<u32, FailoverStream> = new Map();

  createContext(contextId: u32): Context {
    return new FailoverStream(contextId, this);
  }

  onConfigure(configurationSize: u32): bool {
    const raw = getBuffer(BufferType.PluginConfiguration, 0, configurationSize);
    if (raw === null || raw.byteLength == 0) {
      log(Level.Error, "ai-failover: configuration rejected: the plugin configuration is empty (expected JSON with a providers list)");
      return false;
    }
    const result = parseConfig(String.UTF8.decode(raw), new MapEnv(readEnvironment()));
    if (!result.ok()) {
      const errors = result.errors;
      log(Level.Error, "ai-failover: configuration rejected: " + errors.length.toString() + " problem(s)");
      for (let i = 0; i < errors.length; i++) log(Level.Error, "ai-failover: invalid configuration: " + unchecked(errors[i]));
      return false;
    }
    const cfg = result.config!;
    setLevel(cfg.logLevel);
    this.config = cfg;
    // Health checks cover every provider of every view, once per name.
    this.probed = new ConfigView(cfg);
    this.probedProviders = [];
    for (let i = 0; i < cfg.providers.length; i++) this.probedProviders.push(unchecked(cfg.providers[i]));
    const global = new ConfigView(cfg);
    this.views = [global];
    for (let r = 0; r < cfg.rules.length; r++) {
      const rule = unchecked(cfg.rules[r]);
      const rc = rule.config;
      if (rc === null) continue;
      const v = new ConfigView(rc);
      v.matchRoutes = rule.matchRoutes;
      v.matchDomains = rule.matchDomains;
      this.views.push(v);
      for (let i = 0; i < rc.providers.length; i++) {
        const p = unchecked(rc.providers[i]);
        if (cfg.providerIndex(p.name) >= 0) continue;
        let seen = false;
        for (let k = 0; k < this.probedProviders.length; k++) if (unchecked(this.probedProviders[k]).name == p.name) seen = true;
        if (!seen) {
          this.probedProviders.push(p);
          this.probed.keys.push(stateKey(p.name));
          this.probed.fingerprints.push(fnv1a(p.fingerprint));
        }
      }
    }
    this.keys = global.keys;
    this.fingerprints = global.fingerprints;
    this.probing = [];
    this.nextProbeAt = [];
    for (let i = 0; i < this.probedProviders.length; i++) {
      this.probing.push(false);
      this.nextProbeAt.push(0);
    }
    this.owner = randomU64();
    this.rng = new Rng(cfg.seed != 0 ? cfg.seed : randomU64());
    this.metrics.configure(cfg);
    this.tickMs = cfg.healthCheck.intervalMs < 1000 ? cfg.healthCheck.intervalMs : 1000;
    if (this.tickMs < 50) this.tickMs = 50;
    setTickPeriod(<u32>this.tickMs);
    if (enabled(Level.Info)) {
      for (let i = 0; i < cfg.providers.length; i++) {
        const p = unchecked(cfg.providers[i]);
        log(Level.Info, "ai-failover: provider " + p.name + " → cluster " + p.cluster + ", host " + p.host +
          ", priority " + p.priority.toString() + ", weight " + p.weight.toString() + ", key " + p.credential.masked() +
          " (" + p.credentialSource + ")");
      }
    }
    return true;
  }

  /** Current state of every provider of a view (one shared-data read each). */
  loadStates(view: ConfigView): ProviderState[] {
    const n = view.keys.length;
    const out = new Array<ProviderState>(n);
    for (let i = 0; i < n; i++) {
      unchecked((out[i] = loadState(unchecked(view.keys[i]), unchecked(view.fingerprints[i]))));
    }
    return out;
  }

  update(view: ConfigView, i: i32, op: StateOp): ProviderState | null {
    return updateState(unchecked(view.keys[i]), unchecked(view.fingerprints[i]), op);
  }

  /** The view a request runs under: the first matching rule, else the global configuration. */
  viewFor(route: string, authority: string): ConfigView {
    for (let i = 1; i < this.views.length; i++) {
      const v = unchecked(this.views[i]);
      if (v.matches(route, authority)) return v;
    }
    return unchecked(this.views[0]);
  }

  awaitBody(contextId: u32, now: i64): void {
    if (!this.warnedBodyWait) this.awaitingBody.set(contextId, now);
  }

  bodyArrived(contextId: u32): void {
    if (this.awaitingBody.size > 0) this.awaitingBody.delete(contextId);
  }

  /**
   * Without allow_on_headers_stop_iteration, Envoy turns the filter's StopIteration into
   * StopAllIterationAndWatermark: the body is held until the filter continues, which in body
   * mode it never does — the request hangs. Say so, loudly, once.
   */
  private checkBodyWait(now: i64): void {
    if (this.warnedBodyWait || this.awaitingBody.size == 0) return;
    const ids = this.awaitingBody.keys();
    for (let i = 0; i < ids.length; i++) {
      const since = this.awaitingBody.get(unchecked(ids[i]));
      if (now - since < 3000) continue;
      this.warnedBodyWait = true;
      this.awaitingBody.clear();
      log(Level.Error, "ai-failover: a request has waited " + (now - since).toString() + " ms for its body after its headers. " +
        "If requests hang, the wasm filter's config lacks allow_on_headers_stop_iteration: true (Envoy >= 1.35; Higress): " +
        "without it Envoy holds the body until the filter continues. Set it, or set \"mode\": \"headers\" in the plugin configuration.");
      return;
    }
  }

  onTick(): void {
    const cfg = this.config;
    if (cfg === null) return;
    const now = nowMs();
    this.checkBodyWait(now);
    this.metrics.publishStates(this.probedProviders, this.loadStates(this.probed), now);
    if (!cfg.healthCheck.enabled) {
      // No probe will ever prove a rejected key good again: once its authFailure ejection has
      // run out, let live traffic try it (a 401 ejects it again).
      const states = this.loadStates(this.probed);
      for (let i = 0; i < states.length; i++) {
        const s = unchecked(states[i]);
        if (s.credentialBad && now >= s.cooldownUntilMs) this.update(this.probed, i, new ClearCredentialOp(now));
      }
      return;
    }
    if (!acquireLease(this.owner, now, this.tickMs * 3)) return;
    for (let i = 0; i < this.probedProviders.length; i++) {
      if (unchecked(this.probing[i]) || now < unchecked(this.nextProbeAt[i])) continue;
      unchecked((this.nextProbeAt[i] = now + cfg.healthCheck.intervalMs));
      this.probe(i, unchecked(this.probedProviders[i]), now);
    }
  }

  /** GET the provider's models endpoint with its own :authority and credential. */
  private probe(i: i32, p: ProviderConfig, now: i64): void {
    const cfg = this.config!;
    const path = probePath(p);
    const headers: string[] = [
      ":method", "GET", ":path", path, ":authority", p.host, ":scheme", "https",
      authHeaderName(p), authHeaderValue(p), "user-agent", "ai-failover-health-check",
    ];
    const r = httpCall(p.cluster, headers, new ArrayBuffer(0), <u32>cfg.healthCheck.timeoutMs);
    if (enabled(Level.Debug)) {
      log(Level.Debug, "ai-failover: health check " + p.name + ": GET " + p.host + path + " via cluster " + p.cluster +
        " with key " + p.credential.masked() + " → call result " + r.result.toString());
    }
    if (r.result != Result.Ok) {
      // BadArgument: unknown cluster; InternalFailure: no healthy upstream host. Both are probe failures.
      const why = r.result == Result.BadArgument ? "cluster " + p.cluster + " is not defined in Envoy" : "cluster " + p.cluster + " has no healthy host";
      log(Level.Warn, "ai-failover: health check " + p.name + " could not be sent: " + why);
      this.recordProbe(i, 0, now, 0, false);
      return;
    }
    unchecked((this.probing[i] = true));
    this.callouts.set(r.token, new Callout(CalloutKind.Probe, i, 0, now));
  }

  private recordProbe(i: i32, status: i32, now: i64, retryAfter: i64, quota: bool): void {
    const cfg = this.config!;
    const p = unchecked(this.probedProviders[i]);
    const outcome = classifyStatus(status, quota);
    const op = new ProbeOp(outcome, status, now, retryAfter, cfg);
    const s = this.update(this.probed, i, op);
    this.metrics.probe(p.name, outcome == Outcome.Success || outcome == Outcome.RateLimited ? "ok"
      : outcome == Outcome.ClientError ? "client_error" : "failed");
    if (outcome == Outcome.CredentialRejected) {
      log(Level.Error, "ai-failover: health check " + p.name + " rejected with " + status.toString() +
        ": the credential (key " + p.credential.masked() + ", from " + p.credentialSource + ") is not valid for endpoint " +
        p.host + probePath(p) + "; the provider gets no traffic until a check succeeds");
    }
    if (s !== null && op.flipped) {
      if (s.healthy) log(Level.Info, "ai-failover: provider " + p.name + " is healthy again (status " + status.toString() + ")");
      else log(Level.Warn, "ai-failover: provider " + p.name + " marked unhealthy: " + reasonName(s.reason) +
        " (last probe status " + status.toString() + ")");
    }
  }

  onHttpCallResponse(token: u32, headers: u32, bodySize: u32, trailers: u32): void {
    if (!this.callouts.has(token)) {
      log(Level.Warn, "ai-failover: response for unknown callout " + token.toString());
      return;
    }
    const c = this.callouts.get(token);
    this.callouts.delete(token);
    const now = nowMs();
    let status: i32 = 0;
    if (headers > 0) {
      const st = getHeader(MapType.HttpCallResponseHeaders, ":status");
      if (st !== null) status = I32.parseInt(st);
    } else if (getStatusCode() != 11) {
      status = 0;
    }
    if (c.kind == CalloutKind.Probe) {
      unchecked((this.probing[c.provider] = false));
      let quota = false;
      if (status == 429 && bodySize > 0 && bodySize < 65536) {
        const body = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
        if (body !== null) quota = String.UTF8.decode(body).includes("insufficient_quota");
      }
      this.recordProbe(c.provider, status, now, status == 429 ? retryAfterMs(MapType.HttpCallResponseHeaders) : 0, quota);
      return;
    }
    if (this.streams.has(c.contextId)) {
      const stream = this.streams.get(c.contextId);
      stream.onAttemptResponse(c.provider, status, headers, bodySize, now);
      return;
    }
    // The client left while the attempt was in flight: its answer still counts for the
    // provider's health, and its reservation is settled or released.
    const view = c.view;
    if (view === null) return;
    const p = unchecked(view.config.providers[c.provider]);
    const ok = status >= 200 && status < 300;
    let quota = false;
    let actual: i64 = -1;
    if (bodySize > 0 && bodySize <= 16777216) {
      const body = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
      if (body !== null) {
        const bytes = Uint8Array.wrap(body);
        if (status == 429) quota = String.UTF8.decode(body).includes("insufficient_quota");
        if (ok) {
          const u = new UsageScanner();
          u.feed(bytes);
          if (u.found) actual = (u.promptTokens > 0 ? u.promptTokens : 0) + (u.completionTokens > 0 ? u.completionTokens : 0);
        }
      }
    }
    const map = MapType.HttpCallResponseHeaders;
    this.update(view, c.provider, new ResponseOp(classifyStatus(status, quota), now, status == 429 ? retryAfterMs(map) : 0,
      intHeader(map, "x-ratelimit-remaining-tokens"), intHeader(map, "x-ratelimit-remaining-requests"),
      view.config, p.limits, !ok, c.reserved, c.reservedAt));
    if (ok && actual >= 0) this.update(view, c.provider, new SettleOp(p.limits, c.reserved, actual, c.reservedAt, now, false));
    const cl = c.consumerLimits;
    if (cl !== null) {
      // Charged with the usage (or the reservation when none came) if it succeeded, else released.
      const charge: i64 = !ok ? -1 : actual >= 0 ? actual : c.consumerNeed;
      updateState(c.consumerKey, c.consumerFp, new SettleOp(cl, c.consumerNeed, charge, c.consumerAt, now, true));
    }
  }

  /** A stream that ends with an attempt in flight hands its consumer reservation to that attempt. */
  adoptConsumer(contextId: u32, key: string, fp: u32, limits: Limits, need: i64, at: i64): void {
    const calls = this.callouts.values();
    for (let i = 0; i < calls.length; i++) {
      const c = unchecked(calls[i]);
      if (c.kind != CalloutKind.Attempt || c.contextId != contextId) continue;
      c.consumerKey = key;
      c.consumerFp = fp;
      c.consumerLimits = limits;
      c.consumerNeed = need;
      c.consumerAt = at;
      return;
    }
  }

  /** Sends an in-request attempt for a stream through http_call; returns false if it could not be sent. */
  sendAttempt(stream: FailoverStream, view: ConfigView, p: ProviderConfig, provider: i32, reserved: i64, reservedAt: i64,
    headers: string[], body: ArrayBuffer, timeoutMs: u32): u32 {
    const r = httpCall(p.cluster, headers, body, timeoutMs);
    if (r.result != Result.Ok) return r.result;
    const c = new Callout(CalloutKind.Attempt, provider, stream.context_id, nowMs());
    c.view = view;
    c.reserved = reserved;
    c.reservedAt = reservedAt;
    this.callouts.set(r.token, c);
    this.streams.set(stream.context_id, stream);
    return Result.Ok;
  }

}

