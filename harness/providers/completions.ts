/** Legacy Completions API (`/completions`): text_completion bodies and SSE frames. */
import { SSE_DONE, sseData, type Answer } from "./chat.ts";

function usage(a: Answer) {
  const n = a.pieces.length;
  return { prompt_tokens: a.promptTokens, completion_tokens: n, total_tokens: a.promptTokens + n };
}

export function completionBody(a: Answer): string {
  return JSON.stringify({
    id: a.id,
    object: "text_completion",
    created: a.created,
    model: a.model,
    choices: [{ text: a.pieces.join(""), index: 0, logprobs: null, finish_reason: a.finishReason }],
    usage: usage(a),
  });
}

export function completionStreamFrames(a: Answer, opts: { includeUsage: boolean }): string[] {
  const chunk = (text: string, finish: string | null) => {
    const c: Record<string, unknown> = {
      id: a.id,
      object: "text_completion",
      created: a.created,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      model: a.model,
    };
    if (opts.includeUsage) c.usage = null;
    return sseData(c);
  };
  const frames = a.pieces.map((p) => chunk(p, null));
  frames.push(chunk("", a.finishReason));
  if (opts.includeUsage) {
    frames.push(sseData({ id: a.id, object: "text_completion", created: a.created, choices: [], model: a.model, usage: usage(a) }));
  }
  frames.push(SSE_DONE);
  return frames;
}
