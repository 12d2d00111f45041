// What the client sees of an answer besides its body: the decision headers, the consumer's own
// budget instead of the provider's, and never a provider credential or our routing header.

import { AnswerHeaders } from "../plan/answer";
import { Rejection } from "../plan/rejection";
import { CLUSTER_HEADER } from "../plan/upstream";
import { utf8 } from "../lib/bytes";
import { getHeader, MapType, removeHeader, replaceHeader } from "../host/calls";
import { headerEdit, HeaderEdit } from "../host/header_edit";
import { sendError } from "../host/replies";
import { Attempt } from "./attempt";
import { Phase } from "./phase";
import { RequestState } from "./request_state";

export const PROVIDER_HEADER = "x-ai-failover-provider";
/** The model that answered, as the configuration names it: the client's, or a fallback (plan/fallback.ts). */
export const MODEL_HEADER = "x-ai-failover-model";
export const ATTEMPTS_HEADER = "x-ai-failover-attempts";

const PROVIDER_RATE_LIMIT_HEADERS: string[] = [
  "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests",
  "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
];

/** Response headers the client never sees (bits 0–2 of AnswerHeaders.present when read with RESPONSE_WATCH). */
const NEVER_TO_CLIENT: string[] = ["api-key", "authorization", CLUSTER_HEADER];

/**
 * The names the in-band response's headers are read with (host/answer.ts readAnswerHeaders):
 * what decorateResponse removes, so that only what is present is removed.
 */
export const RESPONSE_WATCH: Uint8Array[] = watchList();

function watchList(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < NEVER_TO_CLIENT.length; i++) out.push(utf8(unchecked(NEVER_TO_CLIENT[i])));
  for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) out.push(utf8(unchecked(PROVIDER_RATE_LIMIT_HEADERS[i])));
  return out;
}

/** Appends the consumer's x-ratelimit-remaining-* (as reserved for this request) to `out`. */
export function clientHeaders(r: RequestState, out: string[]): void {
  if (r.consumer < 0) return;
  if (r.budgetLeftTokens >= 0) { out.push("x-ratelimit-remaining-tokens"); out.push(r.budgetLeftTokens.toString()); }
  if (r.budgetLeftRequests >= 0) { out.push("x-ratelimit-remaining-requests"); out.push(r.budgetLeftRequests.toString()); }
}

/**
 * Rewrites the in-band response headers for the client. `h`: those headers as read with
 * RESPONSE_WATCH (what is absent need not be removed). `edit`: collects the changes for one
 * set_header_map_pairs (null: each is its own call).
 */
export function decorateResponse(r: RequestState, a: Attempt, h: AnswerHeaders, edit: HeaderEdit | null = null): void {
  const present = h.present;
  // A provider's credential or our routing header never reaches the client.
  for (let i = 0; i < NEVER_TO_CLIENT.length; i++) {
    if ((present & (<u32>1 << <u32>i)) != 0) drop(edit, unchecked(NEVER_TO_CLIENT[i]));
  }
  put(edit, PROVIDER_HEADER, a.provider.name);
  if (a.model.length > 0) put(edit, MODEL_HEADER, a.model);
  put(edit, ATTEMPTS_HEADER, r.attempts.toString());
  if (r.consumer >= 0) {
    // The client sees its own budget, not the provider's.
    const base = NEVER_TO_CLIENT.length;
    for (let i = 0; i < PROVIDER_RATE_LIMIT_HEADERS.length; i++) {
      if ((present & (<u32>1 << <u32>(base + i))) != 0) drop(edit, unchecked(PROVIDER_RATE_LIMIT_HEADERS[i]));
    }
    const kv: string[] = [];
    clientHeaders(r, kv);
    for (let k = 0; k + 1 < kv.length; k += 2) put(edit, unchecked(kv[k]), unchecked(kv[k + 1]));
  }
}

function drop(edit: HeaderEdit | null, name: string): void {
  if (edit !== null) edit.remove(name);
  else removeHeader(MapType.ResponseHeaders, name);
}

function put(edit: HeaderEdit | null, name: string, value: string): void {
  if (edit !== null) edit.set(name, value);
  else replaceHeader(MapType.ResponseHeaders, name, value);
}

/** Trailers are headers too: a provider credential echoed there never reaches the client. */
export function stripResponseTrailers(): void {
  removeHeader(MapType.ResponseTrailers, "api-key");
  removeHeader(MapType.ResponseTrailers, "authorization");
  removeHeader(MapType.ResponseTrailers, CLUSTER_HEADER);
}

/**
 * An in-band answer goes on to the client. `h`: its headers as read at on_response_headers
 * (null: not known, everything that must not reach the client is removed unconditionally).
 */
export function respond(r: RequestState, a: Attempt, status: i32, h: AnswerHeaders | null): void {
  let read = h;
  if (read === null) {
    read = new AnswerHeaders();
    read.contentType = getHeader(MapType.ResponseHeaders, "content-type");
    read.present = 0xffffffff;
  }
  // With the map as read, every change goes in one set_header_map_pairs (host/header_edit.ts).
  const pairs = read.pairs;
  const edit = pairs !== null ? headerEdit.begin() : null;
  if (a.scan.start(r.api.kind, status, read.contentType, a.upstream.injectedUsage)) {
    if (edit !== null) edit.remove("content-length");
    else removeHeader(MapType.ResponseHeaders, "content-length");
  }
  decorateResponse(r, a, read, edit);
  if (edit !== null) edit.apply(MapType.ResponseHeaders, pairs!);
  if (r.phase != Phase.Replied) r.enter(Phase.Responding);
}

/** The gateway answers itself (OpenAI error shape, the consumer's budget headers). */
export function reject(r: RequestState, e: Rejection): void {
  if (e.metric.length > 0) r.svc.metrics.rejected(e.metric);
  r.enter(Phase.Replied);
  r.status = <i32>e.status;
  const extra = e.extra;
  if (e.retryAfterS >= 0) { extra.push("retry-after"); extra.push(e.retryAfterS.toString()); }
  clientHeaders(r, extra);
  sendError(e.status, e.details, e.message, e.type, e.code, extra);
}
