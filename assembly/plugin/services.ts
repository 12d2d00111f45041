// What a worker VM's requests share: the configuration views, the metrics, the callout registry,
// the timers, Entra tokens, the cluster-wide limiter. Held by the root context (plugin/root.ts),
// which fills it at configure time; a request reaches it without knowing the root.

import { Config } from "../config/model";
import { Callouts } from "../host/callouts";
import { Rng } from "../select/rng";
import { BodyWaitWatch } from "./body_wait";
import { ClusterLimiter } from "./cluster/limiter";
import { Metrics } from "./metrics";
import { ModelEjections } from "./capacity/model_ejections";
import { RequestTimers } from "./timers";
import { Tokens } from "./credentials/tokens";
import { ConfigView } from "./views";

export class Services {
  config: Config | null = null;
  /** Global view first, then one per `_rules_` entry. */
  views: ConfigView[] = [];
  /** Some `_match_service_` rule: each request's cluster name is read. */
  rulesNeedCluster: bool = false;
  rng: Rng = new Rng(1);
  metrics: Metrics = new Metrics();
  callouts: Callouts = new Callouts();
  bodyWait: BodyWaitWatch = new BodyWaitWatch();
  timers: RequestTimers = new RequestTimers();
  modelsOut: ModelEjections = new ModelEjections();
  /** Entra tokens of the configured identities (shared by every worker). */
  tokens: Tokens = new Tokens(this.callouts, this.metrics, this.timers);
  /** Cluster-wide limits (clusterLimits): the rate limit service, or Redis in the Higress build. */
  cluster: ClusterLimiter = new ClusterLimiter();
}
