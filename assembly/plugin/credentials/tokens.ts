// Microsoft Entra tokens for the providers configured with an identity (config/identities.ts).
//
// One record per identity in shared data, so every worker uses the same token: written by the
// worker holding the token lease (one fetch per refresh per identity, not per worker or
// request), read by every worker for each request to a provider of that identity.
//   - A token is fetched with http_call on the identity's cluster. Its lifetime is what the
//     answer says (`expires_in` seconds, else `expires_on`, an epoch in seconds — or in
//     milliseconds when it is that large), believed up to MAX_LIFETIME_MS (24 h): a lifetime of
//     10^15 s or an `expires_on` in ms must not keep a token past its real expiry.
//   - Refreshed as MSAL does (AzureAD/microsoft-authentication-library-for-python
//     msal/managed_identity.py, msal/token_cache.py): at `refresh_in` when the answer gives it,
//     else at half the lifetime for a token of 2 h or more (an IMDS token lives ~24 h: half of it
//     leaves hours for an identity-endpoint outage), else min(5 min, half its lifetime) before
//     expiry (MSAL treats a token with under 5 min left as expired). Never used within
//     min(30 s, a tenth of its lifetime) of expiry. Failures back off 1 s … 30 s; the old token
//     serves while still valid.
//   - A provider whose identity has no usable token is unavailable: never sent an empty or
//     stale token.
//   - A 401 with a token sets that token (its generation) aside, and the worker that got it asks
//     for a new one at once; the request waits for it (plan/decide.ts) and is retried once with
//     it. A 401 to the token fetched after such a refresh, from any provider before the one that
//     rejected the old token accepted the new one, means the identity has no access to that
//     provider: its credential is then bad like a rejected key; the token stays in use for the
//     identity's other providers and is renewed again later (1 s, doubling to 5 min), and no
//     health check sends a token the provider already rejected.
//   - A failed token request is logged with its `error` and `error_codes` (AADSTS numbers).

import { IdentityConfig } from "../../config/model";
import { BufferType, getBuffer, getShared, MapType, nowMs, Result } from "../../host/calls";
import { RequestTimers, Timer, TimerOwner } from "../timers";
import { readAnswerHeaders } from "../../host/answer";
import { CalloutHandler, Callouts } from "../../host/callouts";
import { acquireLease } from "../../host/lease";
import { enabled, Level, log } from "../../host/log";
import { randomU64 } from "../../host/wasi";
import { findValue, stringAt } from "../../lib/json_fields";
import { Metrics } from "../metrics";
import { ERROR, ERROR_CODES, TokenAnswer, readTokenAnswer, tokenRequest } from "./token_wire";
import { AcceptOp, FLAG_AFTER_REJECT, FLAG_REFRESH, FetchFailedOp, RejectOp, StartFetchOp, StoreTokenOp, TokenRecord, TokenRejection, providerKey, tokenKey, update } from "./token_record";

class Fetch extends CalloutHandler {
  constructor(public tokens: Tokens, public index: i32) { super(); }
  contextId(): u32 {
    return 0;
  }
  onAnswer(headers: u32, bodySize: u32, _trailers: u32): void {
    this.tokens.answered(this.index, headers, bodySize);
  }
}

/** A token for one request: its value and generation (to report a 401 against). */
export class TokenUse {
  constructor(public token: string, public generation: u32) {}
}

/** A request of this VM waiting for an identity's token to be renewed (its retry timer is hurried when it is). */
class Waiter {
  constructor(public index: i32, public generation: u32, public owner: TimerOwner, public untilMs: i64) {}
}

/** At most this many requests of a VM wait for renewals (more simply wait out their timer). */
const MAX_WAITERS: i32 = 1024;

/**
 * The identities of the current configuration: their tokens for requests (every worker) and
 * their refreshes (the worker holding the token lease).
 */
export class Tokens {
  private identities: IdentityConfig[] = [];
  private keys: string[] = [];
  private owner: u64 = 0;
  /** The last record read per identity, to skip decoding an unchanged value. */
  private cachedCas: u32[] = [];
  private cached: TokenRecord[] = [];
  private waiters: Map<u32, Waiter> = new Map();

  constructor(private callouts: Callouts, private metrics: Metrics, private timers: RequestTimers) {}

  configure(identities: IdentityConfig[]): void {
    this.identities = identities;
    this.keys = [];
    this.cachedCas = [];
    this.cached = [];
    this.waiters = new Map();
    for (let i = 0; i < identities.length; i++) {
      this.keys.push(tokenKey(unchecked(identities[i])));
      this.cachedCas.push(0);
      this.cached.push(new TokenRecord());
    }
    this.owner = randomU64();
  }

  private indexOf(id: IdentityConfig): i32 {
    for (let i = 0; i < this.identities.length; i++) if (unchecked(this.identities[i]) === id) return i;
    for (let i = 0; i < this.identities.length; i++) if (unchecked(this.identities[i]).fingerprint == id.fingerprint) return i;
    return -1;
  }

  private read(i: i32): TokenRecord {
    const v = getShared(unchecked(this.keys[i]));
    if (v.result != Result.Ok) return new TokenRecord();
    if (v.cas != 0 && v.cas == unchecked(this.cachedCas[i])) return unchecked(this.cached[i]);
    const r = TokenRecord.decode(v.value);
    unchecked((this.cachedCas[i] = v.cas));
    unchecked((this.cached[i] = r));
    return r;
  }

  /** The usable token of `id` now, or null (the provider is then unavailable). */
  current(id: IdentityConfig, now: i64): TokenUse | null {
    const i = this.indexOf(id);
    if (i < 0) return null;
    const r = this.read(i);
    return r.usable(now) ? new TokenUse(r.token, r.generation) : null;
  }

  /** Has `id` a usable token now? */
  usable(id: IdentityConfig, now: i64): bool {
    const i = this.indexOf(id);
    return i >= 0 && this.read(i).usable(now);
  }

  /**
   * A provider answered 401/403 to `id`'s token of `generation`. The first such answer sets the
   * token aside and this VM asks for a new one at once (a fetch in flight elsewhere is not doubled:
   * StartFetchOp); a 401 to a token renewed after one is "no access" (see the top of this file).
   */
  rejected(id: IdentityConfig, generation: u32, provider: string, status: i32): TokenRejection {
    const i = this.indexOf(id);
    if (i < 0) return TokenRejection.NoAccess;
    const now = nowMs();
    const op = new RejectOp(generation, providerKey(provider), now);
    update(unchecked(this.keys[i]), op);
    if (op.verdict == TokenRejection.Refreshing && op.first) {
      log(Level.Warn, "ai-failover: provider " + provider + " rejected the token of identity " + id.name + " (status " + status.toString() +
        "): a new token is fetched, and the request retried with it, before the provider is judged");
      this.fetch(i, now);
    } else if (op.noted) {
      log(Level.Warn, "ai-failover: provider " + provider + " rejected the renewed token of identity " + id.name + " too (status " +
        status.toString() + "): the identity has no access to it (a missing role assignment?); the token stays in use for the identity's " +
        "other providers" + (op.renewInMs > 0 ? ", and a new one is tried in " + op.renewInMs.toString() + " ms" : ""));
    }
    return op.verdict;
  }

  /** A provider answered with success to `id`'s token of `generation` (cheap: the cached record, a write only when it clears a suspicion). */
  accepted(id: IdentityConfig, generation: u32, provider: string): void {
    const i = this.indexOf(id);
    if (i < 0) return;
    const r = unchecked(this.cached[i]);
    const by = providerKey(provider);
    if (r.generation != generation || (r.flags & FLAG_AFTER_REJECT) == 0 || r.rejectedBy != by) return;
    update(unchecked(this.keys[i]), new AcceptOp(generation, by));
  }

  /** Did `provider` already refuse `id`'s token of `generation` ("no access")? A health check does not send it again. */
  refusedBy(id: IdentityConfig, generation: u32, provider: string): bool {
    const i = this.indexOf(id);
    if (i < 0) return false;
    const r = this.read(i);
    return r.generation == generation && r.noAccessGeneration == generation && r.noAccessBy == providerKey(provider);
  }

  /**
   * The request of `owner` waits (its retry timer, until `untilMs` at most) for `id`'s token of
   * `generation` to be replaced: its timer is hurried when the new token, or the failure, is known.
   */
  waitFor(id: IdentityConfig, generation: u32, owner: TimerOwner, untilMs: i64): void {
    const i = this.indexOf(id);
    if (i < 0 || this.waiters.size >= MAX_WAITERS) return;
    this.waiters.set(owner.contextId(), new Waiter(i, generation, owner, untilMs));
  }

  /** Each timer tick (and after this VM's own fetch): hurries the requests whose token is renewed or failed. */
  wake(now: i64): void {
    if (this.waiters.size == 0) return;
    const ids = this.waiters.keys();
    for (let k = 0; k < ids.length; k++) {
      const ctx = unchecked(ids[k]);
      const w = this.waiters.get(ctx);
      const done = w.index >= this.keys.length || now >= w.untilMs;
      let ready = false;
      if (!done) {
        const r = this.read(w.index);
        // Renewed, or the fetch failed and backs off (no new token soon).
        ready = r.generation != w.generation || (now >= r.inFlightUntilMs && r.nextTryAtMs > now && r.failures > 0);
      }
      if (done || ready) {
        this.waiters.delete(ctx);
        if (ready) this.timers.hurry(ctx, Timer.Retry, now);
      }
    }
  }

  /** One tick: the lease holder fetches what is due. */
  tick(now: i64, leaseKey: string, ttlMs: i64): void {
    if (this.identities.length == 0) return;
    if (!acquireLease(leaseKey, this.owner, now, ttlMs)) return;
    for (let i = 0; i < this.identities.length; i++) {
      const r = this.read(i);
      if (now < r.inFlightUntilMs) continue;
      const wanted = r.token.length == 0 || now >= r.refreshAtMs || (r.flags & FLAG_REFRESH) != 0 || !r.usable(now);
      if (!wanted || now < r.nextTryAtMs) continue;
      this.fetch(i, now);
    }
  }

  private fetch(i: i32, now: i64): void {
    const id = unchecked(this.identities[i]);
    const key = unchecked(this.keys[i]);
    if (update(key, new StartFetchOp(now, now + id.timeoutMs + 1000)) === null) return;
    const call = tokenRequest(id);
    const r = this.callouts.send(id.cluster, call.headers, call.body, <u32>id.timeoutMs, new Fetch(this, i));
    if (r != Result.Ok) {
      const why = r == Result.BadArgument ? "cluster " + id.cluster + " is not defined in Envoy" : "cluster " + id.cluster + " has no healthy host";
      this.failed(i, now, why);
      return;
    }
    if (enabled(Level.Debug)) log(Level.Debug, "ai-failover: identity " + id.name + ": token requested from " + id.host + id.path);
  }

  answered(i: i32, headers: u32, bodySize: u32): void {
    if (i >= this.identities.length) return;
    const now = nowMs();
    const id = unchecked(this.identities[i]);
    const h = headers > 0 ? readAnswerHeaders(MapType.HttpCallResponseHeaders) : null;
    const status = h !== null ? h.status : 0;
    if (status != 200) {
      this.failed(i, now, status == 0 ? "no answer (connection failed or timed out after " + id.timeoutMs.toString() + " ms)"
        : "status " + status.toString() + errorCode(bodySize));
      return;
    }
    const raw = bodySize > 0 && bodySize <= 65536 ? getBuffer(BufferType.HttpCallResponseBody, 0, bodySize) : null;
    const a = raw !== null ? readTokenAnswer(Uint8Array.wrap(raw), now) : new TokenAnswer();
    if (a.token.length == 0 || a.lifetimeMs <= 0) {
      this.failed(i, now, "the answer carries no usable access_token and expiry");
      return;
    }
    const w = update(unchecked(this.keys[i]), new StoreTokenOp(a.token, now, a.lifetimeMs, a.refreshInMs));
    this.metrics.tokenFetch(id.name, "ok");
    if (a.claimedMs > a.lifetimeMs) {
      log(Level.Warn, "ai-failover: identity " + id.name + ": the token answer's " + a.source + " says it is valid " + (a.claimedMs / 1000).toString() +
        " s; it is believed " + (a.lifetimeMs / 1000).toString() + " s at most (refreshed before then)");
    }
    if (enabled(Level.Info)) {
      log(Level.Info, "ai-failover: identity " + id.name + ": token obtained, valid " + (a.lifetimeMs / 1000).toString() + " s, refreshed in " +
        (w !== null ? ((w.refreshAtMs - now) / 1000).toString() + " s (generation " + w.generation.toString() + ")" : "?"));
    }
    this.wake(now);
  }

  private failed(i: i32, now: i64, why: string): void {
    const id = unchecked(this.identities[i]);
    const op = new FetchFailedOp(now);
    const r = update(unchecked(this.keys[i]), op);
    this.metrics.tokenFetch(id.name, "failed");
    const still = r !== null && r.usable(now);
    log(Level.Warn, "ai-failover: identity " + id.name + ": token request to " + id.host + id.path + " via cluster " + id.cluster +
      " failed: " + why + "; next try in " + op.backoff.toString() + " ms" +
      (still ? " (the current token serves until it expires)" : " (its providers are unavailable until a token arrives)"));
    this.wake(now);
  }
}

/**
 * An Entra error answer's `error` and `error_codes`, e.g. " (invalid_client, AADSTS7000215)" —
 * the AADSTS numbers tell an invalid, an expired and an unknown secret apart — never its
 * description (it may quote ids).
 */
function errorCode(bodySize: u32): string {
  if (bodySize == 0 || bodySize > 65536) return "";
  const raw = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
  if (raw === null) return "";
  return errorSummary(Uint8Array.wrap(raw));
}

/** " (error, AADSTS…, …)" of a token endpoint's error answer ("" when it has neither). */
function errorSummary(b: Uint8Array): string {
  const parts: string[] = [];
  const e = stringAt(b, findValue(b, ERROR), 64, true);
  if (e !== null) parts.push(e);
  // "error_codes": [7000215, …]: up to four numbers.
  let p = findValue(b, ERROR_CODES);
  if (p >= 0 && unchecked(b[p]) == 0x5b) {
    p++;
    for (let n = 0; n < 4 && p < b.length; n++) {
      while (p < b.length && (unchecked(b[p]) == 0x20 || unchecked(b[p]) == 0x2c || unchecked(b[p]) == 0x0a || unchecked(b[p]) == 0x0d || unchecked(b[p]) == 0x09)) p++;
      const start = p;
      while (p < b.length && p - start < 10 && unchecked(b[p]) >= 0x30 && unchecked(b[p]) <= 0x39) p++;
      if (p == start) break;
      parts.push("AADSTS" + String.UTF8.decodeUnsafe(b.dataStart + start, p - start));
    }
  }
  return parts.length > 0 ? " (" + parts.join(", ") + ")" : "";
}
