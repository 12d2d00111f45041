// The JSON level of the stream scanner: one event's data read structurally as it passes (depth,
// strings and their escapes, the keys that matter where they matter), the choices, typed events
// and usage it carries. The SSE level (stream_events.ts) hands it each data line's bytes and tells
// it when an event ends. See stream_events.ts for what is read and why.

import { Usage } from "./usage";
import { CH_BACKSLASH, CH_COLON, CH_COMMA, CH_CR, CH_LBRACE, CH_LBRACKET, CH_LF, CH_QUOTE, CH_RBRACE, CH_RBRACKET, CH_SPACE } from "./bytes";
import { AUDIO_DELTAS, DELTA_SUFFIX, DONE, findStringStop, K_CHOICES, K_CONTENT, K_COUNT, K_DELTA, K_FINISH, K_INDEX, K_OTHER, K_TYPE, K_USAGE, KEEP, keyId, same, SC_COUNT, SC_INDEX, SC_NONE, SC_OTHER, S_CONTENT, S_DELTA, S_FINISH, S_KEY, S_NONE, S_SKIP, S_TYPE, SHAPE_CHOICES, SLOT_COMPLETION, SLOT_INPUT, SLOT_OUTPUT, SLOT_PROMPT, SLOT_TOTAL, TERMINAL_TYPES } from "./event_keys";

export class EventJson {
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
  protected seen0: u64 = 0;
  protected seen1: u64 = 0;
  protected fin0: u64 = 0;
  protected fin1: u64 = 0;

  /** Bytes of "[DONE]" matched at the start of the event's data, when a chunk split it (-1: not matching). */
  protected doneK: i32 = -1;

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

  /** An event ended: its JSON state is forgotten. */
  protected jsonEnd(): void {
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
  protected json(data: usize, i: i32, n: i32): i32 {
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
