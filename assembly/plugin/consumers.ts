// Gateway-issued client keys: who is calling, and their budget (reserved at admission in
// shared data like provider capacity, in a record of its own kind).

import { Config, ConsumerConfig, Limits } from "../config/model";
import { BudgetState } from "../admission/budget";
import { requestsLeft, rollWindow, tokensLeft, windowResetAt } from "../admission/window";
import { fnv1a32 } from "../lib/hash";
import { loadState } from "../host/store";
import { Reservation, reserveIn } from "./capacity/reservation";

const PREFIX = "ai-failover/consumer/";

export function findConsumer(cfg: Config, key: string): i32 {
  for (let i = 0; i < cfg.consumers.length; i++) {
    const c = unchecked(cfg.consumers[i]);
    if (c.credential.reveal() == key) return i;
  }
  return -1;
}

/** Changes when the consumer's budget changes (its window state then starts afresh). */
function budgetFingerprint(c: ConsumerConfig): u32 {
  return fnv1a32(c.name + "|" + c.tokensPerMinute.toString() + "|" + c.requestsPerMinute.toString());
}

/**
 * Keyed by name and budget: a Higress rule that redefines a consumer's limits has a budget of
 * its own (two views sharing one key would wipe each other's window on every request).
 */
function budgetKey(c: ConsumerConfig): string {
  return PREFIX + c.name + "/" + budgetFingerprint(c).toString(16);
}

function budgetLimits(c: ConsumerConfig): Limits {
  const l = new Limits();
  l.tokensPerMinute = c.tokensPerMinute;
  l.requestsPerMinute = c.requestsPerMinute;
  return l;
}

export function allowsModel(c: ConsumerConfig, model: string): bool {
  return c.models.length == 0 || c.models.includes(model);
}

/** The outcome of admitting a request against a consumer's budget. */
export class BudgetAdmission {
  admitted: bool = true;
  /** Held until the request (or the attempt it hands it to) ends; null when there is no budget. */
  reservation: Reservation<BudgetState> | null = null;
  /** What the consumer has left in its window (-1: no such limit), as shown to the client. */
  leftTokens: i64 = -1;
  leftRequests: i64 = -1;
  /** Refused: ms until the window frees up. */
  waitMs: i64 = 0;
}

/** Reserves `need` tokens and one request in the consumer's budget. */
export function admitConsumer(c: ConsumerConfig, need: i64, now: i64): BudgetAdmission {
  const out = new BudgetAdmission();
  if (c.tokensPerMinute == 0 && c.requestsPerMinute == 0) return out;
  const lim = budgetLimits(c);
  const key = budgetKey(c);
  const fp = budgetFingerprint(c);
  let r = reserveIn<BudgetState>(key, fp, lim, need, now, true);
  // Lost the CAS race every round (other workers writing): that is not "over budget".
  for (let k = 0; r.reservation === null && r.contended && k < 8; k++) r = reserveIn<BudgetState>(key, fp, lim, need, now, true);
  if (r.reservation !== null) {
    const w = r.window!;
    out.reservation = r.reservation;
    out.leftTokens = c.tokensPerMinute > 0 ? tokensLeft(w, lim) : -1;
    out.leftRequests = c.requestsPerMinute > 0 ? requestsLeft(w, lim) : -1;
    return out;
  }
  out.admitted = false;
  const cur = loadState<BudgetState>(key, fp);
  if (c.tokensPerMinute > 0) {
    const t = tokensLeft(cur, lim);
    out.leftTokens = t < 0 ? 0 : t;
  }
  if (c.requestsPerMinute > 0) {
    const q = requestsLeft(cur, lim);
    out.leftRequests = q < 0 ? 0 : q;
  }
  const wait = windowResetAt(cur, lim) - now;
  out.waitMs = wait < 0 ? 0 : wait;
  return out;
}

/** Tokens a consumer has left in its window now ([left, ms until the window frees up]); left -1: no token limit. */
export function consumerTokensLeft(c: ConsumerConfig, now: i64): i64[] {
  if (c.tokensPerMinute == 0) return [-1, 0];
  const lim = budgetLimits(c);
  const cur = loadState<BudgetState>(budgetKey(c), budgetFingerprint(c));
  rollWindow(cur, lim, now); // a window that has elapsed is a fresh one (not written back)
  const t = tokensLeft(cur, lim);
  const wait = windowResetAt(cur, lim) - now;
  return [t < 0 ? 0 : t, wait < 0 ? 0 : wait];
}
