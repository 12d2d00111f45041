/**
 * Writes SSE frames with the provider's timing: the first frame `firstChunkMs` after the
 * headers, then one frame every `chunkIntervalMs`; each frame is its own write, so a test
 * can measure arrival times. `firstToken` holds the frame `frame` (the first content frame)
 * back `ms` more, the ones before it going as usual. `cutAfter` destroys the connection after
 * that many frames (written and flushed first), like an upstream dying mid-answer; `stallAfter`
 * writes that many and then nothing, the connection left open until the client goes (or the
 * mock closes), like an upstream that hangs mid-answer.
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export interface StreamEnd {
  /** "stalled": it went silent (stallAfter) and the client then went away. */
  end: "completed" | "cut" | "client-gone" | "aborted" | "stalled";
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
