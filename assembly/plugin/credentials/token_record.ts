// An identity's token as every worker shares it: one record per identity in shared data (written
// by the worker holding the token lease, read by every worker per request), and the CAS changes
// made to it (a fetch started, a token stored, a fetch failed, a 401 against a token). The rules
// of a token's life are described in tokens.ts.

import { IdentityConfig } from "../../config/model";
import { CREATE_CAS, getShared, Result, setShared } from "../../host/calls";
import { fnv1a32 } from "../../lib/hash";
import { RecordIo, SharedRecord } from "../../lib/record";

const KEY_PREFIX = "ai-failover/token/";
const VERSION: u32 = 2;
const HEADER: i32 = 72;
export const FLAG_REFRESH: u32 = 1;
export const FLAG_AFTER_REJECT: u32 = 2;

/** Tokens this long or longer are refreshed at half their lifetime (MSAL: expires_in >= 7200). */
export const LONG_TOKEN_MS: i64 = 7_200_000;
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
export function providerKey(name: string): u32 {
  return fnv1a32(name) | 1;
}

/** One identity's shared record. */
export class TokenRecord extends SharedRecord {
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
  /** The token's UTF-8 length (the record's tail). */
  tokenBytes: u32 = 0;

  usable(now: i64): bool {
    return this.token.length > 0 && now < this.usableUntilMs && this.rejectedGeneration != this.generation;
  }

  layout(): u32 {
    return VERSION;
  }

  /** The fixed part; the token's bytes follow it. */
  bytes(): i32 {
    return HEADER;
  }

  fields(io: RecordIo): void {
    this.generation = io.u32(this.generation);
    this.usableUntilMs = io.i64(this.usableUntilMs);
    this.refreshAtMs = io.i64(this.refreshAtMs);
    this.nextTryAtMs = io.i64(this.nextTryAtMs);
    this.inFlightUntilMs = io.i64(this.inFlightUntilMs);
    this.failures = io.u32(this.failures);
    this.rejectedGeneration = io.u32(this.rejectedGeneration);
    this.flags = io.u32(this.flags);
    this.renewals = io.u32(this.renewals);
    this.rejectedBy = io.u32(this.rejectedBy);
    this.noAccessGeneration = io.u32(this.noAccessGeneration);
    this.noAccessBy = io.u32(this.noAccessBy);
    this.tokenBytes = io.u32(this.tokenBytes);
  }

  encode(): ArrayBuffer {
    const t = String.UTF8.encode(this.token);
    this.tokenBytes = <u32>t.byteLength;
    const buf = new ArrayBuffer(HEADER + t.byteLength);
    memory.copy(changetype<usize>(buf) + <usize>this.writeFields(buf), changetype<usize>(t), t.byteLength);
    return buf;
  }

  /** A record from shared data; a fresh (empty) one when absent or unreadable. */
  static decode(buf: ArrayBuffer | null): TokenRecord {
    const r = new TokenRecord();
    if (buf === null || buf.byteLength < HEADER || !r.readFields(buf)) return new TokenRecord();
    if (<i64>r.tokenBytes > <i64>(buf.byteLength - HEADER)) return new TokenRecord();
    r.token = String.UTF8.decodeUnsafe(changetype<usize>(buf) + HEADER, r.tokenBytes);
    return r;
  }
}

/** A change to a token record, applied with CAS. */
abstract class TokenOp {
  abstract apply(r: TokenRecord): bool;
}

export function update(key: string, op: TokenOp): TokenRecord | null {
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

export class RejectOp extends TokenOp {
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
export class AcceptOp extends TokenOp {
  constructor(public generation: u32, public by: u32) { super(); }
  apply(r: TokenRecord): bool {
    if (r.generation != this.generation || (r.flags & FLAG_AFTER_REJECT) == 0 || r.rejectedBy != this.by) return false;
    r.flags &= ~FLAG_AFTER_REJECT;
    r.renewals = 0;
    return true;
  }
}

export class StartFetchOp extends TokenOp {
  constructor(public now: i64, public until: i64) { super(); }
  apply(r: TokenRecord): bool {
    if (this.now < r.inFlightUntilMs) return false;
    r.inFlightUntilMs = this.until;
    return true;
  }
}

export class StoreTokenOp extends TokenOp {
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

export class FetchFailedOp extends TokenOp {
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

/** The shared-data key of an identity's token record. */
export function tokenKey(id: IdentityConfig): string {
  return KEY_PREFIX + id.name + "/" + id.fingerprint;
}
