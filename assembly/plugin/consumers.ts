// Gateway-issued client keys: who is calling, and their budget (reserved at admission in
// shared data like provider capacity).

import { Config, ConsumerConfig, Limits } from "../config/model";
import { fnv1a } from "../lib/bytes";

const PREFIX = "ai-failover/consumer/";

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
