/**
 * Token arithmetic of the mocks. Real providers use a BPE tokenizer; the mocks use a
 * documented estimate so that tests can predict every number exactly:
 *
 *   tokens(text)   = ceil(utf8 bytes / 4)
 *   chat prompt    = 3 + Σ messages (4 + tokens(text of content) + tokens(name))
 *                    (content string, or the `text` of each part of a content array;
 *                    an image part IMAGE_TOKENS, an input_audio part its duration as
 *                    48,000 bytes a second × 10 tokens a second)
 *   responses      = 3 + (instructions ? 4 + tokens(instructions) : 0)
 *                    + (input string ? 4 + tokens(input) : Σ items (4 + tokens(text of content)))
 *   completions    = Σ tokens(prompt strings)
 *   embeddings     = Σ tokens(input strings) (+ length of each token-id array)
 *   images         = tokens(prompt)            (nothing counted for the output)
 *   audio          = tokens(input) for speech, tokens(prompt field) for transcriptions/translations
 *   responses follow-ups add the replayed history (previous response / conversation, see response-store.ts)
 *
 * The prompt estimate is what the mock counts at admission *and* what it reports as
 * prompt_tokens / input_tokens, so accounting tests can compare the two.
 * A completion is a list of word pieces; one piece = one completion token.
 */
import type { ApiName } from "./types.ts";

export const DEFAULT_MAX_TOKENS = 1024;
/** OpenAI's default max_tokens for the legacy completions API. */
export const LEGACY_COMPLETIONS_MAX_TOKENS = 16;

export function textTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, "utf8") / 4);
}

type Json = Record<string, unknown>;

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof (part as Json).text === "string" ? ((part as Json).text as string) : ""))
      .join("");
  }
  return "";
}

/**
 * Tokens of one image part, whatever its size: the most a high-detail image costs on gpt-4o
 * (85 + 170 per 512-pixel tile, at most 8 tiles) — the filter's defaults.imageTokens.
 */
export const IMAGE_TOKENS = 1445;

function imageParts(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  return content.filter((p) => p && typeof p === "object" && ((p as Json).type === "image_url" || (p as Json).type === "input_image")).length;
}

/**
 * Tokens of the audio parts (input_audio { data }) of a content array: their duration as 24 kHz
 * 16-bit mono PCM (48,000 bytes a second, what gpt-4o audio takes as wav) × 10 tokens a second
 * (gpt-4o's audio input rate), rounded up per part. The filter's estimate (bytes / 4,000 × 10)
 * is never below it.
 */
export const AUDIO_BYTES_PER_SECOND = 48_000;
export const AUDIO_TOKENS_PER_SECOND = 10;

function audioTokens(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const p of content) {
    const a = p && typeof p === "object" ? (p as Json).input_audio : undefined;
    const data = a && typeof a === "object" ? (a as Json).data : undefined;
    if (typeof data !== "string") continue;
    const bytes = Math.floor((data.length * 3) / 4);
    n += Math.ceil((bytes * AUDIO_TOKENS_PER_SECOND) / AUDIO_BYTES_PER_SECOND);
  }
  return n;
}

function itemTokens(item: unknown): number {
  if (typeof item === "string") return 4 + textTokens(item);
  if (!item || typeof item !== "object") return 0;
  const m = item as Json;
  const name = typeof m.name === "string" ? textTokens(m.name) : 0;
  return 4 + textTokens(contentText(m.content)) + name + IMAGE_TOKENS * imageParts(m.content) + audioTokens(m.content);
}

function stringsTokens(input: unknown): number {
  if (typeof input === "string") return textTokens(input);
  if (Array.isArray(input)) {
    let n = 0;
    for (const x of input) {
      if (typeof x === "string") n += textTokens(x);
      else if (typeof x === "number") n += 1;
      else if (Array.isArray(x)) n += x.length;
    }
    return n;
  }
  return 0;
}

/** Estimated prompt tokens of a parsed request body, per the rules above. */
export function estimatePromptTokens(api: ApiName, body: Json): number {
  switch (api) {
    case "chat": {
      const messages = Array.isArray(body.messages) ? body.messages : [];
      return 3 + messages.reduce((n: number, m) => n + itemTokens(m), 0);
    }
    case "responses": {
      let n = 3;
      if (typeof body.instructions === "string") n += 4 + textTokens(body.instructions);
      if (typeof body.input === "string") n += 4 + textTokens(body.input);
      else if (Array.isArray(body.input)) n += body.input.reduce((s: number, m) => s + itemTokens(m), 0);
      return n;
    }
    case "completions":
      return stringsTokens(body.prompt);
    case "embeddings":
      return stringsTokens(body.input);
    case "images":
      return typeof body.prompt === "string" ? textTokens(body.prompt) : 0;
    case "audio":
      // speech: the text to speak; transcriptions/translations: the optional `prompt` field
      return typeof body.input === "string" ? textTokens(body.input) : typeof body.prompt === "string" ? textTokens(body.prompt) : 0;
    default:
      return 0;
  }
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/** The output cap the request asked for, or the default counted at admission. */
export function requestedMaxTokens(api: ApiName, body: Json, defaultMaxTokens: number): number {
  switch (api) {
    case "chat":
      return positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) ?? defaultMaxTokens;
    case "responses":
      return positiveInt(body.max_output_tokens) ?? defaultMaxTokens;
    case "completions":
      return positiveInt(body.max_tokens) ?? LEGACY_COMPLETIONS_MAX_TOKENS;
    default:
      return 0;
  }
}

const BASE_WORDS = ["says", "hello", "from", "a", "mock", "model", "today"];

/** Default answer: "<name> says hello from a mock model today more8 more9 …", `count` words. */
export function generatedText(name: string, count: number): string {
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(i === 0 ? name : (BASE_WORDS[i - 1] ?? `more${i + 1}`));
  return words.join(" ");
}

/** Split text into completion pieces: one per word, later words keep their leading space. */
export function pieces(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}
