// What a stream of server-sent events says of its answer, read as it passes: whether the answer
// finished, how many content events it carried and how many bytes of content text (the base of
// an estimate when the provider reports no usage).
//
// One pass over each byte, two levels at once, chunks split anywhere:
// - SSE (the WHATWG event-stream format): field lines, a blank line ends an event, lines end with
//   CRLF, LF or CR, one optional space after the colon; several `data:` lines of one event are
//   one JSON text joined by line feeds (a line break is JSON whitespace).
// - JSON, structurally: container depth, strings (escapes), keys — any JSON whitespace anywhere
//   (`"delta": {"content": "…"}` reads as `"delta":{"content":"…"}`). No tree, no copies but
//   a key's first bytes; a malformed event is forgotten at its end.
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
// it) is the provider's explicit clean end, and counts as complete.

import {
  CH_BACKSLASH, CH_COLON, CH_COMMA, CH_CR, CH_LBRACE, CH_LBRACKET, CH_LF, CH_QUOTE, CH_RBRACE, CH_RBRACKET, findEither, isWs, utf8,
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

/** Bytes kept of a key or a type (longer ones are none of the known ones). */
const KEEP: i32 = 64;

const KEYS: Uint8Array[] = [
  utf8("choices"), utf8("index"), utf8("finish_reason"), utf8("content"), utf8("text"), utf8("refusal"),
  utf8("reasoning_content"), utf8("reasoning"), utf8("arguments"), utf8("type"), utf8("delta"),
];
const KEY_IDS: u8[] = [K_CHOICES, K_INDEX, K_FINISH, K_CONTENT, K_CONTENT, K_CONTENT, K_CONTENT, K_CONTENT, K_CONTENT, K_TYPE, K_DELTA];

const TERMINAL_TYPES: Uint8Array[] = [
  utf8("response.completed"), utf8("response.incomplete"), utf8("response.failed"), utf8("transcript.text.done"),
  utf8("speech.audio.done"), utf8("image_generation.completed"), utf8("image_edit.completed"),
];
const DELTA_SUFFIX = utf8(".delta");
const AUDIO_DELTAS: Uint8Array[] = [utf8("response.audio.delta"), utf8("speech.audio.delta")];
const DONE = utf8("[DONE]");
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

/** Is `kept[0, len)` exactly `lit`? */
function keptIs(kept: Uint8Array, len: i32, lit: Uint8Array): bool {
  return len == lit.length && memory.compare(kept.dataStart, lit.dataStart, <usize>len) == 0;
}

export class StreamEvents {
  /** Content events seen (see the header). */
  events: i32 = 0;
  /** Bytes of content text (as written: escapes count as their bytes). */
  contentBytes: i64 = 0;
  /** A `data: [DONE]` event came. */
  doneSeen: bool = false;
  /** A terminal typed event came (TYPED). */
  terminal: bool = false;
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
  /** Bytes of "[DONE]" matched at the start of the event's data (-1: not matching). */
  private doneK: i32 = -1;

  // -- JSON level (reset at each event's end)
  private depth: i32 = 0;
  /** Bit d-1: the container at depth d is an object (depths 1–64). */
  private objects: u64 = 0;
  private expectKey: bool = false;
  private str: u8 = S_NONE;
  private esc: bool = false;
  /** Length of the string being read so far (its bytes, escapes as written). */
  private strLen: i32 = 0;
  private kept: Uint8Array = new Uint8Array(KEEP);
  /** The last key read and the depth it was read at. */
  private key: u8 = K_OTHER;
  private keyDepth: i32 = -1;
  /** In a bare scalar (number, literal); `scalarIndex`: a choice's index being read. */
  private inScalar: bool = false;
  private scalarIndex: bool = false;
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
          if (k == 4) {
            this.line = L_VALUE0;
            this.doneK = this.hadData ? -1 : 0;
            this.hadData = true;
          } else this.line = L_SKIP;
        } else if (k >= 0 && k < 4 && c == unchecked(DATA[k])) this.fieldK = k + 1;
        else this.fieldK = -1;
        continue;
      }
      if (line == L_VALUE0) {
        this.line = L_DATA;
        if (c != 0x20) i--; // the value's first byte: read as data
      }
    }
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
      this.doneK = -1;
      this.hadData = true;
    }
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
    this.inScalar = false;
    this.scalarIndex = false;
    this.inChoices = false;
  }

  /**
   * Data bytes from i: JSON until the line ends (handled by the caller) or the chunk does.
   * Returns where it stopped.
   */
  private json(data: usize, i: i32, n: i32): i32 {
    while (i < n) {
      const str = this.str;
      if (str != S_NONE) {
        i = this.inString(data, i, n, str);
        continue;
      }
      const c = load<u8>(data + <usize>i);
      if (c == CH_LF || c == CH_CR) return i; // the line's end: the caller's
      i++;
      let dk = this.doneK;
      if (dk >= 0) {
        if (c == unchecked(DONE[dk])) {
          dk++;
          if (dk == DONE.length) { this.doneSeen = true; dk = -1; }
        } else dk = -1;
        this.doneK = dk;
      }
      if (isWs(c)) {
        this.inScalar = false;
        continue;
      }
      if (c == CH_QUOTE) {
        this.inScalar = false;
        this.openString();
      } else if (c == CH_LBRACE || c == CH_LBRACKET) {
        this.inScalar = false;
        this.open(c == CH_LBRACE);
      } else if (c == CH_RBRACE || c == CH_RBRACKET) {
        this.inScalar = false;
        this.close(c == CH_RBRACE);
      } else if (c == CH_COMMA) {
        this.inScalar = false;
        const d = this.depth;
        this.expectKey = d >= 1 && d <= 64 && ((this.objects >> <u64>(d - 1)) & 1) != 0;
      } else if (c == CH_COLON) {
        this.inScalar = false;
        this.expectKey = false;
      } else this.scalarByte(c);
    }
    return i;
  }

  /** Bytes of a string from i, up to its end, the line's end or the chunk's. */
  private inString(data: usize, i: i32, n: i32, str: u8): i32 {
    if (this.esc) {
      // The byte after a backslash: part of the string (a line break is not: see below).
      this.esc = false;
      const e = load<u8>(data + <usize>i);
      if (e != CH_LF && e != CH_CR) {
        this.strByte(str, e);
        return i + 1;
      }
    }
    const from = i;
    if (str == S_KEY || str == S_TYPE) {
      // Short: kept byte by byte.
      while (i < n) {
        const c = load<u8>(data + <usize>i);
        if (c == CH_QUOTE || c == CH_BACKSLASH || c < 0x20) break;
        this.strByte(str, c);
        i++;
      }
    } else {
      i = findStringStop(data, i, n);
      this.strLen += i - from;
    }
    if (i >= n) return i;
    const c = load<u8>(data + <usize>i);
    if (c == CH_QUOTE) {
      this.closeString(str);
      return i + 1;
    }
    if (c == CH_BACKSLASH) {
      // An escape: its two bytes are string bytes (a key or type with escapes is none of the known ones).
      if (str == S_KEY || str == S_TYPE) this.strLen = KEEP + 1;
      else this.strLen++;
      this.esc = true;
      return i + 1;
    }
    if (c == CH_LF || c == CH_CR) {
      // A raw line break inside a string: not JSON. The rest of this event's data is skipped.
      this.str = S_NONE;
      this.depth = -1;
      return i;
    }
    // Another control byte (a raw tab): invalid, but harmless: part of the string.
    this.strByte(str, c);
    return i + 1;
  }

  @inline private strByte(str: u8, c: u8): void {
    const len = this.strLen;
    if ((str == S_KEY || str == S_TYPE) && len < KEEP) unchecked((this.kept[len] = c));
    this.strLen = len + 1;
  }

  private openString(): void {
    const d = this.depth;
    this.strLen = 0;
    this.esc = false;
    if (d < 0) { this.str = S_SKIP; return; }
    if (this.expectKey) {
      this.str = S_KEY;
      return;
    }
    let kind = S_SKIP;
    const key = this.keyDepth == d ? this.key : K_OTHER;
    if (key != K_OTHER) {
      if (this.shape == SHAPE_CHOICES) {
        if (this.inChoices && d >= 3) {
          if (key == K_CONTENT) kind = S_CONTENT;
          else if (key == K_FINISH && d == 3) kind = S_FINISH;
        }
      } else if (d == 1) {
        if (key == K_TYPE) kind = S_TYPE;
        else if (key == K_DELTA) kind = S_DELTA;
      }
    }
    this.str = kind;
  }

  private closeString(str: u8): void {
    this.str = S_NONE;
    const len = this.strLen;
    if (str == S_KEY) {
      let id = K_OTHER;
      if (len <= KEEP) {
        for (let k = 0; k < KEYS.length; k++) {
          if (keptIs(this.kept, len, unchecked(KEYS[k]))) { id = unchecked(KEY_IDS[k]); break; }
        }
      }
      this.key = id;
      this.keyDepth = this.depth;
      this.expectKey = false;
      return;
    }
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
      this.judgeType(len);
    }
  }

  /** The kept type of a typed event: terminal? content? */
  private judgeType(len: i32): void {
    this.typeTerminal = false;
    this.typeContent = false;
    if (len > KEEP) return;
    const kept = this.kept;
    for (let k = 0; k < TERMINAL_TYPES.length; k++) {
      if (keptIs(kept, len, unchecked(TERMINAL_TYPES[k]))) { this.typeTerminal = true; return; }
    }
    const sl = DELTA_SUFFIX.length;
    if (len > sl && memory.compare(kept.dataStart + <usize>(len - sl), DELTA_SUFFIX.dataStart, <usize>sl) == 0) {
      for (let k = 0; k < AUDIO_DELTAS.length; k++) if (keptIs(kept, len, unchecked(AUDIO_DELTAS[k]))) return;
      this.typeContent = true;
    }
  }

  private open(object: bool): void {
    let d = this.depth;
    if (d < 0) return;
    const key = this.keyDepth == d ? this.key : K_OTHER;
    d++;
    this.depth = d;
    if (d <= 64) {
      const bit = (<u64>1) << <u64>(d - 1);
      this.objects = object ? this.objects | bit : this.objects & ~bit;
    }
    this.expectKey = object;
    if (d == 1) {
      // An event's value begins.
      this.inChoices = false;
      this.typeContent = false;
      this.typeTerminal = false;
      this.deltaBytes = 0;
    } else if (d == 2 && !object && key == K_CHOICES && this.shape == SHAPE_CHOICES) {
      this.inChoices = true;
    } else if (d == 3 && object && this.inChoices) {
      this.choiceIndex = 0;
      this.choiceFinished = false;
      this.choiceContent = false;
    }
  }

  private close(object: bool): void {
    const d = this.depth;
    if (d <= 0) return;
    if (this.inChoices) {
      if (d == 3 && object) this.choiceEnd();
      else if (d == 2) this.inChoices = false;
    } else if (d == 1 && this.shape == SHAPE_TYPED) {
      if (this.typeTerminal) this.terminal = true;
      if (this.typeContent) {
        this.events++;
        this.contentBytes += this.deltaBytes;
      }
    }
    this.depth = d - 1;
    this.expectKey = false;
    this.keyDepth = -1;
  }

  private choiceEnd(): void {
    let ix = this.choiceIndex;
    if (ix > 127) ix = 127;
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

  /** A byte of a bare scalar (number, true/false/null). */
  private scalarByte(c: u8): void {
    if (!this.inScalar) {
      this.inScalar = true;
      const d = this.depth;
      this.scalarIndex = d == 3 && this.inChoices && this.keyDepth == 3 && this.key == K_INDEX;
      if (this.scalarIndex) this.choiceIndex = 0;
    }
    if (this.scalarIndex) {
      if (c >= 0x30 && c <= 0x39) {
        const v = this.choiceIndex * 10 + <i32>(c - 0x30);
        this.choiceIndex = v > 127 ? 127 : v;
      } else this.scalarIndex = false;
    }
  }
}
