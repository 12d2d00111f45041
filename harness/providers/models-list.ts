/** The models endpoint (the gateway's cheap authenticated health probe). */
import type { ProviderKind } from "./types.ts";

const CREATED = 1715367049;

export function modelsListBody(kind: ProviderKind, ids: string[]): string {
  const unique = [...new Set(ids)];
  if (kind === "openai") {
    return JSON.stringify({
      object: "list",
      data: unique.map((id) => ({ id, object: "model", created: CREATED, owned_by: "system" })),
    });
  }
  return JSON.stringify({
    data: unique.map((id) => ({
      id,
      status: "succeeded",
      created_at: CREATED,
      object: "model",
      capabilities: { chat_completion: true, completion: false, embeddings: false, inference: true },
      lifecycle_status: "generally-available",
    })),
    object: "list",
  });
}
