/**
 * Responses API (`/v1/responses`, `/openai/v1/responses`): response objects and the named
 * SSE event sequence (`event: response.output_text.delta` …). Usage is
 * {input_tokens, output_tokens, total_tokens} and arrives in `response.completed`;
 * the stream has no [DONE].
 */
import type { Answer } from "./chat.ts";

function usage(a: Answer) {
  const n = a.pieces.length;
  return {
    input_tokens: a.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: n,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: a.promptTokens + n,
  };
}

function messageItem(a: Answer, text: string, done: boolean) {
  return {
    id: `msg_${a.id.slice(5)}`,
    type: "message",
    status: done ? "completed" : "in_progress",
    content: done ? [{ type: "output_text", annotations: [], logprobs: [], text }] : [],
    role: "assistant",
  };
}

function responseObject(a: Answer, maxOutputTokens: number | null, state: "in_progress" | "done") {
  const done = state === "done";
  const incomplete = done && a.finishReason !== "stop";
  return {
    id: a.id,
    object: "response",
    created_at: a.created,
    status: done ? (incomplete ? "incomplete" : "completed") : "in_progress",
    error: null,
    incomplete_details: incomplete
      ? { reason: a.finishReason === "length" ? "max_output_tokens" : "content_filter" }
      : null,
    instructions: null,
    max_output_tokens: maxOutputTokens,
    model: a.model,
    output: done ? [messageItem(a, a.pieces.join(""), true)] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: done ? usage(a) : null,
    user: null,
    metadata: {},
  };
}

export function responseBody(a: Answer, maxOutputTokens: number | null): string {
  return JSON.stringify(responseObject(a, maxOutputTokens, "done"));
}

export function responseStreamFrames(a: Answer, maxOutputTokens: number | null): string[] {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const text = a.pieces.join("");
  const itemId = `msg_${a.id.slice(5)}`;
  const where = { item_id: itemId, output_index: 0, content_index: 0 };
  const final = responseObject(a, maxOutputTokens, "done");
  const frames = [
    ev("response.created", { response: responseObject(a, maxOutputTokens, "in_progress") }),
    ev("response.in_progress", { response: responseObject(a, maxOutputTokens, "in_progress") }),
    ev("response.output_item.added", { output_index: 0, item: messageItem(a, "", false) }),
    ev("response.content_part.added", { ...where, part: { type: "output_text", annotations: [], logprobs: [], text: "" } }),
  ];
  for (const p of a.pieces) frames.push(ev("response.output_text.delta", { ...where, delta: p, logprobs: [] }));
  frames.push(
    ev("response.output_text.done", { ...where, text, logprobs: [] }),
    ev("response.content_part.done", { ...where, part: { type: "output_text", annotations: [], logprobs: [], text } }),
    ev("response.output_item.done", { output_index: 0, item: messageItem(a, text, true) }),
    ev(final.status === "completed" ? "response.completed" : "response.incomplete", { response: final }),
  );
  return frames;
}
