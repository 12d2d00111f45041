// Microsoft Entra tokens for the providers configured with an identity (config/identities.ts).
//
// One record per identity in shared data, so every worker uses the same token: written by the
// worker holding the token lease (one fetch per refresh per identity, not per worker or
// request), read by every worker for each request to a provider of that identity.
//   - A token is fetched with http_call on the identity's cluster, refreshed ahead of expiry
//     (min(5 min, half its lifetime) before), and never used within min(30 s, a tenth of its
//     lifetime) of expiry. Failures back off 1 s … 30 s; the old token serves while still valid.
//   - A provider whose identity has no usable token is unavailable: never sent an empty or
//     stale token.
//   - A 401 with a token sets that token (its generation) aside and asks for a refresh; a 401
//     with the token fetched after such a refresh means the identity has no access to that
//     provider: its credential is then bad like a rejected key (the token stays in use for the
//     identity's other providers; the next regular refresh allows one more renewal).

import { IdentityConfig, IdentityKind } from "../config/model";
import { CREATE_CAS, BufferType, getBuffer, getShared, MapType, nowMs, Result, setShared } from "../host/calls";
import { readAnswerHeaders } from "../host/answer";
import { CalloutHandler, Callouts } from "../host/callouts";
import { acquireLease } from "../host/lease";
import { enabled, Level, log } from "../host/log";
import { randomU64 } from "../host/wasi";
import { isHeaderToken } from "../config/patterns";
import { utf8 } from "../lib/bytes";
import { findValue, intAt, stringAt } from "../lib/json_fields";
import { Metrics } from "./metrics";

const KEY_PREFIX = "ai-failover/token/";
const VERSION: u32 = 1;
const HEADER: i32 = 56;
/** Largest token kept (Entra access tokens are 1.5–4 KB). */
const MAX_TOKEN: i32 = 16384;
const FLAG_REFRESH: u32 = 1;
const FLAG_AFTER_REJECT: u32 = 2;

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
    store<u32>(p, <u32>t.byteLength, 52);
    memory.copy(p + HEADER, changetype<usize>(t), t.byteLength);
    return buf;
  }

  /** A record from shared data; a fresh (empty) one when absent or unreadable. */
  static decode(buf: ArrayBuffer | null): TokenRecord {
    const r = new TokenRecord();
    if (buf === null || buf.byteLength < HEADER) return r;
    const p = changetype<usize>(buf);
    if (load<u32>(p) != VERSION) return r;
    const n = load<u32>(p, 52);
    if (<i32>n > buf.byteLength - HEADER) return r;
    r.generation = load<u32>(p, 4);
    r.usableUntilMs = load<i64>(p, 8);
    r.refreshAtMs = load<i64>(p, 16);
    r.nextTryAtMs = load<i64>(p, 24);
    r.inFlightUntilMs = load<i64>(p, 32);
    r.failures = load<u32>(p, 40);
    r.rejectedGeneration = load<u32>(p, 44);
    r.flags = load<u32>(p, 48);
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
  first: bool = false;
  constructor(public generation: u32) { super(); }
  apply(r: TokenRecord): bool {
    if (r.generation != this.generation) return false; // a newer token is there already
    if ((r.flags & FLAG_AFTER_REJECT) != 0) {
      // Renewed after a rejection and rejected again: this identity has no access to that
      // provider. The token stays in use (other providers of the identity may well accept it).
      this.verdict = TokenRejection.NoAccess;
      return false;
    }
    if (r.rejectedGeneration == this.generation && (r.flags & FLAG_REFRESH) != 0) return false;
    this.first = true;
    r.rejectedGeneration = this.generation;
    r.flags |= FLAG_REFRESH;
    r.nextTryAtMs = 0;
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
  constructor(public token: string, public now: i64, public lifetimeMs: i64) { super(); }
  apply(r: TokenRecord): bool {
    const life = this.lifetimeMs;
    const afterReject = (r.flags & FLAG_REFRESH) != 0;
    r.generation = r.generation + 1 == 0 ? 1 : r.generation + 1;
    r.token = this.token;
    const skew = life / 10 < 30000 ? life / 10 : 30000;
    const ahead = life / 2 < 300000 ? life / 2 : 300000;
    r.usableUntilMs = this.now + life - skew;
    r.refreshAtMs = this.now + life - ahead;
    r.nextTryAtMs = 0;
    r.inFlightUntilMs = 0;
    r.failures = 0;
    r.flags = afterReject ? FLAG_AFTER_REJECT : 0;
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
  lifetimeMs: i64 = -1;
}

const ACCESS_TOKEN = utf8("\"access_token\"");
const EXPIRES_IN = utf8("\"expires_in\"");
const EXPIRES_ON = utf8("\"expires_on\"");
const ERROR = utf8("\"error\"");

function readTokenAnswer(b: Uint8Array, now: i64): TokenAnswer {
  const a = new TokenAnswer();
  const t = stringAt(b, findValue(b, ACCESS_TOKEN), MAX_TOKEN, false);
  if (t === null || !isHeaderToken(t)) return a;
  a.token = t;
  const expiresIn = intAt(b, findValue(b, EXPIRES_IN));
  if (expiresIn > 0) {
    a.lifetimeMs = expiresIn * 1000;
    return a;
  }
  const expiresOn = intAt(b, findValue(b, EXPIRES_ON));
  if (expiresOn > 0) a.lifetimeMs = expiresOn * 1000 - now;
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

  constructor(private callouts: Callouts, private metrics: Metrics) {}

  configure(identities: IdentityConfig[]): void {
    this.identities = identities;
    this.keys = [];
    this.cachedCas = [];
    this.cached = [];
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

  /** A provider answered 401/403 to `id`'s token of `generation`. */
  rejected(id: IdentityConfig, generation: u32, provider: string, status: i32): TokenRejection {
    const i = this.indexOf(id);
    if (i < 0) return TokenRejection.NoAccess;
    const op = new RejectOp(generation);
    update(unchecked(this.keys[i]), op);
    if (op.verdict == TokenRejection.Refreshing && op.first) {
      log(Level.Warn, "ai-failover: provider " + provider + " rejected the token of identity " + id.name + " (status " + status.toString() +
        "): a new token is fetched before the provider is judged");
    }
    return op.verdict;
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
    const w = update(unchecked(this.keys[i]), new StoreTokenOp(a.token, now, a.lifetimeMs));
    this.metrics.tokenFetch(id.name, "ok");
    if (enabled(Level.Info)) {
      log(Level.Info, "ai-failover: identity " + id.name + ": token obtained, valid " + (a.lifetimeMs / 1000).toString() + " s" +
        (w !== null ? " (generation " + w.generation.toString() + ")" : ""));
    }
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
  }
}

/** An Entra error answer's `error` code, e.g. " (invalid_client)"; never its description (it may quote ids). */
function errorCode(bodySize: u32): string {
  if (bodySize == 0 || bodySize > 65536) return "";
  const raw = getBuffer(BufferType.HttpCallResponseBody, 0, bodySize);
  if (raw === null) return "";
  const b = Uint8Array.wrap(raw);
  const e = stringAt(b, findValue(b, ERROR), 64, true);
  if (e === null) return "";
  return " (" + e + ")";
}
