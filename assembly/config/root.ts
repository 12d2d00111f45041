// The whole of one configuration object (global, or a Higress rule's merged view) → Config.

import { Config, IdentityConfig } from "./model";
import { EnvLookup } from "./env";
import { ObjReader } from "./walk";
import { childPath } from "./text";
import { ProviderList, ProviderMemo, readProviders } from "./providers";
import { readSections } from "./sections";
import { readIdentities } from "./identities";
import { checkConsumerKeys, ConsumerList, readConsumers } from "./consumers";
import { readFallbacks } from "./fallbacks";

export class ReadConfig {
  config: Config;
  /** config.providers with where each entry is (providerPath). */
  providers: ProviderList;
  /** The consumers with the path of each one's key. */
  consumers: ConsumerList;
  constructor(config: Config, providers: ProviderList, consumers: ConsumerList) {
    this.config = config;
    this.providers = providers;
    this.consumers = consumers;
  }

  /** Path of config.providers[k]'s entry. */
  providerPath(k: i32): string {
    return this.providers.pathAt(k);
  }
}

/**
 * Reads every section of `root` and reports its unknown members. `memo` carries provider
 * records across the views of one configuration (see ProviderMemo).
 */
export function readConfig(root: ObjReader, env: EnvLookup, memo: ProviderMemo | null = null,
  identities: IdentityConfig[] | null = null): ReadConfig {
  const cfg = new Config();
  // Identities are read once, at the top level (parse.ts); every rule's view shares them.
  if (identities === null) identities = readIdentities(root, env);
  else root.field("identities");
  cfg.identities = identities;
  const providers = readProviders(root, env, memo, identities);
  cfg.providers = providers.providers;
  readSections(root, cfg, env);
  checkTimeouts(cfg, providers, root);
  readFallbacks(root, cfg, providers);
  const consumers = readConsumers(root, env);
  cfg.consumers = consumers.consumers;
  checkConsumerKeys(consumers, cfg.providers, root.errs);
  root.finish();
  return new ReadConfig(cfg, providers, consumers);
}

/**
 * A provider's first-token limit must be shorter than its own upstreamTimeout.
 * A provider's first-byte limit must be shorter than its failover attempts' timeout: Envoy's router
 * drops a per-try timeout that is not (router.cc FilterUtility::finalTimeout), so the limit would
 * silently not apply.
 */
function checkTimeouts(cfg: Config, providers: ProviderList, root: ObjReader): void {
  let topReported = false;
  let tokenReported = false;
  for (let k = 0; k < cfg.providers.length; k++) {
    const p = unchecked(cfg.providers[k]);
    // The first token is waited for with the response headers held: the attempt's whole timeout
    // (the router's, x-envoy-upstream-rq-timeout-ms) would end it first with Envoy's own 504.
    const token = cfg.firstTokenTimeoutFor(p);
    if (token > 0 && p.upstreamTimeoutMs > 0 && token >= p.upstreamTimeoutMs && (p.firstTokenTimeoutMs >= 0 || !tokenReported)) {
      if (p.firstTokenTimeoutMs < 0) tokenReported = true;
      const at = p.firstTokenTimeoutMs >= 0 ? childPath(providers.pathAt(k), "firstTokenTimeout") : root.pathOf("firstTokenTimeout");
      root.errs.add(at, "must be shorter than the provider's upstreamTimeout (" + token.toString() + " ms ≥ " + p.upstreamTimeoutMs.toString() +
        " ms): the attempt's whole timeout would end the stream first" + (p.firstTokenTimeoutMs >= 0 ? "" : " (provider " + p.name + ")"));
    }
    const first = cfg.firstByteTimeoutFor(p);
    const total = cfg.calloutTimeoutFor(p);
    if (first <= 0 || first < total) continue;
    if (p.firstByteTimeoutMs < 0) {
      if (topReported) continue;
      topReported = true;
    }
    const at = p.firstByteTimeoutMs >= 0 ? childPath(providers.pathAt(k), "firstByteTimeout") : root.pathOf("firstByteTimeout");
    root.errs.add(at, "must be shorter than " + (p.upstreamTimeoutMs > 0 ? "the provider's upstreamTimeout" : "upstreamTimeout") + " (" +
      first.toString() + " ms ≥ " + total.toString() + " ms): Envoy ignores a per-try timeout that is not shorter than the whole timeout" +
      (p.firstByteTimeoutMs >= 0 ? "" : " (provider " + p.name + ")"));
  }
}
