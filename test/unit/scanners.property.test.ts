// The stream scanners that read every SSE chunk (Needle: content events; SseLine: a stream's
// terminal line) against plain reference implementations, for random bodies and every chunking.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { needleScan, sseLineScan } from "../.build/unit/unit.js";

const enc = new TextEncoder();
const SCALE = Math.max(1, Number(process.env.FAST_CHECK_SCALE ?? "1") || 1);
const runs = (n: number) => ({ numRuns: n * SCALE });
const splitsOf = (len: number, max = 20) =>
  fc.array(fc.integer({ min: 0, max: len }), { maxLength: max }).map((a) => Int32Array.from(a.sort((x, y) => x - y)));

/** Bodies made of pieces of the patterns, so that partial and overlapping matches are common. */
const bodyOf = (pieces: string[]) => fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((a) => a.join(""));

/** Non-overlapping occurrences, leftmost first. */
function countRef(pattern: string, body: string): number {
  let n = 0;
  for (let i = 0; i + pattern.length <= body.length; ) {
    if (body.startsWith(pattern, i)) { n++; i += pattern.length; } else i++;
  }
  return n;
}

/** A line (split at CR or LF) that starts with `field:value` or `field: value`. */
function lineRef(field: string, value: string, body: string): boolean {
  return body.split(/\r|\n/).some((l) => l.startsWith(`${field}:${value}`) || l.startsWith(`${field}: ${value}`));
}

describe("Needle: occurrences of a pattern, whatever the chunking", () => {
  for (const pattern of ['"delta":{"content":"', "response.output_text.delta", "aab", "aaa"]) {
    const pieces = ['"', "delta", '":', '{"', "content", '":"', "a", "b", "aa", "response.", "output_text", ".delta", "x", "\n"];
    it(pattern, () => {
      fc.assert(fc.property(bodyOf(pieces).chain((b) => fc.tuple(fc.constant(b), splitsOf(enc.encode(b).length))), ([body, splits]) => {
        const got = JSON.parse(needleScan(pattern, enc.encode(body), splits));
        const want = countRef(pattern, body);
        expect(got).toEqual({ count: want, found: want > 0 });
      }), runs(300));
    });
  }
});

describe("SseLine: a terminal line at a line start, whatever the chunking", () => {
  for (const [field, value] of [["data", "[DONE]"], ["event", "response.completed"]] as const) {
    const pieces = ["data", "event", ":", " ", "[DONE]", "[DON", "E]", "response.", "completed", "\n", "\r", "\r\n", "x", "d"];
    it(`${field}: ${value}`, () => {
      fc.assert(fc.property(bodyOf(pieces).chain((b) => fc.tuple(fc.constant(b), splitsOf(enc.encode(b).length))), ([body, splits]) => {
        expect(sseLineScan(field, value, enc.encode(body), splits)).toBe(lineRef(field, value, body));
      }), runs(300));
    });
  }
});
