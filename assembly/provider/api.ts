// What the client asked for, read from the request path alone.

import { isIdChar } from "../lib/json_fields";

export const enum ApiKind {
  Unknown = 0,
  ChatCompletions = 1,
  Completions = 2,
  Embeddings = 3,
  Responses = 4,
  Models = 5,
  /** GET/DELETE /responses/{id}, POST /responses/{id}/cancel, GET /responses/{id}/input_items. */
  ResponseItem = 6,
  /** /conversations and /conversations/{id}[/items[/{item}]]. */
  Conversations = 7,
  /** /files, /files/{id}, /files/{id}/content (uploads are multipart). */
  Files = 8,
  /** /batches, /batches/{id}, /batches/{id}/cancel. */
  Batches = 9,
  ImageGenerations = 10,
  /** Multipart. */
  ImageEdits = 11,
  /** Multipart. */
  AudioTranscriptions = 12,
  /** Multipart. */
  AudioTranslations = 13,
  AudioSpeech = 14,
}

/**
 * Does the provider keep state under ids of this API (follow-ups must reach the provider that made
 * them)? Requests of these APIs name no model (they act on stored objects or list them).
 */
export function isStateful(kind: ApiKind): bool {
  return kind == ApiKind.ResponseItem || kind == ApiKind.Conversations || kind == ApiKind.Files || kind == ApiKind.Batches;
}

/** Azure classic serves these under /openai/deployments/{deployment}/… */
export function isDeploymentOp(kind: ApiKind): bool {
  return kind == ApiKind.ChatCompletions || kind == ApiKind.Completions || kind == ApiKind.Embeddings ||
    kind == ApiKind.ImageGenerations || kind == ApiKind.ImageEdits || kind == ApiKind.AudioTranscriptions ||
    kind == ApiKind.AudioTranslations || kind == ApiKind.AudioSpeech;
}

export function apiOp(kind: ApiKind): string {
  switch (kind) {
    case ApiKind.ChatCompletions: return "chat/completions";
    case ApiKind.Completions: return "completions";
    case ApiKind.Embeddings: return "embeddings";
    case ApiKind.Responses: return "responses";
    case ApiKind.Models: return "models";
    case ApiKind.ResponseItem: return "responses";
    case ApiKind.Conversations: return "conversations";
    case ApiKind.Files: return "files";
    case ApiKind.Batches: return "batches";
    case ApiKind.ImageGenerations: return "images/generations";
    case ApiKind.ImageEdits: return "images/edits";
    case ApiKind.AudioTranscriptions: return "audio/transcriptions";
    case ApiKind.AudioTranslations: return "audio/translations";
    case ApiKind.AudioSpeech: return "audio/speech";
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
    case ApiKind.ResponseItem: return "response_item";
    case ApiKind.Conversations: return "conversations";
    case ApiKind.Files: return "files";
    case ApiKind.Batches: return "batches";
    case ApiKind.ImageGenerations: return "images";
    case ApiKind.ImageEdits: return "image_edits";
    case ApiKind.AudioTranscriptions: return "transcriptions";
    case ApiKind.AudioTranslations: return "translations";
    case ApiKind.AudioSpeech: return "speech";
  }
  return "unknown";
}

export class ApiRequest {
  kind: ApiKind = ApiKind.Unknown;
  /** Azure classic paths name a deployment; the gateway treats it as the model name. */
  pathModel: string = "";
  /** The client used an Azure-style path (classic or v1). */
  azureStyle: bool = false;
  /** What follows the operation in the path ("/resp_123/cancel"), for APIs on stored objects. */
  subPath: string = "";
  /** The stored object the path names ("resp_123", "file-abc"), "" when none. */
  objectId: string = "";
  /** The client's query string without api-version ("limit=10&after=x"), for list and item APIs. */
  query: string = "";
}

function opKind(op: string): ApiKind {
  if (op == "chat/completions") return ApiKind.ChatCompletions;
  if (op == "completions") return ApiKind.Completions;
  if (op == "embeddings") return ApiKind.Embeddings;
  if (op == "responses") return ApiKind.Responses;
  if (op == "models") return ApiKind.Models;
  if (op == "conversations") return ApiKind.Conversations;
  if (op == "files") return ApiKind.Files;
  if (op == "batches") return ApiKind.Batches;
  if (op == "images/generations") return ApiKind.ImageGenerations;
  if (op == "images/edits") return ApiKind.ImageEdits;
  if (op == "audio/transcriptions") return ApiKind.AudioTranscriptions;
  if (op == "audio/translations") return ApiKind.AudioTranslations;
  if (op == "audio/speech") return ApiKind.AudioSpeech;
  return ApiKind.Unknown;
}

/** An id as the services make them: letters, digits, '-', '_' (never '/', '.', '%'). */
function isObjectId(s: string): bool {
  if (s.length == 0 || s.length > 128) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || !isIdChar(<u8>c)) return false;
  }
  return true;
}

/** The operation of `rest` ("responses/resp_1/cancel" → Responses item), filling subPath/objectId. */
function classifyOp(rest: string, out: ApiRequest): ApiKind {
  const direct = opKind(rest);
  if (direct != ApiKind.Unknown) return direct;
  const slash = rest.indexOf("/");
  if (slash <= 0) return ApiKind.Unknown;
  const head = rest.substring(0, slash);
  const tail = rest.substring(slash);
  const segs = tail.substring(1).split("/");
  const id = unchecked(segs[0]);
  if (!isObjectId(id)) return ApiKind.Unknown;
  let kind = ApiKind.Unknown;
  if (head == "responses") {
    if (segs.length == 1 || (segs.length == 2 && (unchecked(segs[1]) == "cancel" || unchecked(segs[1]) == "input_items"))) kind = ApiKind.ResponseItem;
  } else if (head == "conversations") {
    if (segs.length == 1 || (segs[1] == "items" && (segs.length == 2 || (segs.length == 3 && isObjectId(unchecked(segs[2])))))) kind = ApiKind.Conversations;
  } else if (head == "files") {
    if (segs.length == 1 || (segs.length == 2 && unchecked(segs[1]) == "content")) kind = ApiKind.Files;
  } else if (head == "batches") {
    if (segs.length == 1 || (segs.length == 2 && unchecked(segs[1]) == "cancel")) kind = ApiKind.Batches;
  }
  if (kind != ApiKind.Unknown) {
    out.subPath = tail;
    out.objectId = id;
  }
  return kind;
}

/**
 * Is this query parameter api-version, as a server may read its name: in any case
 * (`Api-Version`), percent-encoded (`api%2Dversion`), with or without a value?
 */
function isVersionParam(part: string): bool {
  const eq = part.indexOf("=");
  let name = eq >= 0 ? part.substring(0, eq) : part;
  if (name.length < 11 || name.length > 33) return false;
  if (name.indexOf("%") >= 0) {
    let d = "";
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c == 0x25 && i + 2 < name.length) {
        const h = I32.parseInt(name.substring(i + 1, i + 3), 16);
        if (h > 0 && h < 128) { d += String.fromCharCode(h); i += 2; continue; }
      }
      d += String.fromCharCode(c);
    }
    name = d;
  }
  return name.toLowerCase() == "api-version";
}

/** The query without api-version (the provider's own is added where it needs one). */
function queryWithoutVersion(q: string): string {
  if (q.length == 0) return "";
  const parts = q.split("&");
  const keep: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = unchecked(parts[i]);
    if (part.length == 0 || isVersionParam(part)) continue;
    // Only printable ASCII goes on (it is copied into the provider's :path).
    let ok = true;
    for (let k = 0; k < part.length; k++) {
      const c = part.charCodeAt(k);
      if (c <= 0x20 || c >= 0x7f || c == 0x23) ok = false;
    }
    if (ok) keep.push(part);
  }
  return keep.join("&");
}

/**
 * Classifies OpenAI paths (/v1/chat/completions, also without /v1), Azure classic
 * (/openai/deployments/{d}/chat/completions?api-version=…) and Azure v1 (/openai/v1/…).
 */
export function classifyPath(path: string): ApiRequest {
  const out = new ApiRequest();
  let p = path;
  const q = p.indexOf("?");
  if (q >= 0) {
    out.query = queryWithoutVersion(p.substring(q + 1));
    p = p.substring(0, q);
  }
  while (p.length > 1 && p.endsWith("/")) p = p.substring(0, p.length - 1);
  if (p.startsWith("/openai/deployments/")) {
    const rest = p.substring(20);
    const slash = rest.indexOf("/");
    if (slash <= 0) return out;
    out.azureStyle = true;
    out.pathModel = rest.substring(0, slash);
    out.kind = opKind(rest.substring(slash + 1));
    if (!isDeploymentOp(out.kind) && out.kind != ApiKind.Responses) out.kind = ApiKind.Unknown;
    return out;
  }
  if (p.startsWith("/openai/v1/")) {
    out.azureStyle = true;
    out.kind = classifyOp(p.substring(11), out);
    return out;
  }
  // Azure classic APIs outside a deployment: /openai/responses, /openai/files, /openai/batches.
  if (p.startsWith("/openai/") && !p.startsWith("/openai/deployments")) {
    const k = classifyOp(p.substring(8), out);
    if (k == ApiKind.Responses || k == ApiKind.ResponseItem || k == ApiKind.Files || k == ApiKind.Batches || k == ApiKind.Conversations) {
      out.azureStyle = true;
      out.kind = k;
      return out;
    }
    out.subPath = "";
    out.objectId = "";
  }
  if (p == "/openai/models") {
    out.azureStyle = true;
    out.kind = ApiKind.Models;
    return out;
  }
  if (p.startsWith("/v1/")) {
    out.kind = classifyOp(p.substring(4), out);
    return out;
  }
  if (p.length > 1) out.kind = classifyOp(p.substring(1), out);
  return out;
}
