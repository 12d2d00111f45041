// Test-facing view of the configuration layer: parse a text with a given environment and
// return either {"errors":[...]} or a summary of the completed Config (every field, the
// credential only masked).

import { parseConfig } from "../config/parse";
import { EnvLookup } from "../config/env";
import { AzureApi, Config, ConsumerConfig, IdentityConfig, IdentityKind, ProviderConfig, ProviderType } from "../config/model";
import { JsonObject, jsonString } from "./json_out";

/** Environment from "K=V\n…" lines ("K=" is set but empty; lines without '=' are ignored). */
export class TextEnv extends EnvLookup {
  names: string[] = [];
  values: string[] = [];

  constructor(text: string) {
    super();
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = unchecked(lines[i]);
      const eq = line.indexOf("=");
      if (eq <= 0) continue;
      this.names.push(line.substring(0, eq));
      this.values.push(line.substring(eq + 1));
    }
  }

  get(name: string): string | null {
    const i = this.names.lastIndexOf(name);
    return i < 0 ? null : unchecked(this.values[i]);
  }
}

function providerJson(p: ProviderConfig): string {
  const deployments = new JsonObject();
  for (let i = 0; i < p.deploymentKeys.length; i++) {
    deployments.str(unchecked(p.deploymentKeys[i]), unchecked(p.deploymentValues[i]));
  }
  const limits = new JsonObject()
    .int("tokensPerMinute", p.limits.tokensPerMinute)
    .int("requestsPerMinute", p.limits.requestsPerMinute)
    .int("minRemainingTokens", p.limits.minRemainingTokens)
    .int("minRemainingRequests", p.limits.minRemainingRequests)
    .int("windowMs", p.limits.windowMs);
  return new JsonObject()
    .str("name", p.name)
    .str("type", p.type == ProviderType.AzureOpenAI ? "azure-openai" : "openai")
    .str("cluster", p.cluster)
    .str("host", p.host)
    .str("basePath", p.basePath)
    .str("api", p.type == ProviderType.AzureOpenAI ? (p.azureApi == AzureApi.V1 ? "v1" : "classic") : "")
    .str("apiVersion", p.apiVersion)
    .raw("deployments", deployments.toString())
    .strs("models", p.models)
    .raw("modelMap", modelMap(p))
    .str("credential", p.credential.masked())
    .str("credentialSource", p.credentialSource)
    .strs("credentials", maskedAll(p))
    .strs("credentialSources", p.credentialSources)
    .str("quota", p.quotaPerCredential ? "perCredential" : "shared")
    .int("priority", p.priority)
    .int("weight", p.weight)
    .bool("includeUsage", p.includeUsage)
    .raw("limits", limits.toString())
    .str("healthPath", p.healthPath)
    .str("fingerprint", p.fingerprint)
    .toString();
}

/** An OpenAI provider's `models` object (model → its name there); {} for a list. */
function modelMap(p: ProviderConfig): string {
  const o = new JsonObject();
  for (let i = 0; i < p.modelTargets.length && i < p.models.length; i++) o.str(unchecked(p.models[i]), unchecked(p.modelTargets[i]));
  return o.toString();
}

function fallbacksJson(c: Config): string {
  const o = new JsonObject();
  const keys = c.fallbacks.keys();
  for (let i = 0; i < keys.length; i++) o.strs(unchecked(keys[i]), c.fallbacks.get(unchecked(keys[i])));
  return o.toString();
}

function contextFallbacksJson(c: Config): string {
  const o = new JsonObject();
  const keys = c.contextWindowFallbacks.keys();
  for (let i = 0; i < keys.length; i++) o.str(unchecked(keys[i]), c.contextWindowFallbacks.get(unchecked(keys[i])));
  return o.toString();
}

function maskedAll(p: ProviderConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.credentials.length; i++) out.push(unchecked(p.credentials[i]).masked());
  return out;
}

function identityJson(id: IdentityConfig): string {
  return new JsonObject()
    .str("name", id.name)
    .str("type", id.kind == IdentityKind.ClientCredentials ? "clientCredentials" : id.kind == IdentityKind.ManagedIdentity ? "managedIdentity" : "appService")
    .str("cluster", id.cluster)
    .str("host", id.host)
    .str("path", id.path)
    .str("tenantId", id.tenantId)
    .str("clientId", id.clientId)
    .str("secret", id.secret.isEmpty() ? "" : id.secret.masked())
    .str("secretSource", id.secretSource)
    .str("scope", id.scope)
    .int("timeoutMs", id.timeoutMs)
    .str("fingerprint", id.fingerprint)
    .toString();
}

function consumerJson(c: ConsumerConfig): string {
  return new JsonObject()
    .str("name", c.name)
    .str("credential", c.credential.masked())
    .str("credentialSource", c.credentialSource)
    .int("tokensPerMinute", c.tokensPerMinute)
    .int("requestsPerMinute", c.requestsPerMinute)
    .strs("models", c.models)
    .toString();
}

function configJson(c: Config): string {
  const providers = new Array<string>();
  for (let i = 0; i < c.providers.length; i++) providers.push(providerJson(unchecked(c.providers[i])));
  const consumers = new Array<string>();
  for (let i = 0; i < c.consumers.length; i++) consumers.push(consumerJson(unchecked(c.consumers[i])));
  const onStatus = new Array<string>();
  for (let i = 0; i < c.retry.onStatus.length; i++) onStatus.push(unchecked(c.retry.onStatus[i]).toString());
  const rules = new Array<string>();
  for (let i = 0; i < c.rules.length; i++) {
    const r = unchecked(c.rules[i]);
    const rc = r.config;
    rules.push(new JsonObject()
      .strs("matchRoutes", r.matchRoutes)
      .strs("matchDomains", r.matchDomains)
      .raw("config", rc === null ? "null" : configJson(rc))
      .toString());
  }
  const identities = new Array<string>();
  for (let i = 0; i < c.identities.length; i++) identities.push(identityJson(unchecked(c.identities[i])));
  return new JsonObject()
    .raw("providers", "[" + providers.join(",") + "]")
    .raw("identities", "[" + identities.join(",") + "]")
    .raw("healthCheck", new JsonObject()
      .bool("enabled", c.healthCheck.enabled)
      .int("intervalMs", c.healthCheck.intervalMs)
      .int("timeoutMs", c.healthCheck.timeoutMs)
      .int("unhealthyThreshold", c.healthCheck.unhealthyThreshold)
      .int("healthyThreshold", c.healthCheck.healthyThreshold)
      .toString())
    .raw("retry", new JsonObject()
      .int("maxAttempts", c.retry.maxAttempts)
      .raw("onStatus", "[" + onStatus.join(",") + "]")
      .bool("onConnectFailure", c.retry.onConnectFailure)
      .int("maxAnswerBytes", c.retry.maxAnswerBytes)
      .int("maxHeldBodyBytes", c.retry.maxHeldBodyBytes)
      .bool("onContentFilter", c.retry.onContentFilter)
      .bool("onContextLength", c.retry.onContextLength)
      .toString())
    .raw("cooldown", new JsonObject()
      .int("defaultRateLimitMs", c.cooldown.defaultRateLimitMs)
      .int("authFailureMs", c.cooldown.authFailureMs)
      .int("consecutiveFailures", c.cooldown.consecutiveFailures)
      .int("baseEjectionMs", c.cooldown.baseEjectionMs)
      .int("maxEjectionMs", c.cooldown.maxEjectionMs)
      .toString())
    .raw("consumers", "[" + consumers.join(",") + "]")
    .raw("fallbacks", fallbacksJson(c))
    .raw("contextWindowFallbacks", contextFallbacksJson(c))
    .raw("streaming", new JsonObject()
      .bool("allow", c.streaming.allow)
      .bool("includeUsage", c.streaming.includeUsage)
      .toString())
    .int("defaultMaxTokens", c.defaultMaxTokens)
    .int("defaultImageTokens", c.defaultImageTokens)
    .int("maxRequestBodyBytes", c.maxRequestBodyBytes)
    .int("upstreamTimeoutMs", c.upstreamTimeoutMs)
    .str("mode", c.headerOnly ? "headers" : "body")
    .int("logLevel", c.logLevel)
    .int("seed", <i64>c.seed)
    .raw("rules", "[" + rules.join(",") + "]")
    .toString();
}

/** {"errors":[...]} or {"config":{...}} for `text` with environment `env` ("K=V\n…"). */
export function configSummary(text: string, env: string): string {
  const result = parseConfig(text, new TextEnv(env));
  const config = result.config;
  if (result.errors.length > 0 || config === null) {
    const items = new Array<string>(result.errors.length);
    for (let i = 0; i < result.errors.length; i++) unchecked((items[i] = jsonString(unchecked(result.errors[i]))));
    return "{\"errors\":[" + items.join(",") + "]}";
  }
  return "{\"config\":" + configJson(config) + "}";
}

/**
 * The stream limits each provider gets (firstTokenTimeout, streamIdleTimeout resolved against the
 * top level), or {"errors":[...]}: {"providers":[{"name","firstTokenTimeoutMs","streamIdleTimeoutMs"}]}.
 */
export function configStreamLimits(text: string, env: string): string {
  const result = parseConfig(text, new TextEnv(env));
  const config = result.config;
  if (result.errors.length > 0 || config === null) return configSummary(text, env);
  const out = new Array<string>();
  for (let i = 0; i < config.providers.length; i++) {
    const p = unchecked(config.providers[i]);
    out.push(new JsonObject().str("name", p.name).int("firstTokenTimeoutMs", config.firstTokenTimeoutFor(p))
      .int("streamIdleTimeoutMs", config.streamIdleTimeoutFor(p)).toString());
  }
  return "{\"providers\":[" + out.join(",") + "]}";
}
