// One try of a client request at one provider: the provider's reservation, what the provider
// answered, what the answer said as it passed, and the one way an attempt finishes —
// whichever way it ended: an in-band answer, an http_call answer, or an http_call answer that
// arrived after the client had gone.

import { BudgetState } from "../../admission/budget";
import { Limits, ProviderConfig, ProviderType } from "../../config/model";
import { AnswerOp } from "../../health/ops";
import { ProviderState } from "../../health/state";
import { Outcome } from "../../health/transitions";
import { AnswerHeaders, classifyAnswer, Verdict } from "../../plan/answer";
import { Charge, charge, NO_CHARGE } from "../../plan/accounting";
import { ResponseScan } from "../../plan/response_scan";
import { UpstreamRequest } from "../../plan/upstream";
import { BufferType, getBuffer, getHeader, MapType, nowMs } from "../../host/calls";
import { readAnswerHeaders, readBodyPrefix } from "../../host/answer";
import { CalloutHandler } from "../../host/callouts";
import { enabled, Level, log } from "../../host/log";
import { ProviderSlot } from "../../provider/registry";
import { Reservation } from "../capacity/reservation";
import { ConfigView, updateProvider } from "../views";
import { Tokens } from "../credentials/tokens";
import { CredentialChoice } from "../credentials/choice";
import { IdCapture, providerHash, recordOwner } from "../affinity";
import { answerRecord, coolModel, learnModel, modelScope, ModelScope } from "../capacity/model_records";
import { logSafe } from "../../lib/log_safe";
import { MAX_RETRY_AFTER_MS } from "../../health/transitions";
import { TimerOwner } from "../timers";

/** Window for reading an http_call answer that is only accounted. */
const WINDOW: u32 = 64 << 10;

/** Beyond an identity's token-request timeout, how long a request waits for its renewed token (the fetch may start at the next tick). */
const TOKEN_WAIT_MARGIN_MS: i64 = 1000;

/**
 * A streamed in-band answer held until its first token (firstTokenTimeout): its headers as read,
 * its health verdict (recorded when it is released or given up), and how far its buffered body
 * was scanned.
 */
export class HeldStream {
  /** Bytes of the buffered body scanned so far: what precedes them is what the client will get. */
  scanned: u32 = 0;
  /** The scan changes the body's bytes (the usage event is stripped): content-length goes. */
  changes: bool = false;
  /** An error event came: the wait ends, the client gets it. */
  error: bool = false;
  /** The last bytes scanned (an error event split by a chunk is found across it). */
  tail: Uint8Array = new Uint8Array(0);
  constructor(public headers: AnswerHeaders, public verdict: Verdict, public limitMs: i64) {}
}

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
  /** The model as the provider sees it (Azure: the deployment; "" for model-less requests). */
  upstreamModel: string = "";
  /** That model's limits (an Azure deployment's own; set with `upstreamModel`). */
  modelLimits: Limits | null = null;
  /** The credential this attempt carries (set by the request with the attempt: plugin/request/next_attempt.ts). */
  credential!: CredentialChoice;
  /** The VM's identity tokens (what a 401 or an acceptance of the credential is reported to). */
  tokens!: Tokens;
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
  /** When a failover attempt was sent (http_call), ms. */
  sentMs: i64 = 0;
  /** Ids to record as this provider's when it answers with success (a request that looked for their owner). */
  ownedIds: string[] | null = null;
  /** The in-band stream is held until its first token (null: not held). */
  held: HeldStream | null = null;
  /** The stream went silent past streamIdleTimeout and was ended by the gateway (nothing more goes to the client). */
  stalled: bool = false;
  /** The consumer whose objects the answer creates (affinity.ts tenantTag; 0: none). */
  tenant: u32 = 0;

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
    if (v.ok) this.credential.accepted(this.tokens);
    // Rate limits are the model's (Azure: the deployment's), and so are x-ratelimit-remaining-*:
    // its record takes them (plugin/capacity/model_records.ts), not the provider's state — when it has one.
    const scope = modelScope(p);
    const reports = outcome == Outcome.RateLimited || v.remainingTokens >= 0 || v.remainingRequests >= 0;
    const lim = this.modelLimits;
    const record = reports && lim !== null ? answerRecord(this.slot, p, this.upstreamModel, outcome == Outcome.Success || outcome == Outcome.RateLimited) : "";
    if (outcome == Outcome.RateLimited && record.length > 0) {
      // Cool that model down; the provider's other models serve on.
      const wait = v.retryAfterMs > 0 ? (v.retryAfterMs < MAX_RETRY_AFTER_MS ? v.retryAfterMs : MAX_RETRY_AFTER_MS) : this.view.config.cooldown.defaultRateLimitMs;
      coolModel(this.slot, record, lim!, now, now + wait, v.retryAfterMs);
      if (enabled(Level.Warn)) {
        const azure = p.type == ProviderType.AzureOpenAI;
        log(Level.Warn, "ai-failover: provider " + p.name + (azure ? " deployment " : " model ") + logSafe(this.upstreamModel) +
          " rate limited (retry after " + wait.toString() + " ms); its other " + (azure ? "deployments" : "models") + " stay in service");
      }
      outcome = Outcome.ClientError;
    }
    if (record.length > 0 && outcome != Outcome.RateLimited) learnModel(this.slot, record, lim!, now, v.remainingTokens, v.remainingRequests);
    // The provider's state learns remaining counts only when they are nobody else's: a provider
    // of one model, or an open list's model past the bound (or a model-less request) there.
    const own = scope == ModelScope.Provider || (scope == ModelScope.Open && record.length == 0);
    const op = new AnswerOp(outcome, now, v.retryAfterMs, own ? v.remainingTokens : -1, own ? v.remainingRequests : -1,
      this.view.config.cooldown, p.limits);
    updateProvider(this.slot, op);
    if (outcome == Outcome.CredentialRejected) {
      log(Level.Error, "ai-failover: provider " + this.slot.label + " rejected its credential (" + this.credential.describe() +
        ", endpoint " + p.host + ") with " + v.status.toString() + "; it gets no traffic until a health check succeeds");
    } else if (op.becameUnavailable && enabled(Level.Warn)) {
      log(Level.Warn, "ai-failover: provider " + p.name + " unavailable after status " + v.status.toString() +
        (v.retryAfterMs > 0 ? " (retry after " + v.retryAfterMs.toString() + " ms)" : ""));
    } else if (op.closed) log(Level.Info, "ai-failover: provider " + p.name + " back in service: its trial request succeeded");
  }

  /**
   * The answer (a 200 stream) is held for its first token: it counts as answered for the
   * accounting (a client that leaves meanwhile is charged like a cut stream), while its health
   * verdict waits for the first token or the limit.
   */
  hold(h: AnswerHeaders, v: Verdict, limitMs: i64): HeldStream {
    this.status = v.status;
    const held = new HeldStream(h, v, limitMs);
    this.held = held;
    return held;
  }

  /** A 401/403 to this attempt's credential: set aside (plugin/credentials/choice.ts) rather than ejecting the provider? */
  private setAside(status: i32, now: i64): bool {
    const cred = this.credential;
    const aside = cred.setAside(status, now, this.view.config.cooldown.authFailureMs, this.tokens, "provider " + this.provider.name);
    if (aside) this.credentialSetAside = true;
    // An identity's token set aside: a new one is on its way; the request may wait for it (its
    // fetch's timeout and a tick) and is woken as soon as it is there.
    const id = cred.identity;
    const owner = this.owner;
    if (aside && id !== null && owner !== null) {
      this.tokenWaitMs = id.timeoutMs + TOKEN_WAIT_MARGIN_MS;
      this.tokens.waitFor(id, cred.generation, owner, now + this.tokenWaitMs);
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
    const c = charge(this.scan.usage, ok, this.promptEstimate, this.maxTokens, this.scan.streamedOutput, this.scan.bytes);
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
    if (cap !== null) for (let i = 0; i < cap.ids.length; i++) recordOwner(unchecked(cap.ids[i]), owner, now, this.tenant);
    if (found !== null) for (let i = 0; i < found.length; i++) recordOwner(unchecked(found[i]), owner, now, this.tenant);
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
