// Where a request goes on a given provider: path, authority, credential header.
// Pure: built from the provider record only, never from the client's request headers.

import { AzureApi, ProviderConfig, ProviderType } from "../config/model";
import { ApiKind, apiOp, isDeploymentOp } from "./api";

/** A path built before: the provider record is held (so never confused with a later one at its address). */
class PathMemo {
  constructor(public p: ProviderConfig, public kind: ApiKind, public deployment: string, public path: string) {}
}
const PATH_MEMO_SIZE = 16;
const pathMemo: PathMemo[] = [];
let pathMemoNext = 0;

/**
 * Upstream :path for an API call on `p` with `deployment` (Azure) or model (OpenAI). The last
 * few are remembered (the same few paths are asked for on every request).
 */
export function upstreamPath(p: ProviderConfig, kind: ApiKind, deployment: string): string {
  for (let i = 0; i < pathMemo.length; i++) {
    const m = unchecked(pathMemo[i]);
    if (m.p === p && m.kind == kind && m.deployment == deployment) return m.path;
  }
  const path = buildPath(p, kind, deployment);
  const m = new PathMemo(p, kind, deployment, path);
  if (pathMemo.length < PATH_MEMO_SIZE) pathMemo.push(m);
  else {
    unchecked((pathMemo[pathMemoNext] = m));
    pathMemoNext = (pathMemoNext + 1) % PATH_MEMO_SIZE;
  }
  return path;
}

function buildPath(p: ProviderConfig, kind: ApiKind, deployment: string, subPath: string = "", query: string = ""): string {
  const op = apiOp(kind) + subPath;
  const q = query.length > 0 ? "?" + query : "";
  if (p.type == ProviderType.AzureOpenAI) {
    // The Responses API and conversations: the v1 surface (no api-version) on every resource.
    if (p.azureApi == AzureApi.V1 || kind == ApiKind.Responses || kind == ApiKind.ResponseItem || kind == ApiKind.Conversations) {
      return p.basePath + "/openai/v1/" + op + q;
    }
    const version = "?api-version=" + p.apiVersion + (query.length > 0 ? "&" + query : "");
    // Files and batches belong to the resource, not a deployment.
    if (!isDeploymentOp(kind)) return p.basePath + "/openai/" + op + version;
    return p.basePath + "/openai/deployments/" + deployment + "/" + op + version;
  }
  // basePath is complete here: config fills the "/v1" default, and an explicit "" means the
  // API sits at the root of the host (OpenAI-compatible servers); do not default it again.
  return p.basePath + "/" + op + q;
}

/** Upstream :path for a request naming a stored object (`subPath`) or carrying a query. */
export function objectPath(p: ProviderConfig, kind: ApiKind, deployment: string, subPath: string, query: string): string {
  if (subPath.length == 0 && query.length == 0) return upstreamPath(p, kind, deployment);
  return buildPath(p, kind, deployment, subPath, query);
}

/** Must the body's "model" carry the upstream model/deployment name? */
export function bodyNeedsModel(p: ProviderConfig, kind: ApiKind): bool {
  if (p.type == ProviderType.OpenAI) return true;
  return p.azureApi == AzureApi.V1 || kind == ApiKind.Responses || kind == ApiKind.Conversations;
}

/**
 * Can `p` take a request for `model` whose body goes as the client sent it, naming `bodyModel`
 * (header mode: the body is never rewritten)? Only if `p` does not read the model from the body, or
 * reads there its own name for `model` (an Azure deployment, an OpenAI provider's `models` map
 * entry): otherwise it would serve, or refuse, another model than the one chosen.
 */
export function takesBodyAsSent(p: ProviderConfig, kind: ApiKind, model: string, bodyModel: string): bool {
  return !bodyNeedsModel(p, kind) || p.upstreamModel(model) == bodyModel;
}

/** The health probe path: the models endpoint (authenticated, costs no tokens). */
export function probePath(p: ProviderConfig): string {
  if (p.healthPath.length > 0) return p.healthPath;
  if (p.type == ProviderType.AzureOpenAI) {
    if (p.azureApi == AzureApi.V1) return p.basePath + "/openai/v1/models";
    return p.basePath + "/openai/models?api-version=" + p.apiVersion;
  }
  return p.basePath + "/models";
}

/** Credential header name for the provider's scheme and credential k (an identity's token: Authorization). */
export function authHeaderName(p: ProviderConfig, k: i32 = 0): string {
  if (p.credentialAt(k).identity !== null) return "authorization";
  return p.type == ProviderType.AzureOpenAI ? "api-key" : "authorization";
}

/**
 * Credential header value for credential k; `token`: the identity's current token when
 * credential k is an identity. The only place a secret is turned into bytes on the wire.
 */
export function authHeaderValue(p: ProviderConfig, k: i32 = 0, token: string = ""): string {
  const c = p.credentialAt(k);
  if (c.identity !== null) return "Bearer " + token;
  const key = c.reveal();
  return p.type == ProviderType.AzureOpenAI ? key : "Bearer " + key;
}

/** Every header a client may use to carry a credential: all stripped before routing. */
export const CLIENT_CREDENTIAL_HEADERS: string[] = [
  "authorization", "api-key", "x-api-key", "openai-api-key", "azure-api-key",
  "proxy-authorization", "ocp-apim-subscription-key", "x-goog-api-key", "anthropic-api-key",
  // Envoy accepts underscores in header names by default (headers_with_underscores_action:
  // ALLOW), and CGI-style upstreams read `api_key` as `api-key`.
  "api_key", "x_api_key", "openai_api_key", "azure_api_key", "ocp_apim_subscription_key",
  // Other secret carriers of the Azure estate (API Management, Functions) and the browser's:
  // a provider never needs the client's cookies or these keys.
  "subscription-key", "x-functions-key", "cookie",
  // These pick the organization / project a provider key acts for: not the client's to choose.
  "openai-organization", "openai-project",
];

