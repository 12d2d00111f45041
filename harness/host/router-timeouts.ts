/**
 * The timeouts Envoy's router applies to a request it routes: the route's (or an http_call's)
 * whole timeout, overridden by x-envoy-upstream-rq-timeout-ms, and the per-try timeout from
 * x-envoy-upstream-rq-per-try-timeout-ms — dropped when not shorter than a non-zero whole timeout
 * (router.cc FilterUtility::finalTimeout). The router consumes both headers and sends
 * x-envoy-expected-rq-timeout-ms: the per-try timeout when there is one, else the whole one
 * (FilterUtility::setTimeoutHeaders). Non-numeric values are ignored (absl::SimpleAtoi).
 *
 * The in-band router (harness/gateway/exchange.ts) and proxy_http_call (http-callout.ts: Envoy's
 * async client runs the same router filter on the call's headers) both use it.
 */
import type { HeaderList } from "./types.ts";

export interface RouterTimeouts {
  /** Whole timeout, ms (0: none). */
  globalMs: number;
  /** Per-try timeout, ms (0: none); applies only until the response started. */
  perTryMs: number;
  /** What x-envoy-expected-rq-timeout-ms says (0: not sent). */
  expectedMs: number;
}

function headerMs(headers: HeaderList, name: string): number | undefined {
  for (const [k, v] of headers) {
    if (k !== name) continue;
    return /^\d{1,18}$/.test(v) ? Number(v) : undefined;
  }
  return undefined;
}

export function routerTimeouts(headers: HeaderList, routeTimeoutMs: number, routePerTryMs = 0): RouterTimeouts {
  const globalMs = headerMs(headers, "x-envoy-upstream-rq-timeout-ms") ?? routeTimeoutMs;
  let perTryMs = headerMs(headers, "x-envoy-upstream-rq-per-try-timeout-ms") ?? routePerTryMs;
  if (perTryMs >= globalMs && globalMs !== 0) perTryMs = 0;
  return { globalMs, perTryMs, expectedMs: perTryMs > 0 ? perTryMs : globalMs };
}

/** The router's own headers, which never reach the upstream. */
export const ROUTER_TIMEOUT_HEADERS = new Set([
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-expected-rq-timeout-ms",
]);
