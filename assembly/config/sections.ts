// The global sections besides providers and consumers: healthCheck, retry, cooldown,
// streaming, defaults and the top-level scalars. Defaults come from the model.

import { AffinityConfig, Config, CooldownConfig, HealthCheckConfig, RetryConfig, StreamingConfig } from "./model";
import { isHeaderToken } from "./patterns";
import { ObjReader, readInt } from "./walk";
import { formatMs } from "./walk";
import { quote } from "./text";
import { readClusterLimits } from "./cluster_limits";
import { EnvLookup } from "./env";

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

function readHealthCheck(root: ObjReader): HealthCheckConfig {
  const h = new HealthCheckConfig();
  const o = root.obj("healthCheck");
  if (o === null) return h;
  h.enabled = o.boolean("enabled", h.enabled);
  h.intervalMs = o.duration("interval", h.intervalMs, 100, HOUR);
  h.timeoutMs = o.duration("timeout", h.timeoutMs, 1, HOUR);
  h.unhealthyThreshold = <i32>o.int("unhealthyThreshold", h.unhealthyThreshold, 1, 1000);
  h.healthyThreshold = <i32>o.int("healthyThreshold", h.healthyThreshold, 1, 1000);
  if (h.timeoutMs >= h.intervalMs) {
    o.errs.add(o.pathOf("timeout"), "must be shorter than interval (" + formatMs(h.timeoutMs) + " ≥ " + formatMs(h.intervalMs) + ")");
  }
  o.finish();
  return h;
}

function readRetry(root: ObjReader): RetryConfig {
  const r = new RetryConfig();
  const o = root.obj("retry");
  if (o === null) return r;
  r.maxAttempts = <i32>o.int("maxAttempts", r.maxAttempts, 1, 10);
  const list = o.arr("onStatus");
  if (list !== null) {
    const codes = new Array<i32>();
    for (let i = 0; i < list.length; i++) {
      const before = o.errs.count;
      const c = <i32>readInt(list.at(i), list.pathAt(i), 400, 599, 0, o.errs);
      if (o.errs.count != before) continue;
      if (codes.includes(c)) {
        o.errs.add(list.pathAt(i), "duplicate status " + c.toString());
        continue;
      }
      codes.push(c);
    }
    r.onStatus = codes;
  }
  r.onConnectFailure = o.boolean("onConnectFailure", r.onConnectFailure);
  r.maxAnswerBytes = o.int("maxAnswerBytes", r.maxAnswerBytes, 65536, 256 * 1024 * 1024);
  r.maxHeldBodyBytes = o.int("maxHeldBodyBytes", r.maxHeldBodyBytes, 0, 1024 * 1024 * 1024);
  r.onContentFilter = o.boolean("onContentFilter", r.onContentFilter);
  r.onContextLength = o.boolean("onContextLength", r.onContextLength);
  r.sameProviderRetries = <i32>o.int("sameProviderRetries", r.sameProviderRetries, 0, 3);
  r.sameProviderMaxWaitMs = o.duration("sameProviderMaxWait", r.sameProviderMaxWaitMs, 0, 30_000);
  r.sameProviderBackoffMs = o.duration("sameProviderBackoff", r.sameProviderBackoffMs, 1, 10_000);
  o.finish();
  return r;
}

function readCooldown(root: ObjReader): CooldownConfig {
  const c = new CooldownConfig();
  const o = root.obj("cooldown");
  if (o === null) return c;
  c.defaultRateLimitMs = o.duration("rateLimitDefault", c.defaultRateLimitMs, 1, DAY);
  c.authFailureMs = o.duration("authFailure", c.authFailureMs, 1, DAY);
  c.baseEjectionMs = o.duration("baseEjection", c.baseEjectionMs, 1, DAY);
  c.maxEjectionMs = o.duration("maxEjection", c.maxEjectionMs, 1, DAY);
  c.consecutiveFailures = <i32>o.int("consecutiveFailures", c.consecutiveFailures, 1, 1000);
  if (c.baseEjectionMs > c.maxEjectionMs) {
    o.errs.add(o.pathOf(o.has("maxEjection") ? "maxEjection" : "baseEjection"),
      "maxEjection must be at least baseEjection (" + formatMs(c.maxEjectionMs) + " < " + formatMs(c.baseEjectionMs) + ")");
  }
  o.finish();
  return c;
}

function readStreaming(root: ObjReader): StreamingConfig {
  const s = new StreamingConfig();
  const o = root.obj("streaming");
  if (o === null) return s;
  s.allow = o.boolean("allow", s.allow);
  s.includeUsage = o.boolean("includeUsage", s.includeUsage);
  s.firstByteTimeoutMs = o.duration("firstByteTimeout", s.firstByteTimeoutMs, 0, HOUR);
  o.finish();
  return s;
}

/** The request header the gateway reads as a provider pin (and never sends upstream). */
export const PIN_HEADER = "x-ai-failover-provider";

function readAffinity(root: ObjReader): AffinityConfig {
  const a = new AffinityConfig();
  const o = root.obj("affinity");
  if (o === null) return a;
  const h = o.str("header", false);
  if (h !== null) {
    const name = h.toLowerCase();
    if (!isHeaderToken(name) || name.length > 128 || name.charCodeAt(0) == 0x3a) {
      o.errs.add(o.pathOf("header"), "must be a header name (1-128 token characters, not a pseudo-header), found " + quote(h));
    } else if (name == PIN_HEADER || name == "authorization" || name == "api-key" || name == "x-api-key" || name == "x-ai-failover-cluster") {
      o.errs.add(o.pathOf("header"), "must not be a credential header or one of the gateway's own, found " + quote(h));
    } else {
      a.header = name;
    }
  }
  a.consumer = o.boolean("consumer", a.consumer);
  a.providerHeader = o.boolean("providerHeader", a.providerHeader);
  o.finish();
  return a;
}

const LOG_LEVELS: string[] = ["trace", "debug", "info", "warn", "error", "critical"];

/** Fills every section of `cfg` except providers, consumers and rules. */
export function readSections(root: ObjReader, cfg: Config, env: EnvLookup): void {
  cfg.healthCheck = readHealthCheck(root);
  cfg.retry = readRetry(root);
  cfg.cooldown = readCooldown(root);
  cfg.streaming = readStreaming(root);
  cfg.affinity = readAffinity(root);
  cfg.clusterLimits = readClusterLimits(root, env);
  const d = root.obj("defaults");
  if (d !== null) {
    cfg.defaultMaxTokens = d.int("maxTokens", cfg.defaultMaxTokens, 1, 10000000);
    cfg.defaultImageTokens = d.int("imageTokens", cfg.defaultImageTokens, 1, 1000000);
    cfg.defaultAudioTokensPerSecond = d.int("audioTokensPerSecond", cfg.defaultAudioTokensPerSecond, 1, 10000);
    d.finish();
  }
  cfg.maxRequestBodyBytes = root.int("maxRequestBodyBytes", cfg.maxRequestBodyBytes, 1024, 64 * 1024 * 1024);
  cfg.upstreamTimeoutMs = root.duration("upstreamTimeout", cfg.upstreamTimeoutMs, 1, HOUR);
  cfg.firstByteExplicit = root.has("firstByteTimeout");
  cfg.firstByteTimeoutMs = root.duration("firstByteTimeout", cfg.firstByteTimeoutMs, 0, HOUR);
  cfg.firstTokenTimeoutMs = root.duration("firstTokenTimeout", cfg.firstTokenTimeoutMs, 0, HOUR);
  cfg.streamIdleTimeoutMs = root.duration("streamIdleTimeout", cfg.streamIdleTimeoutMs, 0, HOUR);
  const level = root.str("logLevel", false);
  if (level !== null) {
    const i = LOG_LEVELS.indexOf(level);
    if (i >= 0) cfg.logLevel = i;
    else root.errs.add(root.pathOf("logLevel"), "must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\", found " + quote(level));
  }
  const access = root.str("accessLog", false);
  if (access !== null) {
    if (access == "info") cfg.accessLogLevel = 2;
    else if (access == "debug") cfg.accessLogLevel = 1;
    else if (access == "off") cfg.accessLogLevel = -1;
    else root.errs.add(root.pathOf("accessLog"), "must be one of \"info\", \"debug\", \"off\", found " + quote(access));
  }
  cfg.seed = <u64>root.int("seed", 0, 0, 9007199254740991);
  const mode = root.str("mode", false);
  if (mode !== null) {
    if (mode == "headers") cfg.headerOnly = true;
    else if (mode != "body") root.errs.add(root.pathOf("mode"), "must be \"body\" (read the body before routing; needs allow_on_headers_stop_iteration: true, Envoy >= 1.35) or \"headers\" (route from path and headers, for older Envoys), found " + quote(mode));
  }
}
