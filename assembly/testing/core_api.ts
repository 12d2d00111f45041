// Test-facing exports of the pure core (request scanning, paths, selection, health
// transitions). Compiled only into the unit-test module, never into the product.

import { scanRequest } from "../lib/json_scan";
import { classifyPath, ApiKind } from "../provider/api";
import { upstreamPath, probePath, authHeaderName, bodyNeedsModel } from "../provider/route";
import { AzureApi, CooldownConfig, HealthCheckConfig, ProviderConfig, ProviderType, Credential } from "../config/model";
import { ProviderState, Reason } from "../health/state";
import { BudgetState } from "../admission/budget";
import { ClusterPool } from "../cluster/pool";
import { applyProbe, applyResponse, classifyStatus } from "../health/transitions";
import { choose } from "../select/selector";
import { Rng } from "../select/rng";
import { jsonString } from "./json_out";

export function coreScanRequest(body: string): string {
  const s = scanRequest(Uint8Array.wrap(String.UTF8.encode(body)));
  return "{\"ok\":" + (s.ok ? "true" : "false") +
    ",\"error\":" + jsonString(s.error) +
    ",\"model\":" + jsonString(s.model) +
    ",\"modelStart\":" + s.modelStart.toString() +
    ",\"stream\":" + (s.stream ? "true" : "false") +
    ",\"maxTokens\":" + s.maxTokens.toString() +
    ",\"choices\":" + s.choices.toString() +
    ",\"store\":" + s.store.toString() +
    ",\"hasStreamOptions\":" + (s.hasStreamOptions ? "true" : "false") +
    ",\"includeUsage\":" + s.includeUsage.toString() +
    ",\"promptBytes\":" + s.promptBytes.toString() +
    ",\"messageCount\":" + s.messageCount.toString() +
    ",\"images\":" + s.images.toString() +
    ",\"audioBytes\":" + s.audioBytes.toString() +
    ",\"promptTokens\":" + s.promptTokens().toString() +
    ",\"objectEnd\":" + s.objectEnd.toString() + "}";
}

export function coreClassifyPath(path: string): string {
  const r = classifyPath(path);
  return r.kind.toString() + "|" + r.pathModel + "|" + (r.azureStyle ? "azure" : "openai");
}

/** classifyPath's stored-object fields: kind|subPath|objectId|query. */
export function coreClassifyObject(path: string): string {
  const r = classifyPath(path);
  return r.kind.toString() + "|" + r.subPath + "|" + r.objectId + "|" + r.query;
}

function provider(type: i32, api: i32, basePath: string, apiVersion: string): ProviderConfig {
  const p = new ProviderConfig();
  p.name = "p";
  p.type = type == 0 ? ProviderType.AzureOpenAI : ProviderType.OpenAI;
  p.azureApi = api == 0 ? AzureApi.Classic : AzureApi.V1;
  p.basePath = basePath;
  p.apiVersion = apiVersion;
  p.credential = new Credential("secret-value-1234");
  return p;
}

/** "path|probe|authHeader|bodyNeedsModel" for a provider shape and API kind. */
export function coreRoute(type: i32, api: i32, basePath: string, apiVersion: string, kind: i32, deployment: string): string {
  const p = provider(type, api, basePath, apiVersion);
  return upstreamPath(p, <ApiKind>kind, deployment) + "|" + probePath(p) + "|" + authHeaderName(p) + "|" +
    (bodyNeedsModel(p, <ApiKind>kind) ? "1" : "0");
}

/**
 * Weighted choice over providers described as "priority:weight:available:excluded;…";
 * draws `n` times with `seed` and returns the count of picks per provider, comma-separated
 * (the last entry counts "no choice").
 */
export function coreChoose(spec: string, n: i32, seed: u64): string {
  const parts = spec.split(";");
  const providers = new Array<ProviderConfig>();
  const states = new Array<ProviderState>();
  const excluded = new Array<bool>();
  for (let i = 0; i < parts.length; i++) {
    const f = parts[i].split(":");
    const p = new ProviderConfig();
    p.name = "p" + i.toString();
    p.type = ProviderType.OpenAI;
    p.priority = I32.parseInt(f[0]);
    p.weight = I32.parseInt(f[1]);
    providers.push(p);
    const s = new ProviderState();
    s.healthy = f[2] == "1";
    states.push(s);
    excluded.push(f.length > 3 && f[3] == "1");
  }
  const counts = new Array<i32>(providers.length + 1);
  const rng = new Rng(seed);
  for (let k = 0; k < n; k++) {
    const c = choose(providers, states, "", 1000, excluded, [], rng);
    if (c.index < 0) counts[providers.length]++;
    else counts[c.index]++;
  }
  return counts.join(",");
}

/**
 * Applies a sequence of probe statuses ("200,500,500,200") with thresholds and returns the
 * healthy flag after each ("1,1,0,1"), plus "|credentialBad" at the end.
 */
export function coreProbes(statuses: string, unhealthy: i32, healthy: i32): string {
  const hc = new HealthCheckConfig();
  hc.unhealthyThreshold = unhealthy;
  hc.healthyThreshold = healthy;
  const cd = new CooldownConfig();
  const s = new ProviderState();
  const list = statuses.split(",");
  const out = new Array<string>();
  for (let i = 0; i < list.length; i++) {
    const st = I32.parseInt(list[i]);
    applyProbe(s, classifyStatus(st, false), st, 1000 + <i64>i * 1000, 0, hc, cd);
    out.push(s.healthy ? "1" : "0");
  }
  return out.join(",") + "|" + (s.credentialBad ? "1" : "0");
}

/** Live outcomes ("503,503,503") → available flag after each at the same instant. */
export function coreResponses(statuses: string, consecutive: i32, retryAfterMs: i64): string {
  const cd = new CooldownConfig();
  cd.consecutiveFailures = consecutive;
  const s = new ProviderState();
  const list = statuses.split(",");
  const out = new Array<string>();
  for (let i = 0; i < list.length; i++) {
    const st = I32.parseInt(list[i]);
    applyResponse(s, classifyStatus(st, false), 1000, retryAfterMs, cd);
    out.push(s.available(1000) ? "1" : "0");
  }
  return out.join(",") + "|" + s.cooldownUntilMs.toString();
}

/** Round trip of the shared-data layout. */
export function coreStateRoundTrip(): bool {
  const s = new ProviderState();
  s.fingerprint = 0xdeadbeef;
  s.healthy = false;
  s.credentialBad = true;
  s.cooldownUntilMs = 123456789012;
  s.remainingTokens = 4242;
  s.tokensReserved = 777;
  const d = ProviderState.decode(s.encode());
  return d.fingerprint == s.fingerprint && !d.healthy && d.credentialBad && d.cooldownUntilMs == s.cooldownUntilMs &&
    d.remainingTokens == 4242 && d.tokensReserved == 777 && ProviderState.decode(new ArrayBuffer(3)).healthy;
}

/**
 * A record encoded by the record codec (lib/record.ts) with every field set to a value of its own
 * (field n: n × 0x0101…, cut to its width), as hex: the test holds it against the byte layout
 * the record has in shared data (kind 0: provider state, 1: consumer budget, 2: cluster pool);
 * "!roundtrip" when decoding it does not give the same bytes back.
 */
export function coreRecordBytes(kind: i32): string {
  let buf: ArrayBuffer;
  let again: ArrayBuffer;
  if (kind == 0) {
    const s = new ProviderState();
    s.fingerprint = 0x01010101; s.healthy = true; s.credentialBad = true; s.reason = <Reason>3; s.badCredentials = 0x04;
    s.consecutiveFailures = 0x05050505; s.consecutiveSuccesses = 0x06060606; s.probeFailures = 0x07070707; s.probeSuccesses = 0x08080808;
    s.ejections = 0x09090909; s.cooldownUntilMs = 0x0a0a0a0a0a0a0a0a; s.remainingTokens = 0x0b0b0b0b0b0b0b0b; s.remainingRequests = 0x0c0c0c0c0c0c0c0c;
    s.remainingAtMs = 0x0d0d0d0d0d0d0d0d; s.lastProbeMs = 0x0e0e0e0e0e0e0e0e; s.lastProbeStatus = 0x0f0f0f0f; s.windowStartMs = 0x1010101010101010;
    s.tokensReserved = 0x1111111111111111; s.requestsReserved = 0x1212121212121212; s.tokensAtReport = 0x1313131313131313;
    s.requestsAtReport = 0x1414141414141414; s.badCredentialsUntilMs = 0x1515151515151515; s.ejectedAtMs = 0x1616161616161616;
    s.trialUntilMs = 0x1717171717171717;
    buf = s.encode();
    again = ProviderState.decode(buf).encode();
  } else if (kind == 1) {
    const b = new BudgetState();
    b.fingerprint = 0x01010101; b.windowStartMs = 0x0202020202020202; b.tokensReserved = 0x0303030303030303; b.requestsReserved = 0x0404040404040404;
    buf = b.encode();
    const d = new BudgetState();
    again = d.decodeFrom(buf) ? d.encode() : new ArrayBuffer(0);
  } else {
    const c = new ClusterPool();
    c.fingerprint = 0x01010101; c.windowEndMs = 0x0202020202020202; c.mode = 0x03030303; c.leased = 0x0404040404040404;
    c.unreported = 0x0505050505050505; c.degradedUntilMs = 0x0606060606060606; c.fallback = 0x0707070707070707;
    c.fallbackStartMs = 0x0808080808080808; c.lastRemaining = 0x0909090909090909; c.borrowed = 0x0a0a0a0a0a0a0a0a;
    buf = c.encode();
    const d = new ClusterPool();
    again = d.decodeFrom(buf) ? d.encode() : new ArrayBuffer(0);
  }
  const a = Uint8Array.wrap(buf);
  const b = Uint8Array.wrap(again);
  if (a.length != b.length) return "!roundtrip";
  let out = "";
  for (let i = 0; i < a.length; i++) {
    if (a[i] != b[i]) return "!roundtrip";
    out += (<u32>a[i]).toString(16).padStart(2, "0");
  }
  return out;
}
