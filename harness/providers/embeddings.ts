/**
 * Embeddings: deterministic vectors (a hash of the input), float arrays or base64 float32
 * little-endian when `encoding_format: "base64"` (the openai SDK asks for base64 by default).
 */
import { createHash } from "node:crypto";

function inputs(input: unknown): string[] {
  if (typeof input === "string") return [input];
  if (Array.isArray(input)) return input.map((x) => (typeof x === "string" ? x : JSON.stringify(x)));
  return [];
}

function vector(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let seed = createHash("sha256").update(text).digest();
  for (let i = 0; i < dims; i++) {
    if (i % 32 === 0 && i > 0) seed = createHash("sha256").update(seed).digest();
    v[i] = (seed[i % 32]! - 127.5) / 127.5;
  }
  return v;
}

export function embeddingBody(body: Record<string, unknown>, model: string, promptTokens: number, defaultDims: number): string {
  const dims = typeof body.dimensions === "number" && body.dimensions > 0 ? Math.floor(body.dimensions) : defaultDims;
  const base64 = body.encoding_format === "base64";
  const data = inputs(body.input).map((text, index) => {
    const v = vector(text, dims);
    const embedding = base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v);
    return { object: "embedding", index, embedding };
  });
  return JSON.stringify({ object: "list", data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}
