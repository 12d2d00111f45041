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

import { IdentityConfig, IdentityKind } from "../../config/model";
import { CREATE_CAS, BufferType, getBuffer, getShared, MapType, nowMs, Result, setShared } from "../../host/calls";
import { fnv1a32 } from "../../lib/hash";
import { RequestTimers, Timer, TimerOwner } from "../timers";
import { readAnswerHeaders } from "../../host/answer";
import { CalloutHandler, Callouts } from "../../host/callouts";
import { acquireLease } from "../../host/lease";
import { enabled, Level, log } from "../../host/log";
import { randomU64 } from "../../host/wasi";
import { isHeaderToken } from "../../config/patterns";
import { utf8 } from "../../lib/bytes";
import { findValue, intAt, stringAt } from "../../lib/json_fields";
import { Metrics } from "../metrics";

const KEY_PREFIX = "ai-failover/token/";
const VERSION: u32 = 2;
const HEADER: i32 = 72;
/** Largest token kept (Entra access tokens are 1.5–4 KB). */
const MAX_TOKEN: i32 = 16384;
const FLAG_REFRESH: u32 = 1;
const FLAG_AFTER_REJECT: u32 = 2;

/** The longest a token is believed to live, whatever its answer says. */
export const MAX_LIFETIME_MS: i64 = 86_400_000;
/** Tokens this long or longer are refreshed at half their lifetime (MSAL: expires_in >= 7200). */
export const LONG_TOKEN_MS: i64 = 7_200_000;
/** An `expires_on` this large is in milliseconds (in seconds it would be the year 5138). */
const EPOCH_MS_FROM: i64 = 100_000_000_000;
/** A renewal after "no access" waits 1 s, doubling up to this. */
const NO_ACCESS_RENEWAL_MAX_MS: i64 = 300_000;

/**
 * When a token obtained at `now`, living `lifeMs` (already capped), is refreshed: at `refreshInMs`
 * when the answer gave one (> 0) that falls before it stops being used, else at half its lifetime
 * for a long token, else min(5 min, half its lifetime) before it expires.
 */
export function refreshAt(now: i64, lifeMs: i64, refreshInMs: i64): i64 {
  const skew = lifeMs / 10 < 30000 ? lifeMs / 10 : 30000;
  if (refreshInMs > 0 && refreshInMs < lifeMs - skew) return now + refreshInMs;
  if (lifeMs >= LONG_TOKEN_MS) return now + lifeMs / 2;
  const ahead = lifeMs / 2 < 300000 ? lifeMs / 2 : 300000;
  return now + lifeMs - ahead;
}

/** A provider's name as the token record keeps it (never 0). */
function providerKey(name: string): u32 {
  return fnv1a32(name) | 1;
}

/** One identity's shared record. */
export class TokenRecord {
  generation: u32 = 0;
  /** The token must not be sent from here on. */
  usableUntilMs: i64 = 0;
  /** A refresh is due from here on. */
  refreshAtMs: i64 = 0;
  /** After a failed fetch: no new try before this. */
  nextTryAtMs: i64 = 0;
  /** A fetch is in flight (by the lease holder) until this. */
  inFlightUntilMs: i64 = 0;
  failures: u32 = 0;
  /** Generation a provider answered 401 to (0: none). */
  rejectedGeneration: u32 = 0;
  flags: u32 = 0;
  /** Renewals after "no access" since the last regular refresh (their back-off). */
  renewals: u32 = 0;
  /** The provider whose 401 set the last token aside (providerKey; 0: none): its acceptance clears FLAG_AFTER_REJECT. */
  rejectedBy: u32 = 0;
  /** The last "no access": the token's generation and the provider that refused it. */
  noAccessGeneration: u32 = 0;
  noAccessBy: u32 = 0;
  token: string = "";

  usable(now: i64): bool {
    return this.token.length > 0 && now < this.usableUntilMs && this.rejectedGeneration != this.generation;
  }

  encode(): ArrayBuffer {
    const t = String.UTF8.encode(this.token);
    const buf = new ArrayBuffer(HEADER + t.byteLength);
    const p = changetype<usize>(buf);
    store<u32>(p, VERSION);
    store<u32>(p, this.generation, 4);
    store<i64>(p, this.usableUntilMs, 8);
    store<i64>(p, this.refreshAtMs, 16);
    store<i64>(p, this.nextTryAtMs, 24);
    store<i64>(p, this.inFlightUntilMs, 32);
    store<u32>(p, this.failures, 40);
    store<u32>(p, this.rejectedGeneration, 44);
    store<u32>(p, this.flags, 48);
    store<u32>(p, this.renewals, 52);
    store<u32>(p, this.rejectedBy, 56);
    store<u32>(p, this.noAccessGeneration, 60);
    store<u32>(p, this.noAccessBy, 64);
    store<u32>(p, <u32>t.byteLength, 68);
    memory.copy(p + HEADER, changetype<usize>(t), t.byteLength);
    return buf;
  }

  /** A record from shared data; a fresh (empty) one when absent or unreadable. */
  static decode(buf: ArrayBuffer | null): TokenRecord {
    const r = new TokenRecord();
    if (buf === null || buf.byteLength < HEADER) return r;
    const p = changetype<usize>(buf);
    if (load<u32>(p) != VERSION) return r;
    const n = load<u32>(p, 68);
    if (<i32>n > buf.byteLength - HEADER) return r;
    r.generation = load<u32>(p, 4);
    r.usableUntilMs = load<i64>(p, 8);
    r.refreshAtMs = load<i64>(p, 16);
    r.nextTryAtMs = load<i64>(p, 24);
    r.inFlightUntilMs = load<i64>(p, 32);
    r.failures = load<u32>(p, 40);
    r.rejectedGeneration = load<u32>(p, 44);
    r.flags = load<u32>(p, 48);
    r.renewals = load<u32>(p, 52);
    r.rejectedBy = load<u32>(p, 56);
    r.noAccessGeneration = load<u32>(p, 60);
    r.noAccessBy = load<u32>(p, 64);
    r.token = String.UTF8.decodeUnsafe(p + HEADER, n);
    return r;
  }
}

/** A change to a token record, applied with CAS. */
abstract class TokenOp {
  abstract apply(r: TokenRecord): bool;
}

function update(key: string, op: TokenOp): TokenRecord | null {
  for (let i = 0; i < 32; i++) {
    const v = getShared(key);
    const r = TokenRecord.decode(v.result == Result.Ok ? v.value : null);
    if (!op.apply(r)) return null;
    const w = setShared(key, r.encode(), v.result == Result.Ok ? v.cas : CREATE_CAS);
    if (w == Result.Ok) return r;
    if (w != Result.CasMismatch) return null;
  }
  return null;
}

/** What a 401 with a token means. */
export const enum TokenRejection {
  /** The token is set aside and a new one asked for: the provider stays healthy. */
  Refreshing = 0,
  /** The token fetched after a rejection was rejected too: the identity has no access. */
  NoAccess = 1,
}

class RejectOp extends TokenOp {
  verdict: TokenRejection = TokenRejection.Refreshing;
  /** This 401 set the token aside (the first for its generation). */
  first: bool = false;
  /** This 401 made it "no access" for that provider (the first for its generation and provider). */
  noted: bool = false;
  /** The renewal this "no access" scheduled: in this many ms (0: none, one was already due). */
  renewInMs: i64 = 0;
  constructor(public generation: u32, public by: u32, public now: i64) { super(); }
  apply(r: TokenRecord): bool {
    if (r.generation != this.generation) return false; // a newer token is there already
    if ((r.flags & FLAG_AFTER_REJECT) != 0) {
      // Renewed after a rejection and rejected again before that provider accepted it: this
      // identity has no access to this provider. The token stays in use (other providers of the
      // identity may well accept it); a new one is tried later (a role assignment may come back,
      // the renewed token may have been stale too), never at once.
      this.verdict = TokenRejection.NoAccess;
      if (r.noAccessGeneration == this.generation && r.noAccessBy == this.by) return false;
      this.noted = true;
      r.noAccessGeneration = this.generation;
      r.noAccessBy = this.by;
      if ((r.flags & FLAG_REFRESH) == 0) {
        let wait: i64 = 1000;
        for (let i: u32 = 0; i < r.renewals && wait < NO_ACCESS_RENEWAL_MAX_MS; i++) wait <<= 1;
        if (wait > NO_ACCESS_RENEWAL_MAX_MS) wait = NO_ACCESS_RENEWAL_MAX_MS;
        r.renewals++;
        r.flags |= FLAG_REFRESH;
        r.nextTryAtMs = this.now + wait;
        this.renewInMs = wait;
      }
      return true;
    }
    if (r.rejectedGeneration == this.generation && (r.flags & FLAG_REFRESH) != 0) return false;
    this.first = true;
    r.rejectedGeneration = this.generation;
    r.rejectedBy = this.by;
    r.flags |= FLAG_REFRESH;
    r.nextTryAtMs = 0;
    return true;
  }
}

/** The provider that rejected the last token accepted the new one: a later 401 is a stale token again, not "no access". */
class AcceptOp extends TokenOp {
  constructor(public generation: u32, public by: u32) { super(); }
  apply(r: TokenRecord): bool {
    if (r.generation != this.generation || (r.flags & FLAG_AFTER_REJECT) == 0 || r.rejectedBy != this.by) return false;
    r.flags &= ~FLAG_AFTER_REJECT;
    r.renewals = 0;
    return true;
  }
}

class StartFetchOp extends TokenOp {
  constructor(public now: i64, public until: i64) { super(); }
  apply(r: TokenRecord): bool {
    if (this.now < r.inFlightUntilMs) return false;
    r.inFlightUntilMs = this.until;
    return true;
  }
}

class StoreTokenOp extends TokenOp {
  constructor(public token: string, public now: i64, public lifetimeMs: i64, public refreshInMs: i64) { super(); }
  apply(r: TokenRecord): bool {
    const life = this.lifetimeMs;
    const afterReject = (r.flags & FLAG_REFRESH) != 0;
    r.generation = r.generation + 1 == 0 ? 1 : r.generation + 1;
    r.token = this.token;
    const skew = life / 10 < 30000 ? life / 10 : 30000;
    r.usableUntilMs = this.now + life - skew;
    r.refreshAtMs = refreshAt(this.now, life, this.refreshInMs);
    r.nextTryAtMs = 0;
    r.inFlightUntilMs = 0;
    r.failures = 0;
    r.flags = afterReject ? FLAG_AFTER_REJECT : 0;
    // A regular refresh: nothing is suspected of this identity any more.
    if (!afterReject) {
      r.renewals = 0;
      r.rejectedBy = 0;
    }
    return true;
  }
}

class FetchFailedOp extends TokenOp {
  constructor(public now: i64) { super(); }
  backoff: i64 = 0;
  apply(r: TokenRecord): bool {
    r.failures++;
    let b: i64 = 1000;
    for (let i: u32 = 1; i < r.failures && b < 30000; i++) b <<= 1;
    if (b > 30000) b = 30000;
    this.backoff = b;
    r.nextTryAtMs = this.now + b;
    r.inFlightUntilMs = 0;
    return true;
  }
}

/** A token answer's fields (a small JSON object; scanned, not parsed). */
class TokenAnswer {
  token: string = "";
  /** The lifetime believed (≤ MAX_LIFETIME_MS; ≤ 0: none usable). */
  lifetimeMs: i64 = -1;
  /** The lifetime the answer claims (for the log when it was capped). */
  claimedMs: i64 = -1;
  /** Which field said it: "expires_in", "expires_on" (seconds) or "expires_on (ms)". */
  source: string = "";
  /** `refresh_in` in ms (0: not given). */
  refreshInMs: i64 = 0;
}

const ACCESS_TOKEN = utf8("\"access_token\"");
const EXPIRES_IN = utf8("\"expires_in\"");
const EXPIRES_ON = utf8("\"expires_on\"");
const REFRESH_IN = utf8("\"refresh_in\"");
const ERROR = utf8("\"error\"");
const ERROR_CODES = utf8("\"error_codes\"");

/** Reads a token answer received at `now`. */
function readTokenAnswer(b: Uint8Array, now: i64): TokenAnswer {
  const a = new TokenAnswer();
  const t = stringAt(b, findValue(b, ACCESS_TOKEN), MAX_TOKEN, false);
  if (t === null || !isHeaderToken(t)) return a;
  a.token = t;
  // intAt reads at most 15 digits: 10^20 reads as 10^14, still far beyond the cap.
  const expiresIn = intAt(b, findValue(b, EXPIRES_IN));
  if (expiresIn > 0) {
    a.claimedMs = expiresIn * 1000;
    a.source = "expires_in";
  } else {
    const expiresOn = intAt(b, findValue(b, EXPIRES_ON));
    if (expiresOn > 0) {
      const inMs = expiresOn >= EPOCH_MS_FROM;
      a.claimedMs = (inMs ? expiresOn : expiresOn * 1000) - now;
      a.source = inMs ? "expires_on (ms)" : "expires_on";
    }
  }
  a.lifetimeMs = a.claimedMs > MAX_LIFETIME_MS ? MAX_LIFETIME_MS : a.claimedMs;
  const refreshIn = intAt(b, findValue(b, REFRESH_IN));
  if (refreshIn > 0) a.refreshInMs = refreshIn < MAX_LIFETIME_MS / 1000 ? refreshIn * 1000 : MAX_LIFETIME_MS;
  return a;
}

/** application/x-www-form-urlencoded / query component encoding. */
function formEncode(s: string): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = unchecked(bytes[i]);
    const plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
    if (plain) out += String.fromCharCode(c);
    else out += "%" + (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
  }
  return out;
}

/** The token request for `id`: headers and body of the http_call. */
export function tokenRequest(id: IdentityConfig): TokenCall {
  const call = new TokenCall();
  const resource = formEncode(id.resource() + "/");
  const clientId = id.clientId.length > 0 ? "&client_id=" + formEncode(id.clientId) : "";
  if (id.kind == IdentityKind.ClientCredentials) {
    call.headers = [":method", "POST", ":path", id.path, ":authority", id.host, ":scheme", "https",
      "content-type", "application/x-www-form-urlencoded", "accept", "application/json", "user-agent", "ai-failover"];
    call.body = String.UTF8.encode("grant_type=client_credentials&client_id=" + formEncode(id.clientId) + "&client_secret=" +
      formEncode(id.secret.reveal()) + "&scope=" + formEncode(id.scope));
  } else if (id.kind == IdentityKind.ManagedIdentity) {
    call.headers = [":method", "GET", ":path", id.path + "?api-version=2018-02-01&resource=" + resource + clientId, ":authority", id.host,
      ":scheme", "http", "metadata", "true", "user-agent", "ai-failover"];
  } else {
    call.headers = [":method", "GET", ":path", id.path + "?api-version=2019-08-01&resource=" + resource + clientId, ":authority", id.host,
      ":scheme", "http", "x-identity-header", id.secret.reveal(), "user-agent", "ai-failover"];
  }
  return call;
}

export class TokenCall {
  headers: string[] = [];
  body: ArrayBuffer = new ArrayBuffer(0);
}

/** The shared-data key of an identity's token record. */
export function tokenKey(id: IdentityConfig): string {
  return KEY_PREFIX + id.name + "/" + id.fingerprint;
}

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
