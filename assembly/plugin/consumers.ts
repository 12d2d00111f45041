// Gateway-issued client keys: who is calling, and their budget (reserved at admission in
// shared data like provider capacity).

import { Config, ConsumerConfig, Limits } from "../config/model";
import { fnv1a } from "../lib/bytes";
import { getHeader, MapType } from "../host/calls";

const PREFIX = "ai-failover/consumer/";

/** The key a client presented: Bearer token, api-key or x-api-key. */
export function presentedKey(): string | null {
  const auth = getHeader(MapType.RequestHeaders, "authorization");
  if (auth !== null) {
    const a = auth.trim();
    if (a.length > 7 && a.substring(0, 7).toLowerCase() == "bearer ") return a.substring(7).trim();
  }
  const k = getHeader(MapType.RequestHeaders, "api-key");
  if (k !== null && k.length > 0) return k.trim();
  const x = getHeader(MapType.RequestHeaders, "x-api-key");
  if (x !== null && x.length > 0) return x.trim();
  return null;
}

export function findConsumer(cfg: Config, key: string): i32 {
  for (let i = 0; i < cfg.consumers.length; i++) {
    const c = unchecked(cfg.consumers[i]);
    if (c.credential.reveal() == key) return i;
  }
  return -1;
}

/**
 * Keyed by name and budget: a Higress rule that redefines a consumer's limits has a budget of
 * its own (two views sharing one key would wipe each other's window on every request).
 */
export function consumerKey(c: ConsumerConfig): string {
  return PREFIX + c.name + "/" + consumerFingerprint(c).toString(16);
}

/** Changes when the consumer's budget changes (its window state then starts afresh). */
export function consumerFingerprint(c: ConsumerConfig): u32 {
  return fnv1a(c.name + "|" + c.tokensPerMinute.toString() + "|" + c.requestsPerMinute.toString());
}

export function consumerLimits(c: ConsumerConfig): Limits {
  const l = new Limits();
  l.tokensPerMinute = c.tokensPerMinute;
  l.requestsPerMinute = c.requestsPerMinute;
  return l;
}

export function allowsModel(c: ConsumerConfig, model: string): bool {
  return c.models.length == 0 || c.models.includes(model);
}
