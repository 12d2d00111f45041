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

import { CH_COLON, CH_CR, CH_LF, CH_SPACE, findEither, utf8 } from "./bytes";
import { DONE, SHAPE_TYPED } from "./event_keys";
import { EventJson } from "./event_json";
export { SHAPE_CHOICES, SHAPE_TYPED } from "./event_keys";

// Line states.
const L_START: u8 = 0; // at a line's start
const L_FIELD: u8 = 1; // in the field name
const L_VALUE0: u8 = 2; // right after a data line's colon (one space may come)
const L_DATA: u8 = 3; // in a data line's value: JSON
const L_SKIP: u8 = 4; // another field, a comment, or a data line past a break in its JSON: to the line's end

/** "data" as a little-endian u32. */
const DATA_WORD: u32 = 0x61746164;
const DATA = utf8("data");

export class StreamEvents extends EventJson {
  // -- SSE level
  private line: u8 = L_START;
  /** The previous byte was a CR (an LF right after it is the same line end). */
  private cr: bool = false;
  /** Bytes of the field name matched against "data" (-1: another field). */
  private fieldK: i32 = 0;
  /** The current event has had a data line. */
  private hadData: bool = false;

  constructor(shape: i32) { super(shape); }

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
    this.jsonEnd();
  }
}
