// What the client asked for, read from the request path alone.

export const enum ApiKind {
  Unknown = 0,
  ChatCompletions = 1,
  Completions = 2,
  Embeddings = 3,
  Responses = 4,
  Models = 5,
}

export function apiOp(kind: ApiKind): string {
  switch (kind) {
    case ApiKind.ChatCompletions: return "chat/completions";
    case ApiKind.Completions: return "completions";
    case ApiKind.Embeddings: return "embeddings";
    case ApiKind.Responses: return "responses";
    case ApiKind.Models: return "models";
  }
  return "";
}

export function apiName(kind: ApiKind): string {
  switch (kind) {
    case ApiKind.ChatCompletions: return "chat";
    case ApiKind.Completions: return "completions";
    case ApiKind.Embeddings: return "embeddings";
    case ApiKind.Responses: return "responses";
    case ApiKind.Models: return "models";
  }
  return "unknown";
}

export class ApiRequest {
  kind: ApiKind = ApiKind.Unknown;
  /** Azure classic paths name a deployment; the gateway treats it as the model name. */
  pathModel: string = "";
  /** The client used an Azure-style path (classic or v1). */
  azureStyle: bool = false;
}

function opKind(op: string): ApiKind {
  if (op == "chat/completions") return ApiKind.ChatCompletions;
  if (op == "completions") return ApiKind.Completions;
  if (op == "embeddings") return ApiKind.Embeddings;
  if (op == "responses") return ApiKind.Responses;
  if (op == "models") return ApiKind.Models;
  return ApiKind.Unknown;
}

/**
 * Classifies OpenAI paths (/v1/chat/completions, also without /v1), Azure classic
 * (/openai/deployments/{d}/chat/completions?api-version=…) and Azure v1 (/openai/v1/…).
 */
export function classifyPath(path: string): ApiRequest {
  const out = new ApiRequest();
  let p = path;
  const q = p.indexOf("?");
  if (q >= 0) p = p.substring(0, q);
  while (p.length > 1 && p.endsWith("/")) p = p.substring(0, p.length - 1);
  if (p.startsWith("/openai/deployments/")) {
    const rest = p.substring(20);
    const slash = rest.indexOf("/");
    if (slash <= 0) return out;
    out.azureStyle = true;
    out.pathModel = rest.substring(0, slash);
    out.kind = opKind(rest.substring(slash + 1));
    if (out.kind == ApiKind.Models) out.kind = ApiKind.Unknown;
    return out;
  }
  if (p.startsWith("/openai/v1/")) {
    out.azureStyle = true;
    out.kind = opKind(p.substring(11));
    return out;
  }
  if (p == "/openai/models") {
    out.azureStyle = true;
    out.kind = ApiKind.Models;
    return out;
  }
  if (p.startsWith("/v1/")) {
    out.kind = opKind(p.substring(4));
    return out;
  }
  if (p.length > 1) out.kind = opKind(p.substring(1));
  return out;
}
