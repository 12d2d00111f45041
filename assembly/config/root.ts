// The whole of one configuration object (global, or a Higress rule's merged view) → Config.

import { Config } from "./model";
import { EnvLookup } from "./env";
import { ObjReader } from "./walk";
import { ProviderMemo, readProviders } from "./providers";
import { readSections } from "./sections";
import { checkConsumerKeys, ConsumerList, readConsumers } from "./consumers";

export class ReadConfig {
  config: Config;
  /** Path of each provider entry, parallel to config.providers. */
  providerPaths: string[];
  /** The consumers with the path of each one's key. */
  consumers: ConsumerList;
  constructor(config: Config, providerPaths: string[], consumers: ConsumerList) {
    this.config = config;
    this.providerPaths = providerPaths;
    this.consumers = consumers;
  }
}

/**
 * Reads every section of `root` and reports its unknown members. `memo` carries provider
 * records across the views of one configuration (see ProviderMemo).
 */
export function readConfig(root: ObjReader, env: EnvLookup, memo: ProviderMemo | null = null): ReadConfig {
  const cfg = new Config();
  const providers = readProviders(root, env, memo);
  cfg.providers = providers.providers;
  readSections(root, cfg);
  const consumers = readConsumers(root, env);
  cfg.consumers = consumers.consumers;
  checkConsumerKeys(consumers, cfg.providers, root.errs);
  root.finish();
  return new ReadConfig(cfg, providers.paths, consumers);
}
