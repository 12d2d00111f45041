/**
 * Writes SSE frames with the provider's timing: the first frame `firstChunkMs` after the
 * headers, then one frame every `chunkIntervalMs`; each frame is its own write, so a test
 * can measure arrival times. `firstToken` holds the frame `frame` (the first content frame)
 * back `ms` more, the ones before it going as usual. `cutAfter` destroys the connection after
 * that many frames (written and flushed first), like an upstream dying mid-answer; `endAfter` ends
 * the response cleanly after that many frames (a server that stops without finishing the answer);
 * `stallAfter` writes that many and then nothing, the connection left open until the client goes
 * (or the mock closes), like an upstream that hangs mid-answer.
 *
 * `restyleJson` / `restyleFrames` re-serialise the JSON of bodies and `data:` lines the way other
 * servers write it: "spaced" (Python's json.dumps: `", "` and `": "`) or "pretty" (indented over
 * several lines; in SSE, one `data:` line each, which a client joins with line feeds).
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export interface StreamEnd {
  /** "stalled": it went silent (stallAfter) and the client then went away. */
  end: "completed" | "cut" | "ended" | "client-gone" | "aborted" | "stalled";
  /** Frames written before the end. */
  written: number;
}

/** Resolves once the client's connection is gone or `signal` aborts. */
function untilGone(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || res.socket?.destroyed === true || signal.aborted) return resolve();
    res.once("close", () => resolve());
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function flushWrite(res: ServerResponse, frame: string): Promise<void> {
  return new Promise((resolve) => {
    res.write(frame, () => resolve());
  });
}

export async function writeFrames(
  res: ServerResponse,
  frames: string[],
  opts: {
    firstChunkMs: number;
    chunkIntervalMs: number;
    firstToken?: { frame: number; ms: number };
    cutAfter?: number;
    endAfter?: number;
    stallAfter?: number;
    signal: AbortSignal;
    sentAt?: number[];
  },
): Promise<StreamEnd> {
  const gone = () => res.destroyed || res.socket?.destroyed === true;
  let written = 0;
  try {
    for (; written < frames.length; written++) {
      let delay = written === 0 ? opts.firstChunkMs : opts.chunkIntervalMs;
      if (opts.firstToken !== undefined && written === opts.firstToken.frame) delay += opts.firstToken.ms;
      if (opts.stallAfter !== undefined && written >= opts.stallAfter) {
        await untilGone(res, opts.signal);
        if (opts.signal.aborted) throw Object.assign(new Error("aborted"), { name: "AbortError" });
        return { end: "stalled", written };
      }
      if (delay > 0) await sleep(delay, undefined, { signal: opts.signal });
      if (gone()) return { end: "client-gone", written };
      if (opts.cutAfter !== undefined && written >= opts.cutAfter) {
        res.socket?.destroy();
        return { end: "cut", written };
      }
      if (opts.endAfter !== undefined && written >= opts.endAfter) {
        res.end();
        return { end: "ended", written };
      }
      // Wait for the flush when timing or a cut matters; otherwise let writes coalesce.
      opts.sentAt?.push(performance.now());
      if (opts.cutAfter !== undefined || opts.stallAfter !== undefined || delay > 0) await flushWrite(res, frames[written]!);
      else res.write(frames[written]!);
    }
    res.end();
    return { end: "completed", written };
  } catch (e) {
    if ((e as Error).name !== "AbortError") throw e;
    res.socket?.destroy();
    return { end: "aborted", written };
  }
}

export type JsonStyle = "compact" | "spaced" | "pretty";

/** `v` as JSON with Python json.dumps' default separators (`", "`, `": "`), on one line. */
export function spacedJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return "[" + v.map((x) => spacedJson(x === undefined ? null : x)).join(", ") + "]";
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x !== undefined) parts.push(JSON.stringify(k) + ": " + spacedJson(x));
  }
  return "{" + parts.join(", ") + "}";
}

/** A JSON text in `style` (text that is not JSON is returned as it is). */
export function restyleJson(text: string, style: JsonStyle): string {
  if (style === "compact") return text;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  return style === "spaced" ? spacedJson(v) : JSON.stringify(v, null, 2);
}

/** SSE frames whose `data:` JSON is written in `style` ("pretty": one `data:` line per JSON line). */
export function restyleFrames(frames: string[], style: JsonStyle): string[] {
  if (style === "compact") return frames;
  return frames.map((frame) =>
    frame
      .split("\n")
      .map((line) => {
        if (!line.startsWith("data: ")) return line;
        const json = restyleJson(line.slice(6), style);
        return json.split("\n").map((l) => "data: " + l).join("\n");
      })
      .join("\n"),
  );
}
