// Test-facing exports of the planning layer (plan/) and the request phase table: pure
// decisions in, their results out as JSON text. Compiled only into the unit-test module.

import { AzureApi, Config, Credential, ProviderConfig, ProviderType } from "../config/model";
import { ProviderState } from "../health/state";
import { scanRequest } from "../lib/json_scan";
import { UsageScanner } from "../lib/usage";
import { charge } from "../plan/accounting";
import { AnswerHeaders, answerOf, classifyAnswer, firstTokenTimedOut, parseCount, parseRetryAfterMs, parseStatus } from "../plan/answer";
import { decide, Situation } from "../plan/decide";
import { RetryConfig } from "../config/model";
import { noProvider, overBudget } from "../plan/rejection";
import { upstreamRequest } from "../plan/upstream";
import { ConsumerConfig } from "../config/model";
import { allowed, Phase, phaseName } from "../plugin/request/phase";
import { ApiKind } from "../provider/api";
import { NoChoice } from "../select/selector";
import { JsonObject } from "./json_out";

/** "\u0000" stands for an absent value (a header that is not there). */
function opt(v: string): string | null {
  return v == "\u0000" ? null : v;
}

/**
 * A provider: type 0 Azure / 1 OpenAI, api 0 classic / 1 v1, deployments "model=deployment,…".
 */
function provider(type: i32, api: i32, deployments: string): ProviderConfig {
  const p = new ProviderConfig();
  p.name = "p";
  p.type = type == 0 ? ProviderType.AzureOpenAI : ProviderType.OpenAI;
  p.azureApi = api == 0 ? AzureApi.Classic : AzureApi.V1;
  p.cluster = "cluster-p";
  p.host = type == 0 ? "p.openai.azure.com" : "api.example.com";
  p.basePath = type == 0 ? "" : "/v1";
  p.apiVersion = "2024-10-21";
  p.credential = new Credential("key-of-p-0123456789");
  if (deployments.length > 0) {
    const pairs = deployments.split(",");
    for (let i = 0; i < pairs.length; i++) {
      const kv = unchecked(pairs[i]).split("=");
      p.deploymentKeys.push(kv[0]);
      p.deploymentValues.push(kv[1]);
      p.models.push(kv[0]);
    }
  }
  return p;
}

/** upstreamRequest for a provider shape; `headerOnly`: the body was not scanned. */
export function planUpstream(type: i32, api: i32, deployments: string, kind: i32, model: string, method: string, body: string,
  headerOnly: bool, includeUsage: bool): string {
  const p = provider(type, api, deployments);
  const bytes = Uint8Array.wrap(String.UTF8.encode(body));
  const r = upstreamRequest(p, <ApiKind>kind, model, method, bytes, headerOnly ? null : scanRequest(bytes), includeUsage);
  return new JsonObject()
    .str("method", r.method).str("path", r.path).str("authority", r.authority).str("authName", r.authName)
    .str("authValue", r.authValue).str("cluster", r.cluster).str("body", String.UTF8.decode(r.body.buffer))
    .bool("bodyChanged", r.bodyChanged).bool("injectedUsage", r.injectedUsage).strs("calloutHeaders", r.calloutHeaders())
    .toString();
}

/** The header parsers: retry-after-ms / retry-after, a count, a :status. */
export function planParse(retryAfterMs: string, retryAfter: string, count: string, status: string): string {
  return new JsonObject()
    .int("retryAfterMs", parseRetryAfterMs(opt(retryAfterMs), opt(retryAfter)))
    .int("count", parseCount(opt(count)))
    .int("status", parseStatus(opt(status)))
    .toString();
}

/** classifyAnswer; `body` "\u0000" = not read. */
export function planClassify(status: i32, retryAfterMs: i64, remainingTokens: i64, body: string): string {
  const h = new AnswerHeaders();
  h.status = status;
  h.retryAfterMs = retryAfterMs;
  h.remainingTokens = remainingTokens;
  const b = opt(body);
  const v = classifyAnswer(h, b !== null ? Uint8Array.wrap(String.UTF8.encode(b)) : null);
  return new JsonObject()
    .int("outcome", <i64>v.outcome).int("status", v.status).int("retryAfterMs", v.retryAfterMs)
    .int("remainingTokens", v.remainingTokens).bool("ok", v.ok).toString();
}

/** charge() after feeding `answer` to a usage scanner. */
export function planCharge(answer: string, ok: bool, promptEstimate: i64, maxTokens: i64, events: i64, bytes: i64): string {
  const u = new UsageScanner();
  u.feed(Uint8Array.wrap(String.UTF8.encode(answer)));
  const c = charge(u, ok, promptEstimate, maxTokens, events, bytes);
  return new JsonObject().int("input", c.input).int("output", c.output).bool("estimated", c.estimated)
    .bool("reported", c.reported).int("total", c.total).toString();
}

/**
 * noProvider over providers serving gpt-4o described as "tpm:healthy:credentialBad:cooldownUntilMs:windowStartMs;…".
 */
export function planNoProvider(spec: string, model: string, need: i64, headerOnly: bool, why: i32, now: i64, intervalMs: i64): string {
  const cfg = new Config();
  cfg.healthCheck.intervalMs = intervalMs;
  const states = new Array<ProviderState>();
  const parts = spec.length > 0 ? spec.split(";") : new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const f = unchecked(parts[i]).split(":");
    const p = provider(1, 0, "gpt-4o=gpt-4o");
    p.limits.tokensPerMinute = I64.parseInt(f[0]);
    cfg.providers.push(p);
    const s = new ProviderState();
    s.healthy = f[1] == "1";
    s.credentialBad = f[2] == "1";
    s.cooldownUntilMs = I64.parseInt(f[3]);
    s.windowStartMs = I64.parseInt(f[4]);
    states.push(s);
  }
  const r = noProvider(cfg, cfg.providers, model, need, headerOnly, <NoChoice>why, states, now);
  return new JsonObject().int("status", r.status).str("code", r.code).str("type", r.type).str("message", r.message)
    .int("retryAfterS", r.retryAfterS).str("metric", r.metric).toString();
}

export function planOverBudget(tpm: i64, rpm: i64, need: i64, waitMs: i64): string {
  const c = new ConsumerConfig();
  c.name = "team-a";
  c.tokensPerMinute = tpm;
  c.requestsPerMinute = rpm;
  const r = overBudget(c, need, waitMs);
  return new JsonObject().int("status", r.status).str("code", r.code).str("message", r.message)
    .int("retryAfterS", r.retryAfterS).str("metric", r.metric).toString();
}

/** Every allowed phase transition as "from>to" names. */
export function phaseTransitions(): string {
  const out = new Array<string>();
  for (let f = 0; f <= <i32>Phase.Done; f++) {
    for (let t = 0; t <= <i32>Phase.Done; t++) {
      if (allowed(<Phase>f, <Phase>t)) out.push(phaseName(<Phase>f) + ">" + phaseName(<Phase>t));
    }
  }
  return out.join(",");
}

/**
 * The decision after an answer (plan/decide.ts): `status`, its body ("\u0000" not read), its
 * Retry-After; `facts` "key=value,…" sets the Situation (attempts, retriesOn, resendable, pinned,
 * discovering, discoverAttempts, aside, tokenWait, same, elapsed, budget, peer, exhausted, fallback, context, jitter) and
 * the policy (maxAttempts, onStatus "429+503", onConnectFailure, onContentFilter, onContextLength,
 * sameRetries, maxWait, backoff); `firstToken=1` makes the answer a first-token timeout.
 */
export function planDecide(status: i32, body: string, retryAfterMs: i64, timedOut: bool, facts: string): string {
  const h = new AnswerHeaders();
  h.status = status;
  h.retryAfterMs = retryAfterMs;
  const s = new Situation();
  const p = new RetryConfig();
  const b = opt(body);
  const parts = facts.length > 0 ? facts.split(",") : new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const kv = unchecked(parts[i]).split("=");
    const k = kv[0];
    const v = kv.length > 1 ? kv[1] : "";
    const n = v.length > 0 && (v.charCodeAt(0) == 45 || (v.charCodeAt(0) >= 48 && v.charCodeAt(0) <= 57)) ? I64.parseInt(v) : 0;
    if (k == "attempts") s.attempts = <i32>n;
    else if (k == "retriesOn") s.retriesOn = n != 0;
    else if (k == "resendable") s.resendable = n != 0;
    else if (k == "pinned") s.pinned = n != 0;
    else if (k == "discovering") s.discovering = n != 0;
    else if (k == "discoverAttempts") s.discoverAttempts = <i32>n;
    else if (k == "aside") s.credentialSetAside = n != 0;
    else if (k == "tokenWait") s.tokenWaitMs = n;
    else if (k == "same") s.sameRetries = <i32>n;
    else if (k == "elapsed") s.elapsedMs = n;
    else if (k == "budget") s.budgetMs = n;
    else if (k == "peer") s.peer = <i32>n;
    else if (k == "exhausted") s.exhausted = n != 0;
    else if (k == "fallback") s.fallbackModel = v;
    else if (k == "context") s.contextModel = v;
    else if (k == "jitter") s.jitter = <f64>n / 100.0;
    else if (k == "maxAttempts") p.maxAttempts = <i32>n;
    else if (k == "onStatus") {
      const codes = new Array<i32>();
      const list = v.split("+");
      for (let j = 0; j < list.length; j++) if (unchecked(list[j]).length > 0) codes.push(<i32>I64.parseInt(unchecked(list[j])));
      p.onStatus = codes;
    } else if (k == "onConnectFailure") p.onConnectFailure = n != 0;
    else if (k == "onContentFilter") p.onContentFilter = n != 0;
    else if (k == "onContextLength") p.onContextLength = n != 0;
    else if (k == "sameRetries") p.sameProviderRetries = <i32>n;
    else if (k == "maxWait") p.sameProviderMaxWaitMs = n;
    else if (k == "backoff") p.sameProviderBackoffMs = n;
  }
  // firstToken=1: the stream's first token did not come within firstTokenTimeout (its 200 held).
  const a = facts.includes("firstToken=1") ? firstTokenTimedOut() : answerOf(h, b !== null ? Uint8Array.wrap(String.UTF8.encode(b)) : null, timedOut, s.discovering);
  const d = decide(a, s, p);
  const names = ["deliver", "retry_here", "other_credential", "fail_over", "fallback_model", "reject"];
  return new JsonObject().int("kind", <i64>a.kind).str("next", names[<i32>d.next]).str("reason", d.reason)
    .int("waitMs", d.waitMs).str("model", d.model).toString();
}
