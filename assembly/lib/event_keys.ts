// The vocabulary of the stream scanner (stream_events.ts, event_json.ts): the keys and event types
// that matter, compared as machine words where they lie, and the string-kind and scalar states of
// the JSON level.

import { CH_BACKSLASH, CH_QUOTE, utf8 } from "./bytes";

export const SHAPE_CHOICES: i32 = 0;
export const SHAPE_TYPED: i32 = 1;

// Kinds of the string being read.
export const S_NONE: u8 = 0;
export const S_SKIP: u8 = 1; // a value nobody needs
export const S_KEY: u8 = 2; // a key: its first bytes are kept
export const S_CONTENT: u8 = 3; // content text: its bytes are counted
export const S_FINISH: u8 = 4; // a choice's finish_reason
export const S_TYPE: u8 = 5; // an event's top-level type: its first bytes are kept
export const S_DELTA: u8 = 6; // a typed event's top-level delta: counted once its type is known

// Keys that matter (K_OTHER: any other).
export const K_OTHER: u8 = 0;
export const K_CHOICES: u8 = 1;
export const K_INDEX: u8 = 2;
export const K_FINISH: u8 = 3;
export const K_CONTENT: u8 = 4; // content, text, refusal, reasoning_content, reasoning, arguments
export const K_TYPE: u8 = 5;
export const K_DELTA: u8 = 6;
export const K_USAGE: u8 = 7;
// A usage object's counters (K_COUNT + their slot).
export const K_COUNT: u8 = 8;
export const SLOT_PROMPT: u8 = 0;
export const SLOT_INPUT: u8 = 1;
export const SLOT_COMPLETION: u8 = 2;
export const SLOT_OUTPUT: u8 = 3;
export const SLOT_TOTAL: u8 = 4;

/** Bytes kept of a key or a type split by a chunk (longer ones are none of the known ones). */
export const KEEP: i32 = 64;

// The known keys as little-endian words, compared by length first (no call per key).
@inline function w32(s: string, at: i32): u32 {
  return <u32>s.charCodeAt(at) | (<u32>s.charCodeAt(at + 1) << 8) | (<u32>s.charCodeAt(at + 2) << 16) | (<u32>s.charCodeAt(at + 3) << 24);
}
@inline function w64(s: string, at: i32): u64 {
  return <u64>w32(s, at) | (<u64>w32(s, at + 4) << 32);
}
const TEXT = w32("text", 0);
const TYPE = w32("type", 0);
const INDE = w32("index", 0);
const DELT = w32("delta", 0);
const CHOI = w32("choices", 0);
const ICES = w32("choices", 3);
const CONT = w32("content", 0);
const TENT = w32("content", 3);
const REFU = w32("refusal", 0);
const USAL = w32("refusal", 3);
const REASONIN = w64("reasoning", 0);
const ARGUMENT = w64("arguments", 0);
const FINISH_R = w64("finish_reason", 0);
const H_REASON = w64("finish_reason", 5);
const REASONING_CONTENT_A = w64("reasoning_content", 0);
const REASONING_CONTENT_B = w64("reasoning_content", 8);
const USAG = w32("usage", 0);
const PROMPT_T = w64("prompt_tokens", 0);
const T_TOKENS = w64("prompt_tokens", 5);
const OUTPUT_T = w64("output_tokens", 0);
const INPUT_TO = w64("input_tokens", 0);
const TOTAL_TO = w64("total_tokens", 0);
const TOKENS = w32("input_tokens", 8);
const COMPLETI = w64("completion_tokens", 0);
const ON_TOKEN = w64("completion_tokens", 8);

/** Which known key the `len` bytes at `p` are (K_OTHER: none): by length, then a word or two. */
export function keyId(p: usize, len: i32): u8 {
  switch (len) {
    case 4: {
      const a = load<u32>(p);
      return a == TEXT ? K_CONTENT : a == TYPE ? K_TYPE : K_OTHER;
    }
    case 5: {
      const a = load<u32>(p);
      const e = load<u8>(p, 4);
      return a == INDE && e == 0x78 ? K_INDEX : a == DELT && e == 0x61 ? K_DELTA : a == USAG && e == 0x65 ? K_USAGE : K_OTHER;
    }
    case 7: {
      const a = load<u32>(p);
      const b = load<u32>(p, 3);
      return a == CHOI && b == ICES ? K_CHOICES : (a == CONT && b == TENT) || (a == REFU && b == USAL) ? K_CONTENT : K_OTHER;
    }
    case 9: {
      const a = load<u64>(p);
      const e = load<u8>(p, 8);
      return (a == REASONIN && e == 0x67) || (a == ARGUMENT && e == 0x73) ? K_CONTENT : K_OTHER;
    }
    case 12: {
      if (load<u32>(p, 8) != TOKENS) return K_OTHER;
      const a = load<u64>(p);
      return a == INPUT_TO ? K_COUNT + SLOT_INPUT : a == TOTAL_TO ? K_COUNT + SLOT_TOTAL : K_OTHER;
    }
    case 13: {
      const a = load<u64>(p);
      const b = load<u64>(p, 5);
      if (a == FINISH_R && b == H_REASON) return K_FINISH;
      if (b != T_TOKENS) return K_OTHER;
      return a == PROMPT_T ? K_COUNT + SLOT_PROMPT : a == OUTPUT_T ? K_COUNT + SLOT_OUTPUT : K_OTHER;
    }
    case 17: {
      const a = load<u64>(p);
      const b = load<u64>(p, 8);
      const e = load<u8>(p, 16);
      if (a == REASONING_CONTENT_A && b == REASONING_CONTENT_B && e == 0x74) return K_CONTENT;
      return a == COMPLETI && b == ON_TOKEN && e == 0x73 ? K_COUNT + SLOT_COMPLETION : K_OTHER;
    }
  }
  return K_OTHER;
}

@inline export function same(p: usize, w: Uint8Array): bool {
  return memory.compare(p, w.dataStart, <usize>w.length) == 0;
}

export const TERMINAL_TYPES: Uint8Array[] = [
  utf8("response.completed"), utf8("response.incomplete"), utf8("response.failed"), utf8("transcript.text.done"),
  utf8("speech.audio.done"), utf8("image_generation.completed"), utf8("image_edit.completed"),
];
export const DELTA_SUFFIX = utf8(".delta");
export const AUDIO_DELTAS: Uint8Array[] = [utf8("response.audio.delta"), utf8("speech.audio.delta")];
export const DONE = utf8("[DONE]");

export const ONES: u64 = 0x0101010101010101;
export const HIGHS: u64 = 0x8080808080808080;

/**
 * The first index in [i, n) holding a quote, a backslash or a control byte (< 0x20: a line break,
 * which a JSON string never holds raw); n when none. Eight bytes a step.
 */
@inline export function findStringStop(data: usize, i: i32, n: i32): i32 {
  const quotes = ONES * <u64>CH_QUOTE;
  const slashes = ONES * <u64>CH_BACKSLASH;
  while (i + 8 <= n) {
    const w = load<u64>(data + <usize>i);
    const q = w ^ quotes;
    const s = w ^ slashes;
    // haszero(q) | haszero(s) | hasless(w, 0x20)
    if ((((q - ONES) & ~q) | ((s - ONES) & ~s) | ((w - ONES * 0x20) & ~w)) & HIGHS) break;
    i += 8;
  }
  while (i < n) {
    const c = load<u8>(data + <usize>i);
    if (c == CH_QUOTE || c == CH_BACKSLASH || c < 0x20) break;
    i++;
  }
  return i;
}

// Scalar states.
export const SC_NONE: u8 = 0; // not in a scalar
export const SC_INDEX: u8 = 1; // in a choice's index digits
export const SC_OTHER: u8 = 2; // in another scalar
export const SC_COUNT: u8 = 3; // in a usage counter's digits
