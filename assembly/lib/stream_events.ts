// What a stream of server-sent events says of its answer, read as it passes: whether the answer
// finished, the usage the provider reported, how many content events it carried and how many
// bytes of content text (the base of an estimate when the provider reports no usage).
//
// One pass over each byte, two levels at once, chunks split anywhere:
// - SSE (the WHATWG event-stream format): field lines, a blank line ends an event, lines end with
//   CRLF, LF or CR, one optional space after the colon; several `data:` lines of one event are
//   one JSON text joined by line feeds (a line break is JSON whitespace).
// - JSON, structurally: container depth, strings (escapes), keys — any JSON whitespace anywhere
//   (`"delta": {"content": "…"}` reads as `"delta":{"content":"…"}`). No tree, no copies (a key
//   or type is compared where it lies; only one split by a chunk is kept); strings are skipped
//   eight bytes a step; keys are only compared at the depths where one matters. A malformed event
//   is forgotten at its end.
//
// Two shapes of answer:
// - CHOICES (Chat Completions, Completions): `choices[]` of each event's object; a choice's
//   `index` (0 when absent) and `finish_reason` (a non-empty string: that choice finished) are
//   read at the choice's depth, whatever the order of its members; a content event is a choice
//   carrying non-empty text (`content`, `text`, `refusal`, `reasoning_content`, `reasoning`,
//   tool call `arguments` at any depth inside it). Complete: every choice index seen has finished
//   (a later chunk with `finish_reason: null`, e.g. Azure's content-filter annotations, does not
//   undo it).
// - TYPED (Responses API, and the other APIs' typed events): the top-level `type` of each event.
//   Complete: a terminal type (response.completed / incomplete / failed; transcript.text.done,
//   speech.audio.done, image_generation.completed, image_edit.completed). A content event: a
//   type `*.delta` other than audio (base64, not text); its top-level `delta` string is content.
// Either shape: a `data: [DONE]` event (the data starts with [DONE], as the openai SDK reads
// it) is the provider's explicit clean end, and counts as complete. Usage: a `usage` object at
// an event's top level (chat) or one level down (Responses: `response.usage`), its counters
// prompt_tokens / input_tokens, completion_tokens / output_tokens, total_tokens read as
// lib/usage.ts reads them (the last object with any wins; `"usage": null` is none).

import { Usage } from "./usage";
import {
  CH_BACKSLASH, CH_COLON, CH_COMMA, CH_CR, CH_LBRACE, CH_LBRACKET, CH_LF, CH_QUOTE, CH_RBRACE, CH_RBRACKET, CH_SPACE, findEither, utf8,
} from "./bytes";

export const SHAPE_CHOICES: i32 = 0;
export const SHAPE_TYPED: i32 = 1;

// Line states.
const L_START: u8 = 0; // at a line's start
const L_FIELD: u8 = 1; // in the field name
const L_VALUE0: u8 = 2; // right after a data line's colon (one space may come)
const L_DATA: u8 = 3; // in a data line's value: JSON
const L_SKIP: u8 = 4; // another field, a comment, or a data line past a break in its JSON: to the line's end

// Kinds of the string being read.
const S_NONE: u8 = 0;
const S_SKIP: u8 = 1; // a value nobody needs
const S_KEY: u8 = 2; // a key: its first bytes are kept
const S_CONTENT: u8 = 3; // content text: its bytes are counted
const S_FINISH: u8 = 4; // a choice's finish_reason
const S_TYPE: u8 = 5; // an event's top-level type: its first bytes are kept
const S_DELTA: u8 = 6; // a typed event's top-level delta: counted once its type is known

// Keys that matter (K_OTHER: any other).
const K_OTHER: u8 = 0;
const K_CHOICES: u8 = 1;
const K_INDEX: u8 = 2;
const K_FINISH: u8 = 3;
const K_CONTENT: u8 = 4; // content, text, refusal, reasoning_content, reasoning, arguments
const K_TYPE: u8 = 5;
const K_DELTA: u8 = 6;
const K_USAGE: u8 = 7;
// A usage object's counters (K_COUNT + their slot).
const K_COUNT: u8 = 8;
const SLOT_PROMPT: u8 = 0;
const SLOT_INPUT: u8 = 1;
const SLOT_COMPLETION: u8 = 2;
const SLOT_OUTPUT: u8 = 3;
const SLOT_TOTAL: u8 = 4;

/** Bytes kept of a key or a type split by a chunk (longer ones are none of the known ones). */
const KEEP: i32 = 64;

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
function keyId(p: usize, len: i32): u8 {
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

@inline function same(p: usize, w: Uint8Array): bool {
  return memory.compare(p, w.dataStart, <usize>w.length) == 0;
}

const TERMINAL_TYPES: Uint8Array[] = [
  utf8("response.completed"), utf8("response.incomplete"), utf8("response.failed"), utf8("transcript.text.done"),
  utf8("speech.audio.done"), utf8("image_generation.completed"), utf8("image_edit.completed"),
];
const DELTA_SUFFIX = utf8(".delta");
const AUDIO_DELTAS: Uint8Array[] = [utf8("response.audio.delta"), utf8("speech.audio.delta")];
const DONE = utf8("[DONE]");
/** "data" as a little-endian u32. */
const DATA_WORD: u32 = 0x61746164;
const DATA = utf8("data");

const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;

/**
 * The first index in [i, n) holding a quote, a backslash or a control byte (< 0x20: a line break,
 * which a JSON string never holds raw); n when none. Eight bytes a step.
 */
@inline function findStringStop(data: usize, i: i32, n: i32): i32 {
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
const SC_NONE: u8 = 0; // not in a scalar
const SC_INDEX: u8 = 1; // in a choice's index digits
const SC_OTHER: u8 = 2; // in another scalar
const SC_COUNT: u8 = 3; // in a usage counter's digits

export class StreamEvents {
  /** Content events seen (see the header). */
  events: i32 = 0;
  /** Bytes of content text (as written: escapes count as their bytes). */
  contentBytes: i64 = 0;
  /** A `data: [DONE]` event came. */
  doneSeen: bool = false;
  /** A terminal typed event came (TYPED). */
  terminal: bool = false;
  /** The usage the provider reported (found: false when none). */
  readonly usage: Usage = new Usage();
  // Choice indexes seen and finished (CHOICES): bits 0–127; a larger index counts as 127.
  private seen0: u64 = 0;
  private seen1: u64 = 0;
  private fin0: u64 = 0;
  private fin1: u64 = 0;

  // -- SSE level
  private line: u8 = L_START;
  /** The previous byte was a CR (an LF right after it is the same line end). */
  private cr: bool = false;
  /** Bytes of the field name matched against "data" (-1: another field). */
  private fieldK: i32 = 0;
  /** The current event has had a data line. */
  private hadData: bool = false;
  /** Bytes of "[DONE]" matched at the start of the event's data, when a chunk split it (-1: not matching). */
  private doneK: i32 = -1;

  // -- JSON level (reset at each event's end)
  private depth: i32 = 0;
  /** Bit d-1: the container at depth d is an object (depths 1–64). */
  private objects: u64 = 0;
  private expectKey: bool = false;
  private str: u8 = S_NONE;
  /** The string's byte after a backslash is in the next chunk. */
  private esc: bool = false;
  /** Length of the string being read so far (its bytes, escapes as written). */
  private strLen: i32 = 0;
  /** The key or type being read had an escape (it is none of the known ones). */
  private strEscaped: bool = false;
  /** The first bytes of a key or type split by a chunk. */
  private kept: Uint8Array = new Uint8Array(KEEP);
  private keptLen: i32 = 0;
  /** The last key read and the depth it was read at. */
  private key: u8 = K_OTHER;
  private keyDepth: i32 = -1;
  private scalar: u8 = SC_NONE;
  /** The array at depth 2 is the event's `choices`. */
  private inChoices: bool = false;
  // The choice (object at depth 3 inside choices) being read.
  private choiceIndex: i32 = 0;
  private choiceFinished: bool = false;
  private choiceContent: bool = false;
  // The typed event being read: its type's verdict, and its delta's bytes.
  private typeContent: bool = false;
  private typeTerminal: bool = false;
  private deltaBytes: i64 = 0;
  // The usage object being read: its depth (-1: none), its counters (-1: absent), the counter being read.
  private usageDepth: i32 = -1;
  private counts: StaticArray<i64> = [-1, -1, -1, -1, -1];
  private countSlot: i32 = 0;
  private countDigits: i32 = 0;

  constructor(public readonly shape: i32) {}

  /** Did the stream carry its finish (see the header)? */
  get complete(): bool {
    if (this.doneSeen) return true;
    if (this.shape == SHAPE_TYPED) return this.terminal;
    const s0 = this.seen0;
    const s1 = this.seen1;
    return (s0 | s1) != 0 && (s0 & ~this.fin0) == 0 && (s1 & ~this.fin1) == 0;
  }

  /** Choice indexes seen (CHOICES). */
  get choices(): i32 {
    return <i32>(popcnt<u64>(this.seen0) + popcnt<u64>(this.seen1));
  }

  feed(b: Uint8Array): void {
    const data = b.dataStart;
    const n = b.length;
    let i = 0;
    while (i < n) {
      const line = this.line;
      if (line == L_DATA) {
        // JSON to the line's end (a CR or LF, read below) or the chunk's.
        i = this.json(data, i, n);
        if (i >= n) break;
      } else if (line == L_SKIP) {
        i = findEither(data, i, n, CH_LF, CH_CR);
        if (i >= n) break;
      } else if (line == L_START && i + 5 <= n && load<u32>(data + <usize>i) == DATA_WORD && load<u8>(data + <usize>(i + 4)) == CH_COLON) {
        // The usual line: "data:" whole in this chunk.
        this.cr = false;
        i = this.dataValue(data, i + 5, n);
        continue;
      }
      const c = load<u8>(data + <usize>i);
      i++;
      if (c == CH_LF || c == CH_CR) {
        this.lineEnd(c);
        continue;
      }
      this.cr = false;
      if (line == L_START || line == L_FIELD) {
        if (line == L_START) { this.line = L_FIELD; this.fieldK = 0; }
        const k = this.fieldK;
        if (c == CH_COLON) {
          if (k == 4) i = this.dataValue(data, i, n);
          else this.line = L_SKIP;
        } else if (k >= 0 && k < 4 && c == unchecked(DATA[k])) this.fieldK = k + 1;
        else this.fieldK = -1;
        continue;
      }
      if (line == L_VALUE0) {
        // The value's first byte, in the next chunk: one space may be skipped.
        this.line = L_DATA;
        if (c != CH_SPACE) i--;
        if (this.doneK == 0) this.checkDone(data, i, n);
      }
    }
  }

  /** After a data line's colon at i: its optional space, and whether the event's data is [DONE]. */
  private dataValue(data: usize, i: i32, n: i32): i32 {
    const first = !this.hadData;
    this.hadData = true;
    this.doneK = -1;
    if (i >= n) {
      this.line = L_VALUE0;
      if (first) this.doneK = 0;
      return i;
    }
    if (load<u8>(data + <usize>i) == CH_SPACE) i++;
    this.line = L_DATA;
    if (first) this.checkDone(data, i, n);
    return i;
  }

  /** The event's data starts at i: is it [DONE] (read here when whole in the chunk, else byte by byte)? */
  private checkDone(data: usize, i: i32, n: i32): void {
    this.doneK = -1;
    if (i + DONE.length <= n) {
      if (memory.compare(data + <usize>i, DONE.dataStart, <usize>DONE.length) == 0) this.doneSeen = true;
    } else this.doneK = 0;
  }

  /** A line ended by `c` (CR or LF). */
  private lineEnd(c: u8): void {
    if (c == CH_LF && this.cr) { this.cr = false; return; } // the LF of a CRLF
    this.cr = c == CH_CR;
    const line = this.line;
    if (line == L_START) {
      this.eventEnd();
      return;
    }
    if (line == L_FIELD && this.fieldK == 4) {
      // `data` alone is a data line with an empty value.
      this.hadData = true;
    }
    this.doneK = -1;
    this.line = L_START;
  }

  /** A blank line: the event ended; its JSON state is forgotten. */
  private eventEnd(): void {
    this.hadData = false;
    this.doneK = -1;
    this.depth = 0;
    this.objects = 0;
    this.expectKey = false;
    this.str = S_NONE;
    this.esc = false;
    this.key = K_OTHER;
    this.keyDepth = -1;
    this.scalar = SC_NONE;
    this.inChoices = false;
    this.usageDepth = -1;
  }

  /**
   * Data bytes from i: JSON until the line ends (at a CR or LF: returns its index) or the chunk
   * does (returns n). The hot loop: its state in locals, written back on the way out.
   */
  private json(data: usize, i: i32, n: i32): i32 {
    const choicesShape = this.shape == SHAPE_CHOICES;
    let depth = this.depth;
    let objects = this.objects;
    let expectKey = this.expectKey;
    let key = this.key;
    let keyDepth = this.keyDepth;
    let inChoices = this.inChoices;
    let str = this.str;
    let strLen = this.strLen;
    let scalar = this.scalar;
    let dk = this.doneK;
    // Where the current string's bytes start in this chunk (a string continued from the previous chunk: here).
    let strStart = i;
    if (str != S_NONE && this.esc) {
      // The byte after a backslash that ended the previous chunk.
      this.esc = false;
      const e = load<u8>(data + <usize>i);
      if (e != CH_LF && e != CH_CR) {
        i++;
        strLen++;
        strStart = i;
      }
    }
    while (i < n) {
      if (str != S_NONE) {
        const j = findStringStop(data, i, n);
        strLen += j - i;
        if (j >= n) {
          // The chunk ends inside the string: a key or type keeps its bytes so far.
          if ((str == S_KEY || str == S_TYPE) && !this.strEscaped) this.keep(data, strStart, n);
          i = n;
          break;
        }
        const c = load<u8>(data + <usize>j);
        if (c == CH_QUOTE) {
          i = j + 1;
          if (str == S_KEY) {
            key = K_OTHER;
            // Only where a key matters: the event's top level (and the next for Responses' usage),
            // inside a choice, inside a usage object.
            if (!this.strEscaped && (depth == 1 || (depth == 2 && !choicesShape) || (inChoices && depth >= 3) || depth == this.usageDepth)) {
              if (this.keptLen == 0) key = keyId(data + <usize>strStart, j - strStart);
              else if (this.keep(data, strStart, j)) key = keyId(this.kept.dataStart, this.keptLen);
            }
            keyDepth = depth;
            expectKey = false;
          } else if (str != S_SKIP) {
            this.valueString(str, strLen, data + <usize>strStart, j - strStart);
          }
          str = S_NONE;
          continue;
        }
        if (c == CH_BACKSLASH) {
          // An escape: both bytes are the string's (a key or type with one is none of the known ones).
          this.strEscaped = true;
          if (j + 1 >= n) {
            strLen++;
            this.esc = true;
            i = n;
            break;
          }
          const e = load<u8>(data + <usize>(j + 1));
          if (e != CH_LF && e != CH_CR) {
            strLen += 2;
            i = j + 2;
            continue;
          }
          i = j + 1;
          continue; // the line break: handled below, next turn
        }
        if (c == CH_LF || c == CH_CR) {
          // A raw line break inside a string: not JSON. The rest of this event's data is skipped.
          str = S_NONE;
          depth = -1;
          i = j;
          break;
        }
        // Another control byte (a raw tab): invalid, but harmless: part of the string.
        strLen++;
        i = j + 1;
        continue;
      }
      const c = load<u8>(data + <usize>i);
      if (c == CH_LF || c == CH_CR) break; // the line's end: the caller's
      i++;
      if (dk >= 0) {
        // [DONE] split by a chunk: matched byte by byte.
        if (c == unchecked(DONE[dk])) {
          dk++;
          if (dk == DONE.length) { this.doneSeen = true; dk = -1; }
        } else dk = -1;
      }
      if (c == CH_QUOTE) {
        scalar = SC_NONE;
        strLen = 0;
        strStart = i;
        this.strEscaped = false;
        this.keptLen = 0;
        if (depth < 0) str = S_SKIP;
        else if (expectKey) str = S_KEY;
        else {
          str = S_SKIP;
          if (keyDepth == depth && key != K_OTHER) {
            if (choicesShape) {
              if (inChoices && depth >= 3) {
                if (key == K_CONTENT) str = S_CONTENT;
                else if (key == K_FINISH && depth == 3) str = S_FINISH;
              }
            } else if (depth == 1) {
              if (key == K_TYPE) str = S_TYPE;
              else if (key == K_DELTA) str = S_DELTA;
            }
          }
        }
        continue;
      }
      if (c <= CH_SPACE) {
        scalar = SC_NONE;
        continue;
      }
      if (c == CH_LBRACE || c == CH_LBRACKET) {
        scalar = SC_NONE;
        if (depth < 0) continue;
        const object = c == CH_LBRACE;
        const k = keyDepth == depth ? key : K_OTHER;
        depth++;
        if (depth <= 64) {
          const bit = (<u64>1) << <u64>(depth - 1);
          objects = object ? objects | bit : objects & ~bit;
        }
        expectKey = object;
        if (depth == 1) {
          // An event's value begins.
          inChoices = false;
          this.typeContent = false;
          this.typeTerminal = false;
          this.deltaBytes = 0;
        } else if (depth == 2 && !object && k == K_CHOICES && choicesShape) {
          inChoices = true;
        } else if (depth == 3 && object && inChoices) {
          this.choiceIndex = 0;
          this.choiceFinished = false;
          this.choiceContent = false;
        }
        if (k == K_USAGE && object && depth <= 3) this.usageStart(depth);
        continue;
      }
      if (c == CH_RBRACE || c == CH_RBRACKET) {
        scalar = SC_NONE;
        if (depth <= 0) continue;
        if (inChoices) {
          if (depth == 3 && c == CH_RBRACE) this.choiceEnd();
          else if (depth == 2) inChoices = false;
        } else if (depth == 1 && !choicesShape) this.typedEnd();
        if (depth == this.usageDepth) this.usageEnd();
        depth--;
        expectKey = false;
        keyDepth = -1;
        continue;
      }
      if (c == CH_COMMA) {
        scalar = SC_NONE;
        expectKey = depth >= 1 && depth <= 64 && ((objects >> <u64>(depth - 1)) & 1) != 0;
        continue;
      }
      if (c == CH_COLON) {
        scalar = SC_NONE;
        expectKey = false;
        continue;
      }
      // A scalar's byte (number, true, false, null): only a choice's index and usage counters are read.
      if (scalar == SC_NONE) {
        scalar = SC_OTHER;
        if (keyDepth == depth) {
          if (depth == 3 && inChoices && key == K_INDEX) {
            scalar = SC_INDEX;
            this.choiceIndex = 0;
          } else if (depth == this.usageDepth && key >= K_COUNT) {
            scalar = SC_COUNT;
            this.countSlot = <i32>(key - K_COUNT);
            this.countDigits = 0;
          }
        }
      }
      if (scalar == SC_INDEX) {
        if (c >= 0x30 && c <= 0x39) {
          const v = this.choiceIndex * 10 + <i32>(c - 0x30);
          this.choiceIndex = v > 127 ? 127 : v;
        } else scalar = SC_OTHER;
      } else if (scalar == SC_COUNT) {
        if (!this.countByte(c)) scalar = SC_OTHER;
      }
    }
    this.depth = depth;
    this.objects = objects;
    this.expectKey = expectKey;
    this.key = key;
    this.keyDepth = keyDepth;
    this.inChoices = inChoices;
    this.str = str;
    this.strLen = strLen;
    this.scalar = scalar;
    this.doneK = dk;
    return i;
  }

  /**
   * Adds b[from, to) to the kept bytes of a key or type split by a chunk. False when they do not
   * fit (then it is none of the known ones).
   */
  private keep(data: usize, from: i32, to: i32): bool {
    const len = this.keptLen;
    const add = to - from;
    if (len + add > KEEP) {
      this.strEscaped = true; // too long: none of the known ones
      return false;
    }
    memory.copy(this.kept.dataStart + <usize>len, data + <usize>from, <usize>add);
    this.keptLen = len + add;
    return true;
  }

  /** A value string of interest closed: `len` its whole length; its last `tail` bytes at `p` (all of it unless split). */
  private valueString(str: u8, len: i32, p: usize, tail: i32): void {
    if (str == S_CONTENT) {
      if (len > 0) {
        this.choiceContent = true;
        this.contentBytes += len;
      }
    } else if (str == S_FINISH) {
      if (len > 0) this.choiceFinished = true;
    } else if (str == S_DELTA) {
      this.deltaBytes += len;
    } else if (str == S_TYPE) {
      this.typeTerminal = false;
      this.typeContent = false;
      if (this.strEscaped) return;
      if (this.keptLen == 0) this.judgeType(p, tail);
      else if (this.keep(p, 0, tail)) this.judgeType(this.kept.dataStart, this.keptLen);
    }
  }

  /** The type of a typed event (`len` bytes at `p`): terminal? content? */
  private judgeType(p: usize, len: i32): void {
    for (let k = 0; k < TERMINAL_TYPES.length; k++) {
      const t = unchecked(TERMINAL_TYPES[k]);
      if (len == t.length && same(p, t)) { this.typeTerminal = true; return; }
    }
    const sl = DELTA_SUFFIX.length;
    if (len > sl && memory.compare(p + <usize>(len - sl), DELTA_SUFFIX.dataStart, <usize>sl) == 0) {
      for (let k = 0; k < AUDIO_DELTAS.length; k++) {
        const a = unchecked(AUDIO_DELTAS[k]);
        if (len == a.length && same(p, a)) return;
      }
      this.typeContent = true;
    }
  }

  /** A usage object opens at `depth`: its counters start absent. */
  private usageStart(depth: i32): void {
    this.usageDepth = depth;
    const counts = this.counts;
    for (let k = 0; k < 5; k++) unchecked((counts[k] = -1));
  }

  /** A byte of a usage counter's number (digits as lib/usage.ts reads them: at most 15). False: the number ended. */
  private countByte(c: u8): bool {
    if (c < 0x30 || c > 0x39) return false;
    const counts = this.counts;
    const slot = this.countSlot;
    const digits = this.countDigits + 1;
    this.countDigits = digits;
    const v = digits == 1 ? <i64>0 : unchecked(counts[slot]);
    unchecked((counts[slot] = digits > 15 ? -1 : v * 10 + <i64>(c - 0x30)));
    return digits <= 15;
  }

  /** The usage object closed: its counters are the usage (when it has any). */
  private usageEnd(): void {
    this.usageDepth = -1;
    const c = this.counts;
    this.usage.record(unchecked(c[SLOT_PROMPT]), unchecked(c[SLOT_INPUT]), unchecked(c[SLOT_COMPLETION]), unchecked(c[SLOT_OUTPUT]), unchecked(c[SLOT_TOTAL]));
  }

  /** A typed event's top-level object closed. */
  private typedEnd(): void {
    if (this.typeTerminal) this.terminal = true;
    if (this.typeContent) {
      this.events++;
      this.contentBytes += this.deltaBytes;
    }
  }

  /** A choice object closed: its index seen (and finished), a content event if it carried text. */
  private choiceEnd(): void {
    const ix = this.choiceIndex;
    if (ix < 64) {
      const bit = (<u64>1) << <u64>ix;
      this.seen0 |= bit;
      if (this.choiceFinished) this.fin0 |= bit;
    } else {
      const bit = (<u64>1) << <u64>(ix - 64);
      this.seen1 |= bit;
      if (this.choiceFinished) this.fin1 |= bit;
    }
    if (this.choiceContent) this.events++;
  }
}
