/**
 * The successful answer: which words, how it ends, and its JSON body or SSE frames per API.
 * One piece (word) = one completion token; the answer is capped at max tokens
 * (finish "length") and halved by an output content filter (finish "content_filter").
 */
import { randomBytes } from "node:crypto";
import { chatCompletionBody, chatStreamFrames, type Answer } from "./chat.ts";
import { completionBody, completionStreamFrames } from "./completions.ts";
import { defaultShape, responseBody, responseStreamFrames, type ResponseShape } from "./responses-api.ts";
import { generatedText, pieces } from "./tokens.ts";
import type { ApiName, ProviderKind } from "./types.ts";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function alnum(n: number): string {
  return Array.from(randomBytes(n), (b) => ALNUM[b % ALNUM.length]).join("");
}

export interface AnswerPlan {
  kind: ProviderKind;
  api: ApiName;
  providerName: string;
  model: string;
  promptTokens: number;
  maxTokens: number;
  /** Words to generate (ignored when `text` is given). */
  completionTokens: number;
  text?: string;
  outputFiltered: boolean;
}

export function buildAnswer(plan: AnswerPlan): Answer {
  let ps = pieces(plan.text ?? generatedText(plan.providerName, plan.completionTokens));
  let finishReason: Answer["finishReason"] = "stop";
  if (ps.length > plan.maxTokens) {
    ps = ps.slice(0, plan.maxTokens);
    finishReason = "length";
  }
  if (plan.outputFiltered) {
    ps = ps.slice(0, Math.ceil(ps.length / 2));
    finishReason = "content_filter";
  }
  const id =
    plan.api === "responses" ? `resp_${randomBytes(24).toString("hex")}` : `${plan.api === "chat" ? "chatcmpl" : "cmpl"}-${alnum(29)}`;
  return {
    kind: plan.kind,
    id,
    created: Math.floor(Date.now() / 1000),
    model: plan.model,
    pieces: ps,
    finishReason,
    promptTokens: plan.promptTokens,
  };
}

export function answerBody(api: ApiName, a: Answer, maxOutputTokens: number | null, shape?: ResponseShape): string {
  if (api === "chat") return chatCompletionBody(a);
  if (api === "completions") return completionBody(a);
  return responseBody(a, shape ?? defaultShape(a, maxOutputTokens));
}

/** SSE frames, and the index of the frame carrying the first piece (to count what a cut stream sent). */
export function answerFrames(
  api: ApiName,
  a: Answer,
  opts: { includeUsage: boolean; promptFilterFrame: boolean; maxOutputTokens: number | null; shape?: ResponseShape },
): { frames: string[]; firstPieceFrame: number } {
  if (api === "chat") {
    return { frames: chatStreamFrames(a, opts), firstPieceFrame: opts.promptFilterFrame ? 2 : 1 };
  }
  if (api === "completions") return { frames: completionStreamFrames(a, opts), firstPieceFrame: 0 };
  return responseStreamFrames(a, opts.shape ?? defaultShape(a, opts.maxOutputTokens));
}
