/**
 * Load generation: closed-loop virtual clients on 127.0.0.1. Each client sends one request on a
 * fresh connection (so connections spread over the gateway's worker VMs), reads the whole answer
 * (SSE included), thinks (±50% around the phase's think time), and repeats until its phase ends. Request bodies are deterministic
 * (seeded) and sized so that the mocks' prompt estimate is exactly the drawn prompt size.
 */
import http from "node:http";
import type { Phase, RequestShape } from "./scenario.ts";

/** One client request as the client saw it. */
export interface Outcome {
  phase: string;
  client: number;
  /** ms since the run's t0, when the request was sent / answered completely. */
  start: number;
  end: number;
  /** 0: no HTTP answer (connection error or client timeout, see `error`). */
  status: number;
  /** x-ai-failover-provider (ours) or x-baseline-provider (baseline). */
  provider?: string;
  attempts?: number;
  stream: boolean;
  /** Prompt estimate + max_tokens of the request (what Azure counts at admission). */
  tokens: number;
  retryAfter?: string;
  /** Streaming answer ended with `data: [DONE]` (false for a cut or error stream). */
  streamDone?: boolean;
  error?: string;
  /** First 200 characters of a non-2xx body. */
  body?: string;
}

/** mulberry32: small, seeded, good enough for load shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (r: () => number, [lo, hi]: [number, number]) => lo + Math.floor(r() * (hi - lo + 1));

const WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split(" ");

/** Text whose UTF-8 length is exactly `bytes`. */
export function filler(bytes: number, r: () => number): string {
  let s = "";
  while (s.length < bytes) s += WORDS[Math.floor(r() * WORDS.length)] + " ";
  return s.slice(0, bytes);
}

export interface BuiltRequest {
  path: string;
  body: Record<string, unknown>;
  stream: boolean;
  tokens: number;
}

/**
 * A chat request of the shape. Prompt estimate (mocks, Azure-like) for one user message:
 * 3 + 4 + ceil(bytes/4), so `bytes = 4 × (prompt − 7)` hits the drawn prompt size exactly.
 */
export function buildRequest(shape: RequestShape, r: () => number): BuiltRequest {
  const prompt = pick(r, shape.promptTokens);
  const maxTokens = pick(r, shape.maxTokens);
  const stream = r() < shape.stream;
  const content = filler(4 * Math.max(1, prompt - 7), r);
  const body: Record<string, unknown> = { model: shape.model, messages: [{ role: "user", content }], max_tokens: maxTokens };
  if (stream) body.stream = true;
  const path =
    shape.surface === "azure"
      ? `/openai/deployments/${encodeURIComponent(shape.model)}/chat/completions?api-version=2024-10-21`
      : "/v1/chat/completions";
  return { path, body, stream, tokens: Math.max(8, prompt) + maxTokens };
}

/** Sends one request; never rejects (failures become status 0 with `error`). */
export function send(url: string, req: BuiltRequest, timeoutMs: number): Promise<Omit<Outcome, "phase" | "client" | "start" | "end">> {
  const payload = Buffer.from(JSON.stringify(req.body));
  const base = { stream: req.stream, tokens: req.tokens };
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Omit<Outcome, "phase" | "client" | "start" | "end">) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    const r = http.request(
      url + req.path,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": String(payload.length), authorization: "Bearer replay-client-token" },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const status = res.statusCode ?? 0;
          const provider = (res.headers["x-ai-failover-provider"] ?? res.headers["x-baseline-provider"]) as string | undefined;
          const attempts = res.headers["x-ai-failover-attempts"] ? Number(res.headers["x-ai-failover-attempts"]) : undefined;
          done({
            ...base,
            status,
            provider,
            attempts,
            retryAfter: res.headers["retry-after"] as string | undefined,
            streamDone: req.stream && status === 200 ? /data: \[DONE\]\s*$/.test(text) : undefined,
            body: status >= 300 ? text.slice(0, 200) : undefined,
          });
        });
        res.on("error", (e) => done({ ...base, status: res.statusCode ?? 0, error: `response: ${e.message}`, streamDone: false }));
        res.on("aborted", () => done({ ...base, status: res.statusCode ?? 0, error: "response aborted", streamDone: false }));
      },
    );
    r.on("timeout", () => r.destroy(new Error(`client timeout after ${timeoutMs}ms`)));
    r.on("error", (e) => done({ ...base, status: 0, error: e.message }));
    r.end(payload);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one phase: `clients` loops from `startAt` (ms since t0) until `startAt + durationMs`
 * (no request starts after that; those in flight finish). Resolves when all have finished.
 */
export async function runPhase(opts: {
  url: string;
  phase: Phase;
  t0: number;
  seed: number;
  timeoutMs: number;
  out: Outcome[];
}): Promise<void> {
  const { phase, t0 } = opts;
  const endAt = Date.now() + phase.durationMs;
  const loop = async (client: number) => {
    const r = rng(opts.seed * 7919 + client + 1);
    // Spread the first requests over one think time (or a short ramp) so clients do not start in lockstep.
    await sleep(Math.floor(r() * Math.min(Math.max(200, phase.thinkMs), phase.durationMs / 4)));
    while (Date.now() < endAt) {
      const req = buildRequest(phase.request, r);
      const start = Date.now() - t0;
      const o = await send(opts.url, req, opts.timeoutMs);
      opts.out.push({ phase: phase.name, client, start, end: Date.now() - t0, ...o });
      // Think time varies ±50% around the phase's value.
      if (phase.thinkMs > 0) await sleep(Math.min(phase.thinkMs * (0.5 + r()), Math.max(0, endAt - Date.now())));
    }
  };
  await Promise.all(Array.from({ length: phase.clients }, (_, i) => loop(i)));
}
