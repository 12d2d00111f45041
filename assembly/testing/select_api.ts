// Test-facing view of provider choice (select/selector.ts) with models, capacity and the
// reason when nothing can be chosen. Compiled only into the unit-test module.

import { ProviderConfig, ProviderType } from "../config/model";
import { ProviderState } from "../health/state";
import { choose } from "../select/selector";
import { Rng } from "../select/rng";

/**
 * Providers as "priority:weight:available:excluded:capacity:models;…" (flags "1"/"0"; models
 * joined by "+", empty = any; an "azure" type when models start with "@", keys of deployments).
 * Draws `n` times for `model` and returns "count0,count1,…|why" where `why` is the NoChoice of
 * the last draw that chose nothing (0 when every draw chose).
 */
export function selectDraws(spec: string, model: string, n: i32, seed: u64): string {
  const parts = spec.split(";");
  const providers = new Array<ProviderConfig>();
  const states = new Array<ProviderState>();
  const excluded = new Array<bool>();
  const capacity = new Array<bool>();
  for (let i = 0; i < parts.length; i++) {
    const f = unchecked(parts[i]).split(":");
    while (f.length < 6) f.push(f.length == 4 ? "1" : "");
    const p = new ProviderConfig();
    p.name = "p" + i.toString();
    p.priority = I32.parseInt(f[0]);
    p.weight = I32.parseInt(f[1]);
    let models = f[5];
    if (models.startsWith("@")) {
      p.type = ProviderType.AzureOpenAI;
      models = models.substring(1);
      const list = models.length > 0 ? models.split("+") : new Array<string>();
      for (let k = 0; k < list.length; k++) {
        p.deploymentKeys.push(list[k]);
        p.deploymentValues.push("dep-" + list[k]);
        p.models.push(list[k]);
      }
    } else {
      p.type = ProviderType.OpenAI;
      if (models.length > 0) p.models = models.split("+");
    }
    providers.push(p);
    const s = new ProviderState();
    s.healthy = f[2] == "1";
    states.push(s);
    excluded.push(f[3] == "1");
    capacity.push(f[4] != "0");
  }
  const counts = new Array<i32>(providers.length);
  let why = 0;
  const rng = new Rng(seed);
  for (let k = 0; k < n; k++) {
    const c = choose(providers, states, model, 1000, excluded, capacity, rng);
    if (c.index < 0) why = <i32>c.why;
    else counts[c.index]++;
  }
  return counts.join(",") + "|" + why.toString();
}
