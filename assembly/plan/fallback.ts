// Which model a request moves to when its own cannot serve it (config/fallbacks.ts): the next of
// the requested model's `fallbacks` when no provider of the model can take the request, the
// `contextWindowFallbacks` model after a 400 context_length_exceeded. Pure: the request decides
// when to ask, plans the attempt with upstreamRequest(p, api, <the model returned>, …) — which
// writes the provider's own name for that model into the body and an Azure classic path; the
// attempt's model is what x-ai-failover-model tells the client (plugin/request/response.ts MODEL_HEADER).

import { Config, ConsumerConfig } from "../config/model";
import { MAX_FALLBACKS } from "../config/fallbacks";

/** May consumer `c` (null: no consumers) use `model`? Its `models` list, when it has one. */
export function consumerAllows(c: ConsumerConfig | null, model: string): bool {
  return c === null || c.models.length == 0 || c.models.includes(model);
}

/**
 * The next model to try for a request for `requested` when no provider of the models tried so far
 * could take it ("": none left). Only `requested`'s own list is used (in order, not followed
 * transitively), so a request never tries a model twice: `tried` holds the models already tried
 * (`requested` need not be in it). Models `consumer` may not use are skipped.
 */
export function nextFallbackModel(cfg: Config, requested: string, tried: string[], consumer: ConsumerConfig | null = null): string {
  const map = cfg.fallbacks;
  if (requested.length == 0 || !map.has(requested)) return "";
  const list = map.get(requested);
  for (let i = 0; i < list.length; i++) {
    const m = unchecked(list[i]);
    if (m != requested && !tried.includes(m) && consumerAllows(consumer, m)) return m;
  }
  return "";
}

/**
 * The model to try after `model` answered 400 context_length_exceeded ("": none): its
 * contextWindowFallbacks entry, or, when `consumer` may not use that one or it was tried, the
 * entry after it along the chain (configuration keeps chains free of loops and at most
 * MAX_FALLBACKS long; the walk is bounded all the same).
 */
export function contextFallbackModel(cfg: Config, model: string, consumer: ConsumerConfig | null = null, tried: string[] = []): string {
  const map = cfg.contextWindowFallbacks;
  let cur = model;
  for (let step = 0; step < MAX_FALLBACKS; step++) {
    if (cur.length == 0 || !map.has(cur)) return "";
    cur = map.get(cur);
    if (cur != model && !tried.includes(cur) && consumerAllows(consumer, cur)) return cur;
  }
  return "";
}
