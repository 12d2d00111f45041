/**
 * Writes SSE frames with the provider's timing: the first frame `firstChunkMs` after the
 * headers, then one frame every `chunkIntervalMs`; each frame is its own write, so a test
 * can measure arrival times. `cutAfter` destroys the connection after that many frames
 * (written and flushed first), like an upstream dying mid-answer.
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export interface StreamEnd {
  end: "completed" | "cut" | "client-gone" | "aborted";
  /** Frames written before the end. */
  written: number;
}

function flushWrite(res: ServerResponse, frame: string): Promise<void> {
  return new Promise((resolve) => {
    res.write(frame, () => resolve());
  });
}

export async function writeFrames(
  res: ServerResponse,
  frames: string[],
  opts: { firstChunkMs: number; chunkIntervalMs: number; cutAfter?: number; signal: AbortSignal; sentAt?: number[] },
): Promise<StreamEnd> {
  const gone = () => res.destroyed || res.socket?.destroyed === true;
  let written = 0;
  try {
    for (; written < frames.length; written++) {
      const delay = written === 0 ? opts.firstChunkMs : opts.chunkIntervalMs;
      if (delay > 0) await sleep(delay, undefined, { signal: opts.signal });
      if (gone()) return { end: "client-gone", written };
      if (opts.cutAfter !== undefined && written >= opts.cutAfter) {
        res.socket?.destroy();
        return { end: "cut", written };
      }
      // Wait for the flush when timing or a cut matters; otherwise let writes coalesce.
      opts.sentAt?.push(performance.now());
      if (opts.cutAfter !== undefined || delay > 0) await flushWrite(res, frames[written]!);
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
