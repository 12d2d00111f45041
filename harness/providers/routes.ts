/**
 * URL → API for each provider kind. Pure: no knowledge of deployments or keys.
 *
 * Deployment-scoped APIs (the deployment/model comes from the path or the body):
 *   Azure classic: POST /openai/deployments/{d}/chat/completions|embeddings|completions
 *                       |images/generations|images/edits|audio/transcriptions|audio/translations|audio/speech?api-version=…
 *                  POST /openai/responses?api-version=…   (deployment = body.model)
 *   Azure v1 / OpenAI: POST {prefix}/chat/completions|embeddings|completions|responses|images/…|audio/…
 *                  (deployment/model = body.model, or the multipart field `model`)
 * Resource-scoped APIs (state of one resource / organisation, no deployment):
 *   responses/{id} (GET, DELETE), responses/{id}/cancel (POST), responses/{id}/input_items (GET),
 *   conversations (POST), conversations/{id} (GET, POST, DELETE), conversations/{id}/items (GET, POST),
 *   conversations/{id}/items/{item} (GET, DELETE),
 *   files (POST multipart, GET), files/{id} (GET, DELETE), files/{id}/content (GET),
 *   batches (POST, GET), batches/{id} (GET), batches/{id}/cancel (POST)
 *   under /openai/…?api-version= (Azure classic), /openai/v1/… (Azure v1), {basePath}/… (OpenAI).
 * Models: GET /openai/models?api-version=…, /openai/v1/models, {basePath}/models.
 * (Azure classic without api-version answers 404 "Resource not found".)
 * Each under the provider's basePath (OpenAI: in place of /v1).
 */
import type { ApiName, ProviderKind, Surface } from "./types.ts";

export interface Route {
  surface: Surface;
  api: ApiName;
  /** What on the API: "create" for the deployment-scoped calls, else "get", "list", "cancel" … */
  op: string;
  /** From the path (Azure classic). Otherwise the body's `model` names it. */
  pathDeployment?: string;
  /** Azure classic requires api-version in the query. */
  needsApiVersion: boolean;
  /** Path ids: responses/{id}, files/{id}, conversations/{id}/items/{subId} … */
  id?: string;
  subId?: string;
}

/** Deployment-scoped APIs: path suffix → api and op. */
const DEPLOYMENT_APIS: Record<string, { api: ApiName; op: string }> = {
  "chat/completions": { api: "chat", op: "create" },
  embeddings: { api: "embeddings", op: "create" },
  completions: { api: "completions", op: "create" },
  responses: { api: "responses", op: "create" },
  "images/generations": { api: "images", op: "generations" },
  "images/edits": { api: "images", op: "edits" },
  "audio/transcriptions": { api: "audio", op: "transcriptions" },
  "audio/translations": { api: "audio", op: "translations" },
  "audio/speech": { api: "audio", op: "speech" },
};

const RESOURCE_APIS = new Set<ApiName>(["conversations", "files", "batches"]);

/** True for calls that name a deployment/model (rate window, token counting); false for resource state. */
export function isDeploymentCall(route: Route): boolean {
  return route.api !== "models" && !(route.api === "responses" && route.op !== "create") && !RESOURCE_APIS.has(route.api);
}

type Match = { api: ApiName; op: string; id?: string; subId?: string };

/** Resource-scoped paths (relative, no leading slash). */
function resourceMatch(method: string, rest: string): Match | undefined {
  const seg = rest.split("/").map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  const [a, id, sub, subId] = seg;
  const n = seg.length;
  const m = (api: ApiName, op: string): Match => ({ api, op, id, subId });
  if (a === "responses" && n >= 2 && id) {
    if (n === 2 && method === "GET") return m("responses", "get");
    if (n === 2 && method === "DELETE") return m("responses", "delete");
    if (n === 3 && sub === "cancel" && method === "POST") return m("responses", "cancel");
    if (n === 3 && sub === "input_items" && method === "GET") return m("responses", "input_items");
    return undefined;
  }
  if (a === "conversations") {
    if (n === 1) return method === "POST" ? m("conversations", "create") : undefined;
    if (!id) return undefined;
    if (n === 2) return method === "GET" ? m("conversations", "get") : method === "POST" ? m("conversations", "update") : method === "DELETE" ? m("conversations", "delete") : undefined;
    if (sub !== "items") return undefined;
    if (n === 3) return method === "GET" ? m("conversations", "items") : method === "POST" ? m("conversations", "add_items") : undefined;
    if (n === 4 && subId) return method === "GET" ? m("conversations", "item") : method === "DELETE" ? m("conversations", "delete_item") : undefined;
    return undefined;
  }
  if (a === "files") {
    if (n === 1) return method === "POST" ? m("files", "create") : method === "GET" ? m("files", "list") : undefined;
    if (!id) return undefined;
    if (n === 2) return method === "GET" ? m("files", "get") : method === "DELETE" ? m("files", "delete") : undefined;
    if (n === 3 && sub === "content" && method === "GET") return m("files", "content");
    return undefined;
  }
  if (a === "batches") {
    if (n === 1) return method === "POST" ? m("batches", "create") : method === "GET" ? m("batches", "list") : undefined;
    if (!id) return undefined;
    if (n === 2 && method === "GET") return m("batches", "get");
    if (n === 3 && sub === "cancel" && method === "POST") return m("batches", "cancel");
    return undefined;
  }
  return undefined;
}

/** `{prefix}/…` of Azure v1 and OpenAI: every API by its relative path. */
function anyMatch(method: string, rest: string): Match | undefined {
  const dep = DEPLOYMENT_APIS[rest];
  if (dep) return method === "POST" ? dep : undefined;
  return resourceMatch(method, rest);
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
    if (p === "/models" && method === "GET") return { surface: "openai", api: "models", op: "list", needsApiVersion: false };
    const m = /^\/(.+)$/.exec(p);
    const hit = m ? anyMatch(method, m[1]!) : undefined;
    return hit ? { surface: "openai", needsApiVersion: false, ...hit } : undefined;
  }
  if (p === "/openai/v1/models" && method === "GET") return { surface: "azure-v1", api: "models", op: "list", needsApiVersion: false };
  if (p === "/openai/models" && method === "GET") return { surface: "azure-classic", api: "models", op: "list", needsApiVersion: true };
  const v1 = /^\/openai\/v1\/(.+)$/.exec(p);
  if (v1) {
    const hit = anyMatch(method, v1[1]!);
    return hit ? { surface: "azure-v1", needsApiVersion: false, ...hit } : undefined;
  }
  if (p === "/openai/responses") {
    return method === "POST" ? { surface: "azure-classic", api: "responses", op: "create", needsApiVersion: true } : undefined;
  }
  const classic = /^\/openai\/deployments\/([^/]+)\/(.+)$/.exec(p);
  if (classic) {
    const dep = DEPLOYMENT_APIS[classic[2]!];
    if (!dep || dep.api === "responses" || method !== "POST") return undefined;
    return { surface: "azure-classic", ...dep, pathDeployment: decodeURIComponent(classic[1]!), needsApiVersion: true };
  }
  const res = /^\/openai\/(.+)$/.exec(p);
  if (res) {
    const hit = resourceMatch(method, res[1]!);
    return hit ? { surface: "azure-classic", needsApiVersion: true, ...hit } : undefined;
  }
  return undefined;
}
