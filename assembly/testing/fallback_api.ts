// Test-facing view of model fallbacks and model rewrites (plan/fallback.ts, plan/upstream.ts,
// provider/route.ts takesBodyAsSent) over a configuration parsed from its text, as the plugin gets
// it. Compiled only into the unit-test module.

import { parseConfig } from "../config/parse";
import { Config, ConsumerConfig } from "../config/model";
import { scanRequest } from "../lib/json_scan";
import { contextFallbackModel, nextFallbackModel } from "../plan/fallback";
import { upstreamRequest } from "../plan/upstream";
import { ApiKind } from "../provider/api";
import { takesBodyAsSent } from "../provider/route";
import { TextEnv } from "./config_api";
import { JsonObject } from "./json_out";

function configOf(text: string, env: string): Config | null {
  const r = parseConfig(text, new TextEnv(env));
  return r.ok() ? r.config : null;
}

function list(csv: string): string[] {
  return csv.length == 0 ? new Array<string>() : csv.split(",");
}

/** "\u0000": no consumer; otherwise its `models` as "a,b" ("" = every model). */
function consumerOf(models: string): ConsumerConfig | null {
  if (models == "\u0000") return null;
  const c = new ConsumerConfig();
  c.name = "c";
  c.models = list(models);
  return c;
}

/**
 * `which` 0: nextFallbackModel(cfg, model, tried, consumer); 1: contextFallbackModel(cfg, model,
 * consumer, tried). "!config" when the configuration is invalid.
 */
export function planFallback(text: string, env: string, which: i32, model: string, tried: string, consumerModels: string): string {
  const cfg = configOf(text, env);
  if (cfg === null) return "!config";
  const c = consumerOf(consumerModels);
  return which == 0 ? nextFallbackModel(cfg, model, list(tried), c) : contextFallbackModel(cfg, model, c, list(tried));
}

/** The request provider `name` of the configuration gets for `model` (the client's body: `body`; `headerOnly`: not scanned). */
export function planUpstreamFor(text: string, env: string, name: string, kind: i32, model: string, body: string, headerOnly: bool): string {
  const cfg = configOf(text, env);
  if (cfg === null) return "{\"error\":\"!config\"}";
  let i = -1;
  for (let k = 0; k < cfg.providers.length; k++) if (cfg.providers[k].name == name) i = k;
  if (i < 0) return "{\"error\":\"!provider\"}";
  const p = cfg.providers[i];
  const bytes = Uint8Array.wrap(String.UTF8.encode(body));
  const r = upstreamRequest(p, <ApiKind>kind, model, "POST", bytes, headerOnly ? null : scanRequest(bytes), false);
  return new JsonObject()
    .str("path", r.path).str("model", r.model).str("body", String.UTF8.decode(r.body.buffer)).bool("bodyChanged", r.bodyChanged)
    // Could it take this body unchanged (header mode)?
    .bool("takesBodyAsSent", takesBodyAsSent(p, <ApiKind>kind, model, scanRequest(bytes).model))
    .toString();
}
