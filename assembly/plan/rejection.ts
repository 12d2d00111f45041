// What the gateway answers itself when it cannot or will not send a request on: status, the
// OpenAI-shaped error (type, code, message), Retry-After and the reason counted in metrics.
// Pure: the plugin sends the reply.

import { Config, ConsumerConfig, ProviderConfig } from "../config/model";
import { ProviderState } from "../health/state";
import { windowResetAt } from "../admission/window";
import { NoChoice } from "../select/selector";

export class Rejection {
  /** Retry-After in seconds (-1: none). */
  retryAfterS: i64 = -1;
  /** Reason label of ai_failover_rejected_total ("" = not counted). */
  metric: string = "";
  /** Further [name, value, …] headers. */
  extra: string[] = [];
  constructor(public status: u32, public details: string, public message: string, public type: string, public code: string) {}

  counted(metric: string): Rejection {
    this.metric = metric;
    return this;
  }

  retryAfter(seconds: i64): Rejection {
    this.retryAfterS = seconds < 1 ? 1 : seconds;
    return this;
  }
}

const INVALID = "invalid_request_error";
const RATE = "rate_limit_error";

export function unauthenticated(): Rejection {
  return new Rejection(401, "ai_failover_unauthenticated", "ai-failover gateway: missing or unknown API key; use a key issued by this gateway " +
    "(send it as Authorization: Bearer or api-key)", INVALID, "invalid_api_key").counted("unauthenticated");
}

export function unknownApi(method: string, path: string): Rejection {
  const q = path.indexOf("?");
  return new Rejection(404, "ai_failover_unknown_api", "ai-failover serves the OpenAI and Azure OpenAI inference APIs; " +
    method + " " + (q >= 0 ? path.substring(0, q) : path) + " is not one of them", INVALID, "unknown_api");
}

/** x-ai-failover-provider named a provider this gateway (or this route's rule) does not have. */
export function unknownPinnedProvider(name: string): Rejection {
  return new Rejection(400, "ai_failover_unknown_provider", "x-ai-failover-provider names no provider of this gateway" +
    (name.length <= 64 ? " (\"" + name + "\")" : ""), INVALID, "unknown_provider").counted("unknown_provider");
}

export function bodyTooLarge(maxBytes: i64): Rejection {
  return new Rejection(413, "ai_failover_body_too_large", "request body exceeds " + maxBytes.toString() +
    " bytes (maxRequestBodyBytes)", INVALID, "request_too_large");
}

export function invalidBody(why: string): Rejection {
  return new Rejection(400, "ai_failover_invalid_body", why, INVALID, "invalid_json");
}

/** A multipart/form-data body the gateway will not guess at (plugin/request/forms.ts says why). */
export function invalidForm(why: string): Rejection {
  return new Rejection(400, "ai_failover_invalid_form", why, INVALID, "invalid_multipart").counted("invalid_multipart");
}

export function streamingDisabled(): Rejection {
  return new Rejection(400, "ai_failover_streaming_disabled", "streaming is disabled by this gateway's policy (streaming.allow: false); " +
    "send the request without \"stream\": true", INVALID, "streaming_not_allowed");
}

export function modelNotAllowed(c: ConsumerConfig, model: string): Rejection {
  return new Rejection(403, "ai_failover_model_not_allowed", "consumer " + c.name + " may not use model \"" + model + "\"",
    INVALID, "model_not_allowed").counted("model_not_allowed");
}

// ---- Batches (plugin/request/batches.ts)

/** A batch input file line the gateway cannot read; `line` 1-based (0: the form itself). */
export function invalidBatchFile(line: i32, why: string): Rejection {
  return new Rejection(400, "ai_failover_invalid_batch_file", "batch input file refused: " + (line > 0 ? "line " + line.toString() + ": " : "") + why,
    INVALID, "invalid_batch_file").counted("invalid_batch_file");
}

/** A batch input file line whose model the consumer may not use. */
export function batchModelNotAllowed(c: ConsumerConfig, line: i32, model: string): Rejection {
  return new Rejection(403, "ai_failover_model_not_allowed", "batch input file refused: line " + line.toString() + ": consumer " + c.name +
    " may not use model \"" + (model.length <= 256 ? model : model.substring(0, 256)) + "\"", INVALID, "model_not_allowed").counted("model_not_allowed");
}

/** A batch whose input file the gateway has no verdict for (not uploaded through it as purpose=batch, or forgotten). */
export function batchFileNotChecked(id: string): Rejection {
  return new Rejection(400, "ai_failover_batch_file_not_checked", "input_file_id " + (id.length <= 128 ? "'" + id + "' " : "") +
    "was not checked by this gateway: upload the batch input file through the gateway (POST /v1/files, purpose=batch) with the same key, " +
    "then create the batch with the id it answers", INVALID, "batch_file_not_checked").counted("batch_file_not_checked");
}

/** A batch whose token bound is larger than the consumer's whole per-minute budget: it can never run. */
export function batchExceedsBudget(c: ConsumerConfig, bound: i64): Rejection {
  return new Rejection(403, "ai_failover_batch_exceeds_budget", "this batch may use up to " + bound.toString() + " tokens, more than consumer " +
    c.name + "'s budget of " + c.tokensPerMinute.toString() + " tokens per minute; split the input file", INVALID, "batch_exceeds_budget")
    .counted("consumer_budget");
}

/** A batch whose token bound is more than the consumer has left in its window now. */
export function batchInsufficientBudget(c: ConsumerConfig, bound: i64, left: i64, waitMs: i64): Rejection {
  const waitS = (waitMs + 999) / 1000;
  const shown = waitS < 1 ? 1 : waitS;
  return new Rejection(429, "ai_failover_consumer_budget", "this batch may use up to " + bound.toString() + " tokens; consumer " + c.name +
    " has " + left.toString() + " tokens left of its " + c.tokensPerMinute.toString() + " per minute; retry after " + shown.toString() + " s",
    RATE, "insufficient_budget").counted("consumer_budget").retryAfter(shown);
}

/** What a provider answers another organisation for an object it does not show it (OpenAI's shape). */
export function objectNotFound(id: string): Rejection {
  return new Rejection(404, "ai_failover_object_not_found", (id.length <= 128 ? "No object found with id '" + id + "'." : "No object found with that id."), INVALID, "not_found")
    .counted("object_not_found");
}

export function listNotAllowed(): Rejection {
  return new Rejection(403, "ai_failover_list_not_allowed", "listing stored objects is not available to consumers of this gateway " +
    "(the provider lists every consumer's); keep the ids your requests created", INVALID, "list_not_allowed").counted("list_not_allowed");
}

export function modelMismatch(): Rejection {
  return new Rejection(400, "ai_failover_model_mismatch", "the body's \"model\" must be the model named in x-ai-model (or the path), " +
    "which this consumer's allow-list was checked against", INVALID, "model_mismatch");
}

export function unsupportedTrailers(): Rejection {
  return new Rejection(400, "ai_failover_trailers", "request trailers are not supported by this gateway; send the body without trailers",
    INVALID, "unsupported_trailers");
}

/**
 * The last provider rejected the gateway's own credential for it (401/403). Its body is not
 * passed on: it can quote part of that key, and it would tell the client its own key was wrong.
 */
export function upstreamCredentialRejected(provider: string, status: i32): Rejection {
  const r = new Rejection(502, "ai_failover_upstream_credential", "provider " + provider + " rejected the gateway's credential for it (status " +
    status.toString() + "); the gateway's configuration needs a working key for that provider — the key you sent was not the problem",
    "server_error", "upstream_credential_rejected");
  r.extra = ["x-ai-failover-upstream-status", status.toString()];
  return r;
}

export function upstreamReset(): Rejection {
  return new Rejection(503, "ai_failover_upstream_reset", "the upstream connection was reset and no other provider could take the request",
    "server_error", "upstream_reset");
}

/** A failover attempt's answer larger than retry.maxAnswerBytes. */
export function upstreamAnswerTooLarge(provider: string, size: u32, limit: i64): Rejection {
  return new Rejection(502, "ai_failover_answer_too_large", "provider " + provider + " answered with " + size.toString() +
    " bytes, more than retry.maxAnswerBytes (" + limit.toString() + ") allows for an answer delivered after a failover",
    "server_error", "upstream_answer_too_large").counted("answer_too_large");
}

/** The names of `p`'s identities, added to `out` once each. */
function identitiesOf(p: ProviderConfig, out: string[]): void {
  const n = p.credentials.length > 0 ? p.credentials.length : 1;
  for (let k = 0; k < n; k++) {
    const id = p.credentialAt(k).identity;
    if (id !== null && !out.includes(id.name)) out.push(id.name);
  }
}

/**
 * No provider serving the model has a usable token: the gateway's identity cannot get one (its
 * token request fails) or is renewing it. Not the client's rate: 503, naming the identities.
 */
export function noToken(identities: string[], waitS: i64): Rejection {
  return new Rejection(503, "ai_failover_no_token", "no provider serving this model has a usable Entra token: identity " + identities.join(", ") +
    " (its token request fails, or a new token is being fetched; the gateway's logs say why); retry after " + waitS.toString() + " s",
    "server_error", "identity_token_unavailable").counted("no_token").retryAfter(waitS);
}

/** "300 tokens", or "unlimited tokens" for a limit that is not set (0). */
function perMinute(limit: i64, what: string): string {
  return (limit > 0 ? limit.toString() : "unlimited") + " " + what;
}

/** A consumer over its budget; `waitMs` (≥ 0) until its window frees up. */
export function overBudget(c: ConsumerConfig, need: i64, waitMs: i64): Rejection {
  const waitS = (waitMs + 999) / 1000;
  const shown = waitS < 1 ? 1 : waitS;
  const tooBig = c.tokensPerMinute > 0 && need > c.tokensPerMinute;
  return new Rejection(429, "ai_failover_consumer_budget", tooBig
    ? "this request (" + need.toString() + " tokens estimated) is larger than consumer " + c.name + "'s budget of " + c.tokensPerMinute.toString() + " tokens per minute"
    : "consumer " + c.name + " is over its budget (" + perMinute(c.tokensPerMinute, "tokens") + ", " + perMinute(c.requestsPerMinute, "requests") +
      " per minute); retry after " + shown.toString() + " s",
    RATE, "consumer_rate_limit_exceeded").counted("consumer_budget").retryAfter(shown);
}

/**
 * No provider can take a request for `model` needing `need` tokens: why, and when to come back
 * (the earliest moment any provider serving the model frees up).
 */
export function noProvider(cfg: Config, providers: ProviderConfig[], model: string, need: i64, headerOnly: bool, why: NoChoice,
  states: ProviderState[], now: i64): Rejection {
  if (why == NoChoice.UnknownModel) {
    const m = model.length > 0 ? "model \"" + model + "\" is not served by any provider of this gateway"
      : "the request names no model (set \"model\" in the body" + (headerOnly ? " or the x-ai-model header" : "") + ")";
    return new Rejection(model.length > 0 ? 404 : 400, "ai_failover_unknown_model", m, INVALID, "model_not_found").counted("unknown_model");
  }
  let earliest: i64 = i64.MAX_VALUE;
  let cooling = 0;
  let unhealthy = 0;
  let serving = 0;
  // Providers out only for want of a token (an identity's request fails, or its token is being renewed).
  let tokenless = 0;
  const identities: string[] = [];
  for (let i = 0; i < providers.length && i < states.length; i++) {
    const p = unchecked(providers[i]);
    if (!p.serves(model)) continue;
    serving++;
    const s = unchecked(states[i]);
    let at: i64;
    if (s.noCredential && s.healthy && !s.credentialBad) {
      tokenless++;
      identitiesOf(p, identities);
      // A token request is retried within a second or two (plugin/credentials/tokens.ts).
      at = s.cooldownUntilMs > now ? s.cooldownUntilMs : now + 1000;
    } else if (!s.healthy || s.credentialBad || s.noCredential) {
      unhealthy++;
      at = s.cooldownUntilMs > now ? s.cooldownUntilMs : now + cfg.healthCheck.intervalMs;
    } else if (s.cooldownUntilMs > now || s.deploymentCooldownUntilMs > now) {
      cooling++;
      at = s.cooldownUntilMs > s.deploymentCooldownUntilMs ? s.cooldownUntilMs : s.deploymentCooldownUntilMs;
    } else {
      // Available but without capacity: its window frees up.
      at = windowResetAt(s, p.limits);
      if (at <= now) at = now + 1000;
      // Its model's (deployment's) own window is the one that is full (plugin/capacity/model_records.ts).
      if (s.deploymentWindowResetMs > at) at = s.deploymentWindowResetMs;
    }
    if (at < earliest) earliest = at;
  }
  let waitS: i64 = earliest == i64.MAX_VALUE ? 1 : (earliest - now + 999) / 1000;
  if (waitS < 1) waitS = 1;
  const metric = why == NoChoice.NoCapacity ? "no_capacity" : "no_provider_available";
  // Larger than every serving provider's whole window: waiting will not help.
  let tooLarge = why == NoChoice.NoCapacity;
  for (let i = 0; tooLarge && i < providers.length; i++) {
    const p = unchecked(providers[i]);
    if (!p.serves(model) || (p.limits.tokensPerMinute > 0 && need > p.limits.tokensPerMinute)) continue;
    const d = p.hasDeploymentLimits ? p.deploymentLimitsFor(model).tokensPerMinute : 0;
    if (d == 0 || need <= d) tooLarge = false;
  }
  if (tooLarge) {
    return new Rejection(429, "ai_failover_request_too_large", "this request (" + need.toString() +
      " tokens estimated: prompt + max output tokens) is larger than any provider's token window; lower max_tokens or the prompt",
      RATE, "request_exceeds_capacity").counted(metric).retryAfter(waitS);
  }
  if (why != NoChoice.NoCapacity && tokenless > 0 && tokenless == serving) return noToken(identities, waitS);
  let msg: string;
  if (why == NoChoice.NoCapacity) msg = "no provider has capacity for this request right now";
  else if (tokenless > 0) {
    msg = "no provider serving this model is available (" + unhealthy.toString() + " unhealthy, " + cooling.toString() + " cooling down, " +
      tokenless.toString() + " without a usable token of identity " + identities.join(", ") + ")";
  } else if (unhealthy > 0 && cooling == 0) msg = "every provider serving this model is unhealthy";
  else if (cooling > 0 && unhealthy == 0) msg = "every provider serving this model is cooling down after rate limiting";
  else msg = "no provider serving this model is available (" + unhealthy.toString() + " unhealthy, " + cooling.toString() + " cooling down)";
  return new Rejection(429, "ai_failover_no_provider", msg + "; retry after " + waitS.toString() + " s", RATE, "no_provider_available")
    .counted(metric).retryAfter(waitS);
}
