// The next attempt of a request: which provider (the owner of its objects, the client's pin, or
// the choice over the providers' states), its reservation, its credential and its planned
// upstream request.

import { fnv1a64 } from "../../lib/hash";
import { ConsumerConfig } from "../../config/model";
import { contextFallbackModel, nextFallbackModel } from "../../plan/fallback";
import { enabled, Level, log } from "../../host/log";
import { logSafe } from "./access_log";
import { listNotAllowed, noProvider, objectNotFound } from "../../plan/rejection";
import { upstreamRequest } from "../../plan/upstream";
import { ApiKind } from "../../provider/api";
import { NoChoice } from "../../select/selector";
import { IdCapture, knownNotHeld, ownerEntry, providerHash, rememberNotHeld, tenantTag } from "../affinity";
import { Attempt } from "./attempt";
import { clusterUnavailable, mayWait, parkForLease } from "./cluster_wait";
import { PoolKind } from "../cluster/limiter";
import { capturesIds, isMultipart, storesNothing } from "./forms";
import { peerLevel, pickProvider } from "../capacity/pick";
import { Phase } from "./phase";
import { RequestState } from "./state";
import { reject } from "./response";
import { loadStates } from "../views";
import { credentialFor, simpleAuth, usableCredential } from "../credentials/choice";
import { ProviderState } from "../../health/state";

/** x-ai-failover-provider: this provider only, never failed over. False when the view has none of that name. */
export function pinTo(r: RequestState, name: string): bool {
  const view = r.view!;
  const n = view.providers.length;
  const mask = new Array<bool>(n);
  let any = false;
  for (let k = 0; k < n; k++) {
    const own = unchecked(view.providers[k]).name == name;
    unchecked((mask[k] = !own));
    if (own) any = true;
  }
  if (!any) return false;
  r.pinned = true;
  r.notOwner = mask;
  return true;
}

/**
 * The provider holding the request's objects (the first one the owner table knows): the request
 * is pinned to it. None known: the request may look for it (plugin/affinity.ts), skipping the
 * providers that lately said they do not hold it. With consumers, an object another consumer
 * created is answered 404, as the provider answers another organisation (issue 20). False when
 * the client was answered.
 */
export function findOwner(r: RequestState, now: i64): bool {
  const view = r.view!;
  const n = view.providers.length;
  const tenant = requestTenant(r);
  for (let i = 0; i < r.referenced.length; i++) {
    const id = unchecked(r.referenced[i]);
    const entry = ownerEntry(id, now);
    const owner = <u32>entry;
    if (owner == 0) continue;
    const creator = <u32>(entry >> 32);
    if (tenant != 0 && creator != tenant) {
      reject(r, objectNotFound(id));
      return false;
    }
    if (r.pinned) continue; // the client's pin wins over the table; only other consumers' ids are refused
    const mask = new Array<bool>(n);
    let any = false;
    for (let k = 0; k < n; k++) {
      const own = providerHash(unchecked(view.providers[k]).name) == owner;
      unchecked((mask[k] = !own));
      if (own) any = true;
    }
    if (!any) continue; // recorded for a provider this view does not have
    r.pinned = true;
    r.notOwner = mask;
    return true;
  }
  if (r.pinned) return true;
  // Unknown ids: providers that said lately they hold none of them are skipped; all of them said so: 404.
  const mask = new Array<bool>(n);
  let left = 0;
  for (let k = 0; k < n; k++) {
    const p = providerHash(unchecked(view.providers[k]).name);
    let skip = r.referenced.length > 0;
    for (let i = 0; i < r.referenced.length && skip; i++) if (!knownNotHeld(unchecked(r.referenced[i]), p, now)) skip = false;
    unchecked((mask[k] = skip));
    if (!skip) left++;
  }
  if (left == 0 && n > 0) {
    reject(r, objectNotFound(unchecked(r.referenced[0])));
    return false;
  }
  if (left < n) r.notOwner = mask;
  r.discovering = true;
  return true;
}

/** The consumer tag the request's objects are recorded under (0: no consumer). */
export function requestTenant(r: RequestState): u32 {
  const c = consumerOf(r);
  return c !== null ? tenantTag(c.name) : 0;
}

/**
 * With consumers, listing stored objects (GET /v1/files, /v1/batches, /v1/conversations) is
 * refused: the providers list every object made under the gateway's credential, every
 * consumer's (issue 20). False when the client was answered.
 */
export function tenantMayList(r: RequestState): bool {
  if (r.consumer < 0 || r.method != "GET" || r.api.objectId.length > 0) return true;
  const k = r.api.kind;
  if (k != ApiKind.Files && k != ApiKind.Batches && k != ApiKind.Conversations) return true;
  reject(r, listNotAllowed());
  return false;
}

/** A discovering request found nothing at attempt `a`'s provider: remember it for its ids. */
export function notHeldAt(r: RequestState, a: Attempt, now: i64): void {
  if (!r.discovering) return;
  const p = providerHash(a.provider.name);
  for (let i = 0; i < r.referenced.length; i++) rememberNotHeld(unchecked(r.referenced[i]), p, now);
}

/** The providers this request may not go to: those that do not serve its model, and all but the owner when pinned (null: none). */
function skipMask(r: RequestState, now: i64): bool[] | null {
  let skip = r.svc.modelsOut.mask(r.view!, r.model, now);
  const notOwner = r.notOwner;
  if (notOwner !== null) {
    if (skip === null) skip = notOwner;
    else for (let k = 0; k < skip.length; k++) if (unchecked(notOwner[k])) unchecked((skip[k] = true));
  }
  return skip;
}

/**
 * Chooses the next provider, reserves its capacity and plans its request. Null when none can
 * take it (the client is told why if this was to be the first attempt). `only`: that provider
 * and no other (a retry at the same provider; -1: any).
 */
export function newAttempt(r: RequestState, now: i64, only: i32 = -1, quiet: bool = false): Attempt | null {
  const view = r.view!;
  let skip = skipMask(r, now);
  if (only >= 0) {
    const n = view.providers.length;
    const mask = new Array<bool>(n);
    for (let k = 0; k < n; k++) unchecked((mask[k] = k != only || (skip !== null && unchecked(skip[k]))));
    skip = mask;
  }
  const svc = r.svc;
  // A fallback model: the body still names the client's (rewritten per attempt; not in header mode).
  const bodyModel = r.model != r.requestedModel ? r.requestedModel : "";
  const picked = pickProvider(view, r.model, r.api.kind, r.need, r.tried, r.headerOnly, svc.rng, now,
    svc.tokens, skip, svc.cluster, mayWait(r), r.affinityKey, bodyModel);
  if (picked.index < 0) {
    if (picked.leaseFor >= 0) {
      if (parkForLease(r, PoolKind.Provider, unchecked(view.providers[picked.leaseFor]).name, now)) return null;
      // No call could start (the pool is degraded now): choose again under the failure mode.
      return newAttempt(r, now, only, quiet);
    }
    if (only >= 0) return null;
    if (r.attempts == 0 && !picked.clusterClosed && !quiet) {
      // No provider of the model can take it now: its fallbacks (fallbacks), in order.
      while (switchModel(r, fallbackFor(r))) {
        const a = newAttempt(r, now, -1, true);
        if (a !== null || r.phase == Phase.Replied || svc.cluster.parked(r.context_id)) return a;
      }
      // The client hears about the model it asked for.
      r.model = r.requestedModel;
    }
    if (quiet) return null;
    if (r.attempts == 0 && picked.clusterClosed) reject(r, clusterUnavailable());
    else if (r.attempts == 0) reject(r, noProvider(view.config, view.providers, r.model, r.need, r.headerOnly, picked.why, picked.states, now));
    return null;
  }
  const i = picked.index;
  unchecked((r.tried[i] = true));
  const p = unchecked(view.providers[i]);
  const cred = credentialFor(unchecked(view.slots[i]), picked.credential, svc.tokens, now);
  if (cred === null) {
    picked.reservation!.settle(-1, now);
    if (r.attempts == 0 && !quiet) {
      reject(r, noProvider(view.config, view.providers, r.model, r.need, r.headerOnly, NoChoice.AllUnavailable, statesForReply(r, now), now));
    }
    return null;
  }
  const up = upstreamRequest(p, r.api.kind, r.model, r.method, r.body, r.scan, view.config.streaming.includeUsage && p.includeUsage,
    cred.header, cred.value, r.api.subPath, r.api.query);
  if (isMultipart(r.contentType)) up.contentType = r.contentType;
  if (p.upstreamTimeoutMs > 0) up.routeTimeoutMs = p.upstreamTimeoutMs;
  // A stream's headers come at once: a silent provider is left after streaming.firstByteTimeout by default.
  const scan = r.scan;
  up.firstByteMs = view.config.firstByteTimeoutFor(p, scan !== null && scan.stream);
  const a = new Attempt(r.attemptOwner(), view, i, picked.reservation!, up, r.promptEstimate, r.maxTokens);
  a.credential = cred;
  a.tokens = svc.tokens;
  if (r.model.length > 0) {
    a.upstreamModel = p.upstreamModel(r.model);
    a.modelLimits = p.modelLimitsFor(r.model);
  }
  if (capturesIds(r.api.kind, r.method)) {
    // A creating request records the new object's id; any answer of these APIs its reasoning
    // items and files; a request that looked for its objects' owner records what it found.
    const creates = r.method == "POST" && r.api.objectId.length == 0 &&
      !(r.api.kind == ApiKind.Responses && storesNothing(r.scan));
    a.capture = new IdCapture(creates, r.api.kind == ApiKind.Batches);
    if (r.discovering) a.ownedIds = r.referenced;
    a.tenant = requestTenant(r);
  }
  return a;
}

/**
 * The providers' states for the gateway's own "no provider" reply, each marked when none of its
 * credentials is usable now (an identity without a token: plan/rejection.ts noProvider then names
 * the identity).
 */
export function statesForReply(r: RequestState, now: i64): ProviderState[] {
  const view = r.view!;
  const states = loadStates(view.slots);
  for (let i = 0; i < states.length && i < view.providers.length; i++) {
    const slot = unchecked(view.slots[i]);
    const p = unchecked(view.providers[i]);
    const s = unchecked(states[i]);
    if (!simpleAuth(slot, p) && usableCredential(slot, p, s, r.svc.tokens, now) < 0) s.noCredential = true;
  }
  return states;
}

/** Who else could take the request now (plan/decide.ts PEER_*; read, not reserved). */
export function peerOf(r: RequestState, a: Attempt, now: i64): i32 {
  if (r.pinned) return 0;
  const view = r.view!;
  return peerLevel(view, r.model, r.api.kind, r.need, r.tried, r.headerOnly, now, r.svc.tokens, skipMask(r, now),
    a.provider.priority, a.index);
}

/** The affinity key of a header value or a consumer's name (never 0: 0 means none). */
export function affinityKeyOf(v: string): u64 {
  return fnv1a64(v) | 1;
}

function consumerOf(r: RequestState): ConsumerConfig | null {
  return r.consumer >= 0 ? unchecked(r.cfg().consumers[r.consumer]) : null;
}

/** The fallback model for the client's model ("" none; a model already tried never again; the consumer's models list applies). */
export function fallbackFor(r: RequestState): string {
  return nextFallbackModel(r.cfg(), r.requestedModel, r.modelsTried, consumerOf(r));
}

/** The larger-context model for the request's current model ("" none). */
export function contextFallbackFor(r: RequestState): string {
  return contextFallbackModel(r.cfg(), r.model, consumerOf(r), r.modelsTried);
}

/**
 * Moves the request to `model` (a fallback): every provider serving it may take it, one that
 * already failed for the other model included (a per-model fault need not hold for this one).
 * False when it was tried already.
 */
export function switchModel(r: RequestState, model: string): bool {
  if (model.length == 0 || model == r.model || r.modelsTried.includes(model)) return false;
  if (enabled(Level.Info)) log(Level.Info, "ai-failover: model " + logSafe(r.model) + " → fallback " + logSafe(model));
  if (r.modelsTried.length == 0) r.modelsTried = [r.model];
  r.modelsTried.push(model);
  r.model = model;
  if (r.tried.length > 0) r.tried = new Array<bool>(r.view!.providers.length);
  return true;
}

