/**
 * Responses API (`/v1/responses`, `/openai/v1/responses`, `/openai/responses`): response objects
 * and the named SSE event sequence (`event: response.output_text.delta` …). Usage is
 * {input_tokens, output_tokens, total_tokens} and arrives in `response.completed`;
 * the stream has no [DONE]. Output: an optional reasoning item (`rs_…`, reasoning deployments)
 * then the message (`msg_…`). Output tokens include the reasoning tokens.
 */
import type { Answer } from "./chat.ts";

/** What a response object says besides the answer (set by the request and the stored state). */
export interface ResponseShape {
  maxOutputTokens: number | null;
  messageId: string;
  /** Reasoning item id when the deployment reasons. */
  reasoningId?: string;
  reasoningTokens: number;
  previousResponseId: string | null;
  conversationId: string | null;
  store: boolean;
  background: boolean;
  instructions: string | null;
  metadata: Record<string, unknown>;
}

export type ResponseState = "queued" | "in_progress" | "done" | "cancelled";

export function defaultShape(a: Answer, maxOutputTokens: number | null): ResponseShape {
  return {
    maxOutputTokens,
    messageId: `msg_${a.id.slice(5)}`,
    reasoningTokens: 0,
    previousResponseId: null,
    conversationId: null,
    store: true,
    background: false,
    instructions: null,
    metadata: {},
  };
}

function usage(a: Answer, s: ResponseShape) {
  const n = a.pieces.length + s.reasoningTokens;
  return {
    input_tokens: a.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: n,
    output_tokens_details: { reasoning_tokens: s.reasoningTokens },
    total_tokens: a.promptTokens + n,
  };
}

function messageItem(s: ResponseShape, text: string, done: boolean) {
  return {
    id: s.messageId,
    type: "message",
    status: done ? "completed" : "in_progress",
    content: done ? [{ type: "output_text", annotations: [], logprobs: [], text }] : [],
    role: "assistant",
  };
}

function reasoningItem(id: string) {
  return { id, type: "reasoning", summary: [] };
}

/** The output items of a finished response (reasoning first, then the message). */
export function outputItems(a: Answer, s: ResponseShape): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (s.reasoningId) out.push(reasoningItem(s.reasoningId));
  out.push(messageItem(s, a.pieces.join(""), true));
  return out;
}

export function responseObject(a: Answer, s: ResponseShape, state: ResponseState): Record<string, unknown> {
  const done = state === "done";
  const incomplete = done && a.finishReason !== "stop";
  return {
    id: a.id,
    object: "response",
    created_at: a.created,
    status: done ? (incomplete ? "incomplete" : "completed") : state,
    background: s.background,
    conversation: s.conversationId ? { id: s.conversationId } : null,
    error: null,
    incomplete_details: incomplete
      ? { reason: a.finishReason === "length" ? "max_output_tokens" : "content_filter" }
      : null,
    instructions: s.instructions,
    max_output_tokens: s.maxOutputTokens,
    model: a.model,
    output: done ? outputItems(a, s) : [],
    parallel_tool_calls: true,
    previous_response_id: s.previousResponseId,
    reasoning: { effort: s.reasoningId ? "medium" : null, summary: null },
    store: s.store,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: done ? usage(a, s) : null,
    user: null,
    metadata: s.metadata,
  };
}

export function responseBody(a: Answer, s: ResponseShape): string {
  return JSON.stringify(responseObject(a, s, "done"));
}

/** SSE frames, and the index of the frame carrying the first text piece. */
export function responseStreamFrames(a: Answer, s: ResponseShape): { frames: string[]; firstPieceFrame: number } {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const text = a.pieces.join("");
  const msgIndex = s.reasoningId ? 1 : 0;
  const where = { item_id: s.messageId, output_index: msgIndex, content_index: 0 };
  const final = responseObject(a, s, "done");
  const frames = [
    ev("response.created", { response: responseObject(a, s, "in_progress") }),
    ev("response.in_progress", { response: responseObject(a, s, "in_progress") }),
  ];
  if (s.reasoningId) {
    frames.push(
      ev("response.output_item.added", { output_index: 0, item: reasoningItem(s.reasoningId) }),
      ev("response.output_item.done", { output_index: 0, item: reasoningItem(s.reasoningId) }),
    );
  }
  frames.push(
    ev("response.output_item.added", { output_index: msgIndex, item: messageItem(s, "", false) }),
    ev("response.content_part.added", { ...where, part: { type: "output_text", annotations: [], logprobs: [], text: "" } }),
  );
  const firstPieceFrame = frames.length;
  for (const p of a.pieces) frames.push(ev("response.output_text.delta", { ...where, delta: p, logprobs: [] }));
  frames.push(
    ev("response.output_text.done", { ...where, text, logprobs: [] }),
    ev("response.content_part.done", { ...where, part: { type: "output_text", annotations: [], logprobs: [], text } }),
    ev("response.output_item.done", { output_index: msgIndex, item: messageItem(s, text, true) }),
    ev(final.status === "completed" ? "response.completed" : "response.incomplete", { response: final }),
  );
  return { frames, firstPieceFrame };
}
