/**
 * Images and audio answers.
 * - images/generations, images/edits: `{created, data:[{b64_json}|{url}]}`; gpt-image-* models
 *   always answer b64_json (a 1×1 PNG) with token usage, DALL·E models a URL unless
 *   response_format "b64_json" (Azure adds content_filter_results and revised_prompt).
 * - audio/transcriptions, audio/translations: `{"text": …}` (json, default), plain text (text),
 *   `verbose_json`, `srt`, `vtt`; the text names the provider and the uploaded file.
 * - audio/speech: binary audio (`audio/mpeg` for mp3, the default), its size grows with the input.
 */
import { createHash } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";
import type { FormFile } from "./multipart.ts";
import { textTokens } from "./tokens.ts";
import type { ProviderKind } from "./types.ts";

type Json = Record<string, unknown>;

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid 1×1 RGBA PNG (one opaque grey pixel). */
export const PNG_1X1 = (() => {
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
  const idat = deflateSync(Buffer.from([0, 128, 128, 128, 255]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", idat),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
})();

/** gpt-image-1 output tokens of one image by quality (1024×1024). */
const IMAGE_OUTPUT_TOKENS: Record<string, number> = { low: 272, medium: 1056, high: 4160 };

export interface MediaAnswer {
  contentType: string;
  body: Buffer | string;
  /** Output tokens reported (gpt-image usage). */
  outputTokens: number;
}

const FILTER_SAFE = { filtered: false, severity: "safe" };

export function imageAnswer(kind: ProviderKind, model: string, body: Json, promptTokens: number, baseUrl: string): MediaAnswer {
  const n = Math.max(1, Math.min(10, Number(body.n) || 1));
  const created = Math.floor(Date.now() / 1000);
  const b64 = PNG_1X1.toString("base64");
  if (/^gpt-image/.test(model)) {
    const quality = typeof body.quality === "string" && IMAGE_OUTPUT_TOKENS[body.quality] ? body.quality : "medium";
    const out = n * IMAGE_OUTPUT_TOKENS[quality]!;
    const text = JSON.stringify({
      created,
      background: "opaque",
      data: Array.from({ length: n }, () => ({ b64_json: b64 })),
      output_format: "png",
      quality,
      size: typeof body.size === "string" && body.size !== "auto" ? body.size : "1024x1024",
      usage: {
        input_tokens: promptTokens,
        input_tokens_details: { image_tokens: 0, text_tokens: promptTokens },
        output_tokens: out,
        total_tokens: promptTokens + out,
      },
    });
    return { contentType: "application/json", body: text, outputTokens: out };
  }
  const asB64 = body.response_format === "b64_json";
  const data = Array.from({ length: n }, (_, i) => {
    const d: Json = asB64 ? { b64_json: b64 } : { url: `${baseUrl}/mock-images/${createHash("sha256").update(`${created}:${i}:${Math.random()}`).digest("hex").slice(0, 24)}.png` };
    if (model.startsWith("dall-e-3")) d.revised_prompt = typeof body.prompt === "string" ? body.prompt : "";
    if (kind === "azure") d.content_filter_results = { hate: FILTER_SAFE, self_harm: FILTER_SAFE, sexual: FILTER_SAFE, violence: FILTER_SAFE };
    return d;
  });
  return { contentType: "application/json", body: JSON.stringify({ created, data }), outputTokens: 0 };
}

function srtTime(s: number, sep: string): string {
  const ms = Math.round(s * 1000);
  const p = (v: number, w = 2) => String(v).padStart(w, "0");
  return `${p(Math.floor(ms / 3_600_000))}:${p(Math.floor(ms / 60_000) % 60)}:${p(Math.floor(ms / 1000) % 60)}${sep}${p(ms % 1000, 3)}`;
}

/** Transcription/translation: the text says who heard which file. */
export function transcriptText(providerName: string, file: FormFile): string {
  return `${providerName} heard ${file.filename} (${file.data.length} bytes)`;
}

export function transcriptionAnswer(op: "transcriptions" | "translations", format: string | undefined, text: string, file: FormFile): MediaAnswer {
  const duration = Math.max(1, Math.round(file.data.length / 16_000));
  switch (format ?? "json") {
    case "text":
      return { contentType: "text/plain; charset=utf-8", body: text + "\n", outputTokens: textTokens(text) };
    case "srt":
      return { contentType: "text/plain; charset=utf-8", body: `1\n${srtTime(0, ",")} --> ${srtTime(duration, ",")}\n${text}\n\n`, outputTokens: textTokens(text) };
    case "vtt":
      return { contentType: "text/plain; charset=utf-8", body: `WEBVTT\n\n${srtTime(0, ".")} --> ${srtTime(duration, ".")}\n${text}\n\n`, outputTokens: textTokens(text) };
    case "verbose_json":
      return {
        contentType: "application/json",
        body: JSON.stringify({
          task: op === "translations" ? "translate" : "transcribe",
          language: "english",
          duration,
          text,
          segments: [{ id: 0, seek: 0, start: 0, end: duration, text: ` ${text}`, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0 }],
        }),
        outputTokens: textTokens(text),
      };
    default:
      return { contentType: "application/json", body: JSON.stringify({ text }), outputTokens: textTokens(text) };
  }
}

const SPEECH_TYPES: Record<string, string> = {
  mp3: "audio/mpeg",
  opus: "audio/opus",
  aac: "audio/aac",
  flac: "audio/flac",
  wav: "audio/wav",
  pcm: "audio/pcm",
};

/** Deterministic audio bytes: an ID3 tag, then MPEG frame headers filled from a hash of the input. */
export function speechAnswer(body: Json): MediaAnswer {
  const input = typeof body.input === "string" ? body.input : "";
  const format = typeof body.response_format === "string" && SPEECH_TYPES[body.response_format] ? body.response_format : "mp3";
  const size = 256 + Buffer.byteLength(input) * 32;
  const out = Buffer.alloc(size);
  Buffer.from("ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000", "latin1").copy(out, 0);
  let seed = createHash("sha256").update(`${body.voice}:${input}`).digest();
  for (let i = 10; i < size; i += 32) {
    seed = createHash("sha256").update(seed).digest();
    seed.copy(out, i, 0, Math.min(32, size - i));
    out[i] = 0xff;
    if (i + 1 < size) out[i + 1] = 0xfb;
  }
  return { contentType: SPEECH_TYPES[format]!, body: out, outputTokens: 0 };
}
