// What the request-body scanner (json_scan.ts) reads: the fields routing and admission need, the
// spans the upstream rewrite edits, and the prompt's size.

import { audioTokens, DEFAULT_AUDIO_TOKENS_PER_SECOND, DEFAULT_IMAGE_TOKENS } from "./media_tokens";

export class RequestScan {
  ok: bool = false;
  error: string = "";
  model: string = "";
  /** Byte span of the model string's content (inside the quotes), -1 when absent. */
  modelStart: i32 = -1;
  modelEnd: i32 = -1;
  /** Span of the last "model" value whatever its type (a `null` must be replaced, not shadowed). */
  modelValueStart: i32 = -1;
  modelValueEnd: i32 = -1;
  stream: bool = false;
  /** max_tokens / max_completion_tokens / max_output_tokens, -1 when absent. */
  maxTokens: i64 = -1;
  /** `n`: how many choices the answer has (each may use the whole output bound); 1 when absent. */
  choices: i32 = 1;
  /** Top-level `store` (Responses API): -1 absent or not a boolean, 0 false, 1 true. */
  store: i32 = -1;
  hasStreamOptions: bool = false;
  /** -1 absent, 0 false, 1 true. */
  includeUsage: i32 = -1;
  /** Span of a non-boolean include_usage value inside stream_options (e.g. null), -1 when none. */
  includeUsageValueStart: i32 = -1;
  includeUsageValueEnd: i32 = -1;
  /** Span of the stream_options value ({…}) when present. */
  streamOptionsStart: i32 = -1;
  streamOptionsEnd: i32 = -1;
  /** Bytes of text in messages/input/prompt strings, and the number of message objects. */
  promptBytes: i64 = 0;
  messageCount: i32 = 0;
  /**
   * Images in the prompt (a data:image/… string, or the string value of an `url` / `image_url`
   * key): counted per image, not by their bytes (a 600 KB base64 image is not 150,000 tokens).
   */
  images: i32 = 0;
  /**
   * Bytes of audio in the prompt, decoded (base64 length × 3/4): the `data` of an `input_audio`
   * object, or a data:audio/… string. Counted by duration, not as text (see promptTokens).
   */
  audioBytes: i64 = 0;
  /** Index of the closing brace of the top-level object. */
  objectEnd: i32 = -1;

  /**
   * Prompt tokens as a provider's admission estimate would count them (≈4 bytes a token), each
   * image as `imageTokens`.
   */
  promptTokens(imageTokens: i64 = DEFAULT_IMAGE_TOKENS, audioTokensPerSecond: i64 = DEFAULT_AUDIO_TOKENS_PER_SECOND): i64 {
    return (this.promptBytes + 3) / 4 + <i64>this.messageCount * 4 + 3 + <i64>this.images * imageTokens +
      audioTokens(this.audioBytes, audioTokensPerSecond);
  }
}
