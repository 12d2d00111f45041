// One try of a client request at one provider: the provider's reservation, what the provider
// answered, what the answer said as it passed, and the one way an attempt finishes —
// whichever way it ended: an in-band answer, an http_call answer, or an http_call answer that
// arrived after the client had gone.

import { BudgetState } from "../admission/budget";
import { Limits, ProviderConfig } from "../config/model";
import { AnswerOp } from "../health/ops";
import { ProviderState } from "../health/state";
import { Outcome } from "../health/transitions";
import { AnswerHeaders, classifyAnswer, Verdict } from "../plan/answer";
import { Charge, charge, NO_CHARGE } from "../plan/accounting";
import { ResponseScan } from "../plan/response_scan";
import { UpstreamRequest } from "../plan/upstream";
import { BufferType, getBuffer, getHeader, MapType, nowMs } from "../host/calls";
import { readAnswerHeaders, readBodyPrefix } from "../host/answer";
import { CalloutHandler } from "../host/callouts";
import { enabled, Level, log } from "../host/log";
import { ProviderSlot } from "../provider/registry";
import { Reservation } from "./reservation";
import { ConfigView, updateProvider } from "./views";
import { Tokens } from "./tokens";
import { setCredentialAside } from "./credentials";
import { IdCapture, providerHash, recordOwner } from "./affinity";
import { coolDeployment, learnDeployment, perDeployment } from "./deployments";
import { MAX_RETRY_AFTER_MS } from "../health/transitions";
import { TimerOwner } from "./request_timers";

/** Window for reading an http_call answer that is only accounted. */
const WINDOW: u32 = 64 << 10;

/** Beyond an identity's token-request timeout, how long a request waits for its renewed token (the fetch may start at the next tick). */
const TOKEN_WAIT_MARGIN_MS: i64 = 1000;

/** What an attempt needs of its request (AssemblyScript has no closures: an interface by subclass). */
export abstract class AttemptOwner extends TimerOwner {
  /** An http_call attempt answered while the client is still there. */
  abstract attemptAnswered(a: Attempt, headers: u32, bodySize: u32): void;
}

export class Attempt extends CalloutHandler {
  /** The request this attempt serves; null once the client has gone. */
  owner: AttemptOwner | null;
  /** The answer's status (-1: none yet). */
  status: i32 = -1;
  readonly scan: ResponseScan = new ResponseScan();
  /** A consumer budget this attempt settles: handed over when the client leaves mid-attempt. */
  budget: Reservation<BudgetState> | null = null;
  /** An in-band 429 or 404 whose body is being read (quota error or rate limit? model not served?). */
  heldError: AnswerHeaders | null = null;
  /** What has arrived of that answer's body (at most ERROR_BODY_PREFIX bytes). */
  errorPrefix: Uint8Array | null = null;
  private finished: bool = false;
  private charged: Charge = NO_CHARGE;
  /**
   * The model this attempt asks for, as the configuration names it ("" none): the client's, or a
   * fallback's. Its planned request's unless the caller sets another; x-ai-failover-model says it.
   */
  model: string;
  /** The deployment the request went to ("" for OpenAI-type providers and model-less requests). */
  deployment: string = "";
  /** That deployment's limits (set with `deployment`). */
  deploymentLimits: Limits | null = null;
  /** Which of the provider's credentials this attempt carries, and the token's generation when it is an identity. */
  credential: i32 = 0;
  tokenGeneration: u32 = 0;
  tokens: Tokens | null = null;
  /**
   * A 401/403 set this attempt's credential aside and the provider keeps another (or is fetching
   * a new token): the request may try the same provider again.
   */
  credentialSetAside: bool = false;
  /**
   * The 401 set this attempt's identity token aside and a new one is being fetched: the longest
   * worth waiting for it to retry here with it (ms; 0: not so). plan/decide.ts Situation.tokenWaitMs.
   */
  tokenWaitMs: i64 = 0;
  /** Collects the ids the answer creates or reveals (plugin/affinity.ts); null when the API keeps none. */
  capture: IdCapture | null = null;
  /** Envoy gave the attempt up before the provider started answering (firstByteTimeout): a 504 of the router's own. */
  firstByteExpired: bool = false;
  /** When a failover attempt was sent (http_call), ms. */
  sentMs: i64 = 0;
  /** Ids to record as this provider's when it answers with success (a request that looked for their owner). */
  ownedIds: string[] | null = null;

  constructor(owner: AttemptOwner, public readonly view: ConfigView, public readonly index: i32,
    public readonly reservation: Reservation<ProviderState>, public readonly upstream: UpstreamRequest,
    /** For the estimate when the provider reports no usage. */
    public readonly promptEstimate: i64, public readonly maxTokens: i64) {
    super();
    this.owner = owner;
    this.model = upstream.model;
  }

  get slot(): ProviderSlot {
    return unchecked(this.view.slots[this.index]);
  }

  /**
   * The provider's record as this request's view has it. `index` is the candidate's (a provider
   * whose credentials each have their own quota is several candidates): view.providers, not
   * config.providers, is indexed by it.
   */
  get provider(): ProviderConfig {
    return unchecked(this.view.providers[this.index]);
  }

  get ok(): bool {
    return this.status >= 200 && this.status < 300;
  }

  /** Records what the provider answered (passive health); a failed answer releases the reservation. */
  answered(v: Verdict, now: i64): void {
    this.status = v.status;
    if (!v.ok) this.reservation.settle(-1, now);
    const p = this.provider;
    let outcome = v.outcome;
    if (outcome == Outcome.CredentialRejected && this.setAside(v.status, now)) outcome = Outcome.ClientError;
    // A token accepted: a later 401 to it is a stale token again, not "no access" (plugin/tokens.ts).
    const tokens = this.tokens;
    if (v.ok && this.tokenGeneration != 0 && tokens !== null) {
      const id = p.credentialAt(this.credential).identity;
      if (id !== null) tokens.accepted(id, this.tokenGeneration, p.name);
    }
    const byDeployment = perDeployment(p) && this.deployment.length > 0;
    if (outcome == Outcome.RateLimited && byDeployment) {
      // Azure's quota is the deployment's: cool that one down, the provider's other deployments serve on.
      const wait = v.retryAfterMs > 0 ? (v.retryAfterMs < MAX_RETRY_AFTER_MS ? v.retryAfterMs : MAX_RETRY_AFTER_MS) : this.view.config.cooldown.defaultRateLimitMs;
      coolDeployment(this.slot, this.deployment, this.deploymentLimits!, now, now + wait, v.retryAfterMs);
      if (enabled(Level.Warn)) {
        log(Level.Warn, "ai-failover: provider " + p.name + " deployment " + this.deployment + " rate limited (retry after " + wait.toString() +
          " ms); its other deployments stay in service");
      }
      outcome = Outcome.ClientError;
    }
    // x-ratelimit-remaining-* of a provider with several deployments are one deployment's: that
    // deployment's record learns them, not the provider's.
    const multi = perDeployment(p);
    if (byDeployment && outcome != Outcome.RateLimited) learnDeployment(this.slot, this.deployment, this.deploymentLimits!, now, v.remainingTokens, v.remainingRequests);
    const op = new AnswerOp(outcome, now, v.retryAfterMs, multi ? -1 : v.remainingTokens, multi ? -1 : v.remainingRequests,
      this.view.config.cooldown, p.limits);
    updateProvider(this.slot, op);
    if (outcome == Outcome.CredentialRejected) {
      const c = p.credentialAt(this.credential);
      log(Level.Error, "ai-failover: provider " + this.slot.label + " rejected its credential (" + (c.identity !== null ? c.masked() : "key " + c.masked()) +
        ", endpoint " + p.host + ") with " + v.status.toString() + "; it gets no traffic until a health check succeeds");
    } else if (op.becameUnavailable && enabled(Level.Warn)) {
      log(Level.Warn, "ai-failover: provider " + p.name + " unavailable after status " + v.status.toString() +
        (v.retryAfterMs > 0 ? " (retry after " + v.retryAfterMs.toString() + " ms)" : ""));
    } else if (op.closed) log(Level.Info, "ai-failover: provider " + p.name + " back in service: its trial request succeeded");
  }

  /** A 401/403 to this attempt's credential: set aside (plugin/credentials.ts) rather than ejecting the provider? */
  private setAside(status: i32, now: i64): bool {
    const aside = setCredentialAside(this.slot, this.provider, this.credential, this.tokenGeneration, status, now,
      this.view.config.cooldown.authFailureMs, this.tokens, "provider " + this.provider.name);
    if (aside) this.credentialSetAside = true;
    // An identity's token set aside: a new one is on its way; the request may wait for it (its
    // fetch's timeout and a tick) and is woken as soon as it is there.
    const id = this.provider.credentialAt(this.credential).identity;
    const owner = this.owner;
    const tokens = this.tokens;
    if (aside && id !== null && owner !== null && tokens !== null) {
      this.tokenWaitMs = id.timeoutMs + TOKEN_WAIT_MARGIN_MS;
      tokens.waitFor(id, this.tokenGeneration, owner, now + this.tokenWaitMs);
    }
    return aside;
  }

  /** One in-band response chunk on its way to the client; returns what to send instead. */
  chunk(chunk: Uint8Array, endOfStream: bool): Uint8Array {
    const cap = this.capture;
    if (cap !== null && this.ok) cap.feed(chunk);
    const out = this.scan.chunk(chunk, endOfStream);
    if (this.scan.cutShort && endOfStream) log(Level.Warn, "ai-failover: stream from " + this.provider.name + " ended before completion");
    return out;
  }

  /**
   * Ends the attempt: charges it what it used (the provider's usage, else an estimate) and
   * settles its reservations with that. Once; later calls return the same charge.
   */
  finish(now: i64): Charge {
    if (this.finished) return this.charged;
    this.finished = true;
    const ok = this.ok;
    if (ok) this.recordOwnership(now);
    const c = charge(this.scan.usage, ok, this.promptEstimate, this.maxTokens, this.scan.eventCount, this.scan.bytes);
    this.charged = c;
    // A failed answer released the provider's reservation already; one never answered stays
    // reserved (the provider may have done the work).
    if (ok && c.known) this.reservation.settle(c.total, now);
    const b = this.budget;
    if (b !== null) b.settle(ok && c.known ? c.total : -1, now);
    return c;
  }

  /** This provider holds what the answer created or revealed, and what the request found here. */
  private recordOwnership(now: i64): void {
    const cap = this.capture;
    const found = this.ownedIds;
    if (cap === null && found === null) return;
    const owner = providerHash(this.provider.name);
    if (cap !== null) for (let i = 0; i < cap.ids.length; i++) recordOwner(unchecked(cap.ids[i]), owner, now);
    if (found !== null) for (let i = 0; i < found.length; i++) recordOwner(unchecked(found[i]), owner, now);
  }

  // ---- http_call answers

  contextId(): u32 {
    const o = this.owner;
    return o !== null ? o.contextId() : 0;
  }

  onAnswer(headers: u32, bodySize: u32, _trailers: u32): void {
    const o = this.owner;
    if (o !== null) {
      o.attemptAnswered(this, headers, bodySize);
      return;
    }
    // The client left while this attempt was in flight: its answer still counts for the
    // provider's health, and it settles what it reserved.
    const h = headers > 0 ? readAnswerHeaders(MapType.HttpCallResponseHeaders) : new AnswerHeaders();
    const now = nowMs();
    this.answered(classifyAnswer(h, h.status == 429 ? readBodyPrefix(BufferType.HttpCallResponseBody, bodySize) : null), now);
    if (this.ok && bodySize > 0) this.scanAnswer(bodySize);
    this.finish(now);
  }

  /**
   * Accounts an http_call answer that is not passed on, read WINDOW bytes at a time (never whole
   * in the VM; each window is garbage once scanned and is collected every 1 MiB).
   */
  scanAnswer(bodySize: u32): void {
    const ct = getHeader(MapType.HttpCallResponseHeaders, "content-type");
    for (let off: u32 = 0; off < bodySize; off += WINDOW) {
      this.scanWindow(off, bodySize - off < WINDOW ? bodySize - off : WINDOW, ct);
      if ((off / WINDOW) % 16 == 15) __collect();
    }
  }

  private scanWindow(off: u32, n: u32, contentType: string | null): void {
    const w = getBuffer(BufferType.HttpCallResponseBody, off, n);
    if (w !== null) this.scan.window(this.upstream.api, Uint8Array.wrap(w), contentType, off == 0);
  }
}
