/**
 * Chat Completions bodies and SSE frames, in the exact shapes of llm-wire-formats.md.
 * Azure adds prompt_filter_results (and may open a stream with the empty filter frame).
 */
import { PROMPT_FILTER_RESULTS } from "./error-bodies.ts";
import type { ProviderKind } from "./types.ts";

export interface Answer {
  kind: ProviderKind;
  id: string;
  created: number;
  /** Model version reported (Azure: the deployment's model, never the deployment name). */
  model: string;
  /** Completion pieces, one token each. */
  pieces: string[];
  finishReason: "stop" | "length" | "content_filter";
  promptTokens: number;
}

const FILTER_SAFE = { filtered: false, severity: "safe" };

function usage(a: Answer) {
  const completion = a.pieces.length;
  return { prompt_tokens: a.promptTokens, completion_tokens: completion, total_tokens: a.promptTokens + completion };
}

export function chatCompletionBody(a: Answer): string {
  const choice: Record<string, unknown> = {
    index: 0,
    message: { role: "assistant", content: a.pieces.join(""), refusal: null },
    logprobs: null,
    finish_reason: a.finishReason,
  };
  const body: Record<string, unknown> = {
    id: a.id,
    object: "chat.completion",
    created: a.created,
    model: a.model,
    choices: [choice],
    usage: usage(a),
    system_fingerprint: null,
  };
  if (a.kind === "azure") {
    const filtered = a.finishReason === "content_filter";
    choice.content_filter_results = {
      hate: FILTER_SAFE,
      self_harm: FILTER_SAFE,
      sexual: FILTER_SAFE,
      violence: filtered ? { filtered: true, severity: "high" } : FILTER_SAFE,
    };
    body.prompt_filter_results = PROMPT_FILTER_RESULTS;
  }
  return JSON.stringify(body);
}

export function sseData(json: unknown): string {
  return `data: ${typeof json === "string" ? json : JSON.stringify(json)}\n\n`;
}

export const SSE_DONE = "data: [DONE]\n\n";

/** Every frame of a chat stream, [DONE] included. */
export function chatStreamFrames(a: Answer, opts: { includeUsage: boolean; promptFilterFrame: boolean }): string[] {
  const frames: string[] = [];
  if (opts.promptFilterFrame) {
    frames.push(
      sseData({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: PROMPT_FILTER_RESULTS }),
    );
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null) => {
    const c: Record<string, unknown> = {
      id: a.id,
      object: "chat.completion.chunk",
      created: a.created,
      model: a.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (opts.includeUsage) c.usage = null;
    return sseData(c);
  };
  frames.push(chunk({ role: "assistant", content: "" }, null));
  for (const p of a.pieces) frames.push(chunk({ content: p }, null));
  frames.push(chunk({}, a.finishReason));
  if (opts.includeUsage) {
    frames.push(
      sseData({ id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model, choices: [], usage: usage(a) }),
    );
  }
  frames.push(SSE_DONE);
  return frames;
}
