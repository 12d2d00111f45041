/**
 * URL → API for each provider kind. Pure: no knowledge of deployments or keys.
 *
 * Azure classic: POST /openai/deployments/{d}/chat/completions|embeddings|completions?api-version=…
 *                POST /openai/responses?api-version=…   (deployment = body.model)
 *                GET  /openai/models?api-version=…
 *   (without api-version Azure answers 404 "Resource not found")
 * Azure v1:      POST /openai/v1/chat/completions|embeddings|completions|responses, GET /openai/v1/models
 *                (deployment = body.model, api-version optional)
 * OpenAI:        POST /v1/chat/completions|embeddings|completions|responses, GET /v1/models
 * each under the provider's basePath (OpenAI: in place of /v1).
 */
import type { ApiName, ProviderKind, Surface } from "./types.ts";

export interface Route {
  surface: Surface;
  api: ApiName;
  /** From the path (Azure classic). Otherwise the body's `model` names it. */
  pathDeployment?: string;
  /** Azure classic requires api-version in the query. */
  needsApiVersion: boolean;
}

const API_BY_SUFFIX: Record<string, ApiName> = {
  "chat/completions": "chat",
  embeddings: "embeddings",
  completions: "completions",
  responses: "responses",
};

function post(method: string, api: ApiName | undefined): ApiName | undefined {
  return method === "POST" ? api : undefined;
}

/**
 * `basePath` is the prefix the provider serves its API under (the plugin's `basePath`): OpenAI
 * default "/v1" (a Groq-style server: "/openai/v1"; one at the host's root: ""), Azure default ""
 * (before "/openai/…"). A path outside it is not the API: 404.
 */
export function resolveRoute(kind: ProviderKind, method: string, path: string, basePath?: string): Route | undefined {
  const base = basePath ?? (kind === "openai" ? "/v1" : "");
  let p = path.replace(/\/+$/, "");
  if (base) {
    if (p !== base && !p.startsWith(base + "/")) return undefined;
    p = p.slice(base.length);
  }
  if (kind === "openai") {
    if (p === "/models" && method === "GET") return { surface: "openai", api: "models", needsApiVersion: false };
    const m = /^\/(.+)$/.exec(p);
    const api = m ? post(method, API_BY_SUFFIX[m[1]!]) : undefined;
    return api ? { surface: "openai", api, needsApiVersion: false } : undefined;
  }
  if (p === "/openai/v1/models" && method === "GET") return { surface: "azure-v1", api: "models", needsApiVersion: false };
  if (p === "/openai/models" && method === "GET") return { surface: "azure-classic", api: "models", needsApiVersion: true };
  if (p === "/openai/responses" && method === "POST") {
    return { surface: "azure-classic", api: "responses", needsApiVersion: true };
  }
  const v1 = /^\/openai\/v1\/(.+)$/.exec(p);
  if (v1) {
    const api = post(method, API_BY_SUFFIX[v1[1]!]);
    return api ? { surface: "azure-v1", api, needsApiVersion: false } : undefined;
  }
  const classic = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings|completions)$/.exec(p);
  if (classic) {
    const api = post(method, API_BY_SUFFIX[classic[2]!]);
    if (!api) return undefined;
    return { surface: "azure-classic", api, pathDeployment: decodeURIComponent(classic[1]!), needsApiVersion: true };
  }
  return undefined;
}
