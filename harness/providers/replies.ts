/**
 * Error replies decided by the mock itself: scripted faults and rate-limit refusals.
 * Pure: returns what to send (status, outcome for the record, body, headers) or what to do
 * to the connection; provider.ts does the sending.
 */
import type { Admission } from "./rate-window.ts";
import * as E from "./error-bodies.ts";
import { goDuration, retryHeaders, windowHeaders } from "./ratelimit-headers.ts";
import type { ApiName, FaultAction, ProviderKind } from "./types.ts";

export interface Reply {
  status: number;
  /** Outcome written to the record. */
  outcome: string;
  body: string;
  headers: Record<string, string>;
}

/**
 * The reply a fault sends instead of the answer; "reset"/"hang" act on the connection;
 * undefined when the fault only alters the normal answer (latency, cutStream, endStream, stallStream, contentFilterOutput).
 * `rl` = the x-ratelimit-* headers of the current window.
 */
export function faultReply(
  kind: ProviderKind,
  f: FaultAction,
  rl: Record<string, string>,
  model: string,
): Reply | "reset" | "hang" | undefined {
  switch (f.type) {
    case "status": {
      const body =
        f.body === undefined ? E.defaultStatusBody(kind, f.status) : typeof f.body === "string" ? f.body : JSON.stringify(f.body);
      return { status: f.status, outcome: "fault:status", body, headers: { ...rl, ...f.headers } };
    }
    case "rateLimit": {
      const ms = f.retryAfterMs ?? 1000;
      const body =
        kind === "azure"
          ? E.azure429Short(Math.max(1, Math.ceil(ms / 1000)))
          : E.openai429(model || "model", "tokens", 0, 0, 0, goDuration(ms));
      // A bare 429: no retry-after and no x-ratelimit-* at all (the gateway must use its default cooldown).
      if (f.noRetryHeaders) return { status: 429, outcome: "fault:rate-limit-bare", body, headers: {} };
      return { status: 429, outcome: "fault:rate-limit", body, headers: { ...rl, ...retryHeaders(ms) } };
    }
    case "insufficientQuota":
      return { status: 429, outcome: "fault:insufficient-quota", body: E.OPENAI_INSUFFICIENT_QUOTA, headers: rl };
    case "contentFilter":
      return {
        status: 400,
        outcome: "fault:content-filter",
        body: kind === "azure" ? E.AZURE_400_CONTENT_FILTER : E.OPENAI_400_CONTENT_POLICY,
        headers: rl,
      };
    case "reset":
      return "reset";
    case "hang":
      return "hang";
    default:
      return undefined;
  }
}

/** The 429 for a request the window refused, with Azure's or OpenAI's body and headers. */
export function rateLimitReply(
  kind: ProviderKind,
  adm: Extract<Admission, { admitted: false }>,
  req: { api: ApiName; apiVersion?: string; modelName: string; reserved: number },
  withWindow = true,
): Reply {
  const { reason, state, retryAfterMs } = adm;
  const headers = { ...(withWindow ? windowHeaders(kind, state) : {}), ...retryHeaders(retryAfterMs) };
  if (kind === "azure") {
    const body = E.azure429(req.api, req.apiVersion ?? "v1", reason, Math.max(1, Math.ceil(retryAfterMs / 1000)));
    const policy = reason === "tokens" ? "DeploymentRatelimit-Token" : "DeploymentRatelimit-Call";
    return { status: 429, outcome: `rate-limited-${reason}`, body, headers: { ...headers, "policy-id": policy } };
  }
  const limit = reason === "tokens" ? state.limitTokens : state.limitRequests;
  const used = limit - (reason === "tokens" ? state.remainingTokens : state.remainingRequests);
  const requested = reason === "tokens" ? req.reserved : 1;
  const body = E.openai429(req.modelName, reason, limit, used, requested, goDuration(retryAfterMs));
  return { status: 429, outcome: `rate-limited-${reason}`, body, headers };
}
