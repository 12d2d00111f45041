// What the client sees of an answer besides its body: the decision headers, the consumer's own
// budget instead of the provider's, and never a provider credential or our routing header.

import { CLUSTER_HEADER } from "../plan/upstream";
import { MapType, removeHeader, replaceHeader } from "../host/calls";
import { Attempt } from "./attempt";
import { ClientRequest } from "./request";

export const PROVIDER_HEADER = "x-ai-failover-provider";
export const ATTEMPTS_HEADER = "x-ai-failover-attempts";

const PROVIDER_RATE_LIMIT_HEADERS: string[] = [
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
  "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
];

/** Appends the consumer's x-ratelimit-remaining-* (as reserved for this request) to `out`. */
export function clientHeaders(r: ClientRequest, out: string[]): void {
  if (r.consumer < 0) return;
  if (r.budgetLeftTokens >= 0) { out.push("x-ratelimit-remaining-tokens"); out.push(r.budgetLeftTokens.toString()); }
  if (r.budgetLeftRequests >= 0) { out.push("x-ratelimit-remaining-requests"); out.push(r.budgetLeftRequests.toString()); }
}

/** Rewrites the in-band response headers for the client. */
export function decorateResponse(r: ClientRequest, a: Attempt): void {
  // A provider's credential or our routing header never reaches the client.
  removeHeader(MapType.ResponseHeaders, "api-key");
  removeHeader(MapType.ResponseHeaders, "authorization");
  removeHeader(MapType.ResponseHeaders, CLUSTER_HEADER);
  replaceHeader(MapType.ResponseHeaders, PROVIDER_HEADER, a.provider.name);
  replaceHeader(MapType.ResponseHeaders, ATTEMPTS_HEADER, r.attempts.toString());
  if (r.consumer >= 0) {
    // The client sees its own budget, not the provider's.
    for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) removeHeader(MapType.ResponseHeaders, unchecked(PROVIDER_RATE_LIMIT_HEADERS[i]));
    const kv: string[] = [];
    clientHeaders(r, kv);
    for (let k = 0; k + 1 < kv.length; k += 2) replaceHeader(MapType.ResponseHeaders, unchecked(kv[k]), unchecked(kv[k + 1]));
  }
}

/** Trailers are headers too: a provider credential echoed there never reaches the client. */
export function stripResponseTrailers(): void {
  removeHeader(MapType.ResponseTrailers, "api-key");
  removeHeader(MapType.ResponseTrailers, "authorization");
  removeHeader(MapType.ResponseTrailers, CLUSTER_HEADER);
}
