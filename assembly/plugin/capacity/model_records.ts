// Per-model state. Azure counts quota per deployment and OpenAI per model: a provider serving
// gpt-4o and gpt-4o-mini has two windows, and a 429 for one says nothing of the other. Such a
// provider keeps one record per model (Azure: per deployment) in shared data next to its state:
// the model's cooldown after its own rate-limit 429, its admission window (an Azure deployment's
// own `limits`), and what its x-ratelimit-remaining-* headers last said. Health (auth, 5xx,
// resets) and insufficient_quota stay per provider; the provider's own `limits` bound it as a whole.
//
// Shared-data keys can never be deleted, and model names come from clients. So records exist only
// for models the configuration names (Azure deployments, an OpenAI-type provider's `models`) or,
// for an OpenAI-type provider with an open model list, for at most OPEN_MODELS_MAX models per
// provider slot, listed in one directory record, admitted first come first served — and only when
// the provider's answer shows it counts the model (a rate-limit 429 or x-ratelimit-remaining-*): a
// name it does not serve (404) never takes a place. A model past the bound has no record: its 429
// and its remaining counts are the provider's, as they were before per-model state (safe: never
// more traffic than the provider's limits allow, only more caution).

import { RecordIo } from "../../lib/record";
import { Limits, ProviderConfig, ProviderType } from "../../config/model";
import { alignWindowEnd, fits, learnRemaining, rollWindow, Window } from "../../admission/window";
import { CREATE_CAS, getShared, Result, setShared, SharedValue } from "../../host/calls";
import { stateOf, updateState } from "../../host/store";
import { fnv1a64, hex } from "../../lib/hash";
import { StateOp } from "../../lib/state_op";
import { ProviderSlot } from "../../provider/registry";
import { Reservation, reserveIn } from "./reservation";

/** How a provider keeps what its answers say of one model. */
export const enum ModelScope {
  /** One model (or one Azure deployment without limits of its own): the provider's state says it all. */
  Provider = 0,
  /** A record per configured model (Azure deployment, OpenAI-type `models`), keyed by its name. */
  Listed = 1,
  /** OpenAI-type, open model list: a record per model the provider answered for, at most OPEN_MODELS_MAX. */
  Open = 2,
}

/** Records per provider slot for an OpenAI-type provider without a `models` list. */
export const OPEN_MODELS_MAX: i32 = 32;

export function modelScope(p: ProviderConfig): ModelScope {
  if (p.type == ProviderType.AzureOpenAI) return p.deploymentKeys.length > 1 || p.hasDeploymentLimits ? ModelScope.Listed : ModelScope.Provider;
  if (p.models.length == 0) return ModelScope.Open;
  return p.models.length > 1 || p.hasDeploymentLimits ? ModelScope.Listed : ModelScope.Provider;
}

/** Does `p` keep state per model (per deployment on Azure)? */
export function perModel(p: ProviderConfig): bool {
  return modelScope(p) != ModelScope.Provider;
}

const LAYOUT: u32 = 0xde910001;
const BYTES: i32 = 88;

/** One model's (deployment's) record: its window, its provider's last report for it, its cooldown. */
export class ModelState extends Window {
  cooldownUntilMs: i64 = 0;

  layout(): u32 {
    return LAYOUT;
  }

  /** 8 bytes more than the fields: the size records of this layout have always had. */
  bytes(): i32 {
    return BYTES;
  }

  fields(io: RecordIo): void {
    this.fingerprint = io.u32(this.fingerprint);
    this.windowStartMs = io.i64(this.windowStartMs);
    this.tokensReserved = io.i64(this.tokensReserved);
    this.requestsReserved = io.i64(this.requestsReserved);
    this.remainingTokens = io.i64(this.remainingTokens);
    this.remainingRequests = io.i64(this.remainingRequests);
    this.remainingAtMs = io.i64(this.remainingAtMs);
    this.tokensAtReport = io.i64(this.tokensAtReport);
    this.requestsAtReport = io.i64(this.requestsAtReport);
    this.cooldownUntilMs = io.i64(this.cooldownUntilMs);
  }
}

/**
 * The record key of `upstream` (the model as the provider sees it) at the slot's provider.
 * Azure: ".../deployment/<name>" (as before per-model state had another name). A configured
 * model: ".../model/<name>". An open list's model: ".../model/#<hash>" — a client's name is
 * never part of a key (any length, any characters), and names whose hashes collide share one
 * record instead of making one more key.
 */
function keyOf(slot: ProviderSlot, p: ProviderConfig, scope: ModelScope, upstream: string): string {
  if (p.type == ProviderType.AzureOpenAI) return slot.stateKey + "/deployment/" + upstream;
  if (scope == ModelScope.Open) return slot.stateKey + "/model/#" + hex(fnv1a64(upstream), 16);
  return slot.stateKey + "/model/" + upstream;
}

/** What a pick knows of one model: its record as read (the seed of a reservation) and its limits. */
export class ModelRead {
  constructor(public readonly key: string, public readonly read: SharedValue, public readonly state: ModelState,
    public readonly limits: Limits) {}

  /** Is there anything to count in its window: limits of its own, or a report of its provider's for this window? */
  get counted(): bool {
    const l = this.limits;
    const s = this.state;
    return l.tokensPerMinute > 0 || l.requestsPerMinute > 0 || s.remainingTokens >= 0 || s.remainingRequests >= 0;
  }
}

/**
 * The record of `model` at the slot's provider (fresh when there is none: nothing known of it).
 * Reading never makes a record.
 */
export function readModel(slot: ProviderSlot, p: ProviderConfig, model: string): ModelRead {
  const key = keyOf(slot, p, modelScope(p), p.upstreamModel(model));
  const v = getShared(key);
  return new ModelRead(key, v, stateOf<ModelState>(v, slot.stateFingerprint), p.modelLimitsFor(model));
}

/** Would `need` tokens fit the model's window (its limits and its provider's last report)? */
export function modelFits(d: ModelRead, need: i64, now: i64): bool {
  return !d.counted || fits(d.state, d.limits, need, now);
}

/**
 * Reserves `need` tokens and a request in the model's window when anything is counted there;
 * the reservation settles with the provider's. Null when it no longer fits (or the CAS race was
 * lost: `contended`). A model without limits is counted only once its record holds a report, so
 * this never makes a record of an open list's model (the directory alone admits those).
 */
export function reserveModel(slot: ProviderSlot, d: ModelRead, need: i64, now: i64): ModelReserved {
  const out = new ModelReserved();
  if (!d.counted) {
    out.ok = true;
    return out;
  }
  const r = reserveIn<ModelState>(d.key, slot.stateFingerprint, d.limits, need, now, false, d.read);
  out.ok = r.reservation !== null;
  out.reservation = r.reservation;
  out.contended = r.contended;
  return out;
}

export class ModelReserved {
  ok: bool = false;
  contended: bool = false;
  reservation: Reservation<ModelState> | null = null;
}

/**
 * What one answer said of the model: a rate-limit 429 cools it down until `coolUntilMs` (a later
 * cooldown already there is kept) and ends its window then, dropping its report; otherwise its
 * x-ratelimit-remaining-* (when present) are learned for its current window.
 */
class ModelAnswerOp extends StateOp<ModelState> {
  constructor(public limits: Limits, public now: i64, public coolUntilMs: i64, public retryAfterMs: i64,
    public remainingTokens: i64, public remainingRequests: i64) { super(); }
  apply(s: ModelState): bool {
    if (this.coolUntilMs > 0) {
      if (s.cooldownUntilMs < this.coolUntilMs) s.cooldownUntilMs = this.coolUntilMs;
      alignWindowEnd(s, this.limits, this.now, this.retryAfterMs);
      return true;
    }
    if (this.remainingTokens < 0 && this.remainingRequests < 0) return false;
    // The report is for the provider's current window: it counts from now, even in a model's
    // record whose window nothing had opened yet.
    rollWindow(s, this.limits, this.now);
    learnRemaining(s, this.remainingTokens, this.remainingRequests, this.now);
    return true;
  }
}

/**
 * The key of the record an answer about `upstream` goes to, "" when the provider's own state
 * takes it (one model, no model, or an open list's model without a record). An open list's model
 * is admitted here when `served` (the answer was a success or a rate-limit 429: the provider
 * serves and counts it) and the directory has room; call it only with something to record.
 */
export function answerRecord(slot: ProviderSlot, p: ProviderConfig, upstream: string, served: bool): string {
  const scope = modelScope(p);
  if (scope == ModelScope.Provider || upstream.length == 0) return "";
  if (scope == ModelScope.Open && !admitted(slot, fnv1a64(upstream), served)) return "";
  return keyOf(slot, p, scope, upstream);
}

/** Cools the model of record `key` down until `untilMs` after its own rate-limit 429. */
export function coolModel(slot: ProviderSlot, key: string, limits: Limits, now: i64, untilMs: i64, retryAfterMs: i64): void {
  updateState<ModelState>(key, slot.stateFingerprint, new ModelAnswerOp(limits, now, untilMs, retryAfterMs, -1, -1));
}

/** The provider reported the remaining tokens/requests (-1: absent) of the model of record `key`. */
export function learnModel(slot: ProviderSlot, key: string, limits: Limits, now: i64, remainingTokens: i64, remainingRequests: i64): void {
  if (remainingTokens < 0 && remainingRequests < 0) return;
  updateState<ModelState>(key, slot.stateFingerprint, new ModelAnswerOp(limits, now, 0, 0, remainingTokens, remainingRequests));
}

// ---- the directory of an open list's models

const DIR_LAYOUT: u32 = 0x6d6f6401; // "mod" + version 1
const DIR_HEAD: i32 = 12;
const DIR_BYTES: i32 = DIR_HEAD + 8 * OPEN_MODELS_MAX;
const DIR_CAS_TRIES = 64;

/**
 * What this VM knows of each slot's directory: the hashes of admitted models (a copy; the
 * directory only grows, so a hash seen there stays, and a copy holding OPEN_MODELS_MAX is the
 * whole of it). Keyed by the directory's key; dropped whole past KNOWN_MAX (reconfigurations).
 */
const known = new Map<string, u64[]>();
const KNOWN_MAX = 256;

function decodeDirectory(v: SharedValue, fingerprint: u32): u64[] {
  const out = new Array<u64>();
  if (v.result != Result.Ok) return out;
  const buf = v.value;
  if (buf.byteLength < DIR_HEAD) return out;
  const p = changetype<usize>(buf);
  if (load<u32>(p) != DIR_LAYOUT || load<u32>(p, 4) != fingerprint) return out;
  const n = <i32>load<u32>(p, 8);
  if (n < 0 || n > OPEN_MODELS_MAX || DIR_HEAD + 8 * n > buf.byteLength) return out;
  for (let i = 0; i < n; i++) out.push(load<u64>(p + DIR_HEAD + (<usize>i << 3)));
  return out;
}

function encodeDirectory(hashes: u64[], fingerprint: u32): ArrayBuffer {
  const buf = new ArrayBuffer(DIR_BYTES);
  const p = changetype<usize>(buf);
  store<u32>(p, DIR_LAYOUT);
  store<u32>(p, fingerprint, 4);
  store<u32>(p, <u32>hashes.length, 8);
  for (let i = 0; i < hashes.length; i++) store<u64>(p + DIR_HEAD + (<usize>i << 3), unchecked(hashes[i]));
  return buf;
}

function remember(key: string, hashes: u64[]): void {
  if (!known.has(key) && known.size >= KNOWN_MAX) known.clear();
  known.set(key, hashes);
}

/**
 * Does model `h` (the hash of its name) have a record at the slot's provider — admitting it when
 * `admit` and the directory has room? CAS, so the bound holds across workers.
 */
function admitted(slot: ProviderSlot, h: u64, admit: bool): bool {
  const key = slot.stateKey + "/models";
  if (known.has(key)) {
    const local = known.get(key);
    if (local.includes(h)) return true;
    if (local.length >= OPEN_MODELS_MAX) return false;
  }
  for (let attempt = 0; attempt < DIR_CAS_TRIES; attempt++) {
    const v = getShared(key);
    const list = decodeDirectory(v, slot.stateFingerprint);
    if (list.includes(h) || list.length >= OPEN_MODELS_MAX || !admit) {
      remember(key, list);
      return list.includes(h);
    }
    const next = list.slice(0);
    next.push(h);
    // An absent directory is created only if it is still absent (never over another worker's).
    const r = setShared(key, encodeDirectory(next, slot.stateFingerprint), v.result == Result.Ok ? v.cas : CREATE_CAS);
    if (r == Result.Ok) {
      remember(key, next);
      return true;
    }
    if (r != Result.CasMismatch) return false;
  }
  return false;
}
