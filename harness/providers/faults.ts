/**
 * Scripted failures: a provider-level list set by tests (setFault), and per-request scripting
 * through test-only `x-mock-*` request headers (after Envoy AI Gateway's testupstream).
 *
 * The gateway forwards client headers, so a test client can script a mock *through* the
 * gateway. `x-mock-target: <provider name>` limits the script to that provider (otherwise a
 * failover would carry the same script to the next provider). Never rely on these headers
 * outside tests.
 *
 *   x-mock-target: aoai-east          only this provider obeys the x-mock-* headers
 *   x-mock-status: 503                answer 503 with the provider's default error body
 *   x-mock-fault: reset | hang | rate-limit | rate-limit-no-headers | insufficient-quota
 *                 | content-filter | content-filter-output | cut-stream:<K> | end-stream:<K> | stall-stream:<K>
 *                                     cut-stream: destroy the connection after K SSE frames;
 *                                     end-stream: end the response cleanly after K frames (unfinished);
 *                                     stall-stream: send nothing after K frames (the connection stays open)
 *   x-mock-retry-after-ms: 2500       with rate-limit
 *   x-mock-latency-ms: 200            extra delay before the response headers
 *   x-mock-completion-tokens: 20      answer length
 *   x-mock-first-chunk-ms / x-mock-chunk-interval-ms   stream timing
 *   x-mock-first-token-ms: 6000       the first content frame this late (the frames before it at once)
 *   x-mock-json: spaced | pretty      the answer's JSON (body and SSE data) written as other servers
 *                                     write it: spaced = `{"a": 1, "b": [1, 2]}` (Python's json.dumps);
 *                                     pretty = indented lines (in SSE, one `data:` line each)
 *   x-mock-done: omit                 a chat/completions stream ends without `data: [DONE]` (its
 *                                     finish_reason and usage frames still come)
 */
import type { JsonStyle } from "./stream-writer.ts";
import type { ApiName, Fault, FaultAction, StreamTiming } from "./types.ts";

interface Entry {
  fault: Fault;
  remaining: number;
  expiresAt: number;
}

export interface FaultContext {
  deployment?: string;
  api: ApiName;
  stream: boolean;
}

export class FaultBook {
  private entries: Entry[] = [];

  add(fault: Fault, now: number): void {
    this.entries.push({
      fault,
      remaining: fault.count ?? Infinity,
      expiresAt: fault.forMs === undefined ? Infinity : now + fault.forMs,
    });
  }

  clear(): void {
    this.entries = [];
  }

  /** The first active matching fault, counted as used. */
  take(ctx: FaultContext, now: number): FaultAction | undefined {
    this.entries = this.entries.filter((e) => e.remaining > 0 && now < e.expiresAt);
    for (const e of this.entries) {
      const f = e.fault;
      if (f.deployment !== undefined && f.deployment !== ctx.deployment) continue;
      if (f.api !== undefined && f.api !== ctx.api) continue;
      if (f.stream !== undefined && f.stream !== ctx.stream) continue;
      e.remaining -= 1;
      return f;
    }
    return undefined;
  }
}

export interface HeaderScript {
  fault?: FaultAction;
  latencyMs?: number;
  completionTokens?: number;
  timing: StreamTiming;
  /** How the answer's JSON is written (default compact, as OpenAI and Azure write it). */
  json?: JsonStyle;
  /** A stream without its `data: [DONE]`. */
  omitDone?: boolean;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function readHeaderScript(headers: Record<string, string>, providerName: string): HeaderScript {
  const target = headers["x-mock-target"];
  if (target !== undefined && target !== providerName) return { timing: {} };
  const script: HeaderScript = {
    latencyMs: num(headers["x-mock-latency-ms"]),
    completionTokens: num(headers["x-mock-completion-tokens"]),
    timing: {
      firstChunkMs: num(headers["x-mock-first-chunk-ms"]),
      chunkIntervalMs: num(headers["x-mock-chunk-interval-ms"]),
      firstTokenMs: num(headers["x-mock-first-token-ms"]),
    },
  };
  const json = headers["x-mock-json"]?.trim();
  if (json === "spaced" || json === "pretty" || json === "compact") script.json = json;
  if (headers["x-mock-done"]?.trim() === "omit") script.omitDone = true;
  const status = num(headers["x-mock-status"]);
  if (status !== undefined) script.fault = { type: "status", status };
  const f = headers["x-mock-fault"]?.trim();
  if (f) {
    const retryAfterMs = num(headers["x-mock-retry-after-ms"]);
    const cut = /^cut-stream:(\d+)$/.exec(f);
    const end = /^end-stream:(\d+)$/.exec(f);
    const stall = /^stall-stream:(\d+)$/.exec(f);
    if (cut) script.fault = { type: "cutStream", afterChunks: Number(cut[1]) };
    else if (end) script.fault = { type: "endStream", afterChunks: Number(end[1]) };
    else if (stall) script.fault = { type: "stallStream", afterChunks: Number(stall[1]) };
    else if (f === "reset") script.fault = { type: "reset" };
    else if (f === "hang") script.fault = { type: "hang" };
    else if (f === "rate-limit") script.fault = { type: "rateLimit", retryAfterMs };
    else if (f === "rate-limit-no-headers") script.fault = { type: "rateLimit", noRetryHeaders: true };
    else if (f === "insufficient-quota") script.fault = { type: "insufficientQuota" };
    else if (f === "content-filter") script.fault = { type: "contentFilter" };
    else if (f === "content-filter-output") script.fault = { type: "contentFilterOutput" };
  }
  return script;
}
