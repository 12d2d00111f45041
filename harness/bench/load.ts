/**
 * Closed-loop HTTP load against one target for one time slice: `concurrency` keep-alive
 * connections, each sending the next request when the previous answer is complete.
 */
import { Connection, serializeRequest } from "./client.ts";
import { EAST_KEY, type Mocks } from "./stack.ts";

export type TargetId = "direct" | "passthrough" | "ai-failover";

export interface Target {
  id: TargetId;
  label: string;
  port: number;
}

export interface Workload {
  id: string;
  title: string;
  stream: boolean;
  concurrency: number;
  /** Mock delay before response headers. */
  latencyMs: number;
  firstChunkMs?: number;
  chunkIntervalMs?: number;
}

export const WORKLOADS: Workload[] = [
  { id: "chat-c1", title: "Non-streaming chat, concurrency 1", stream: false, concurrency: 1, latencyMs: 0 },
  { id: "chat-c32", title: "Non-streaming chat, concurrency 32", stream: false, concurrency: 32, latencyMs: 0 },
  {
    id: "stream-c8", title: "Streaming chat, concurrency 8 (first chunk after 20 ms, then every 5 ms; ~21 SSE frames)",
    stream: true, concurrency: 8, latencyMs: 0, firstChunkMs: 20, chunkIntervalMs: 5,
  },
  { id: "chat-c32-50ms", title: "Non-streaming chat, concurrency 32, upstream latency 50 ms", stream: false, concurrency: 32, latencyMs: 50 },
];

const AZURE_PATH = "/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21";

function chatBody(stream: boolean): Buffer {
  const body: Record<string, unknown> = {
    model: "gpt-4o",
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "Say hello to the benchmark in a few words." },
    ],
    max_tokens: 50,
  };
  // include_usage: the client asks for the usage frame, so ai-failover passes every frame through
  // and the client sees the same frames as the provider sent (frame k ↔ frame k).
  if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return Buffer.from(JSON.stringify(body));
}

/**
 * What a client sends to each target: the provider's own URL and key directly or through the
 * pass-through gateway (which routes to aoai-east untouched); the OpenAI-style path without any key
 * to ai-failover (which picks the provider and adds its key).
 */
export function requestBytes(t: Target, stream: boolean, id?: string): Buffer {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (id !== undefined) headers["x-bench-id"] = id;
  const host = `127.0.0.1:${t.port}`;
  if (t.id === "ai-failover") return serializeRequest("POST", "/v1/chat/completions", host, headers, chatBody(stream));
  return serializeRequest("POST", AZURE_PATH, host, { ...headers, "api-key": EAST_KEY }, chatBody(stream));
}

export interface SliceResult {
  completed: number;
  errors: number;
  /** Non-200 statuses and transport errors, by status (0 = transport). */
  failures: Record<string, number>;
  elapsedMs: number;
  /** Whole-response latency, ms. */
  latency: number[];
  /** Streams: request written → first SSE frame, ms. */
  ttfb: number[];
  /** Streams: provider wrote frame k → client received frame k, ms (same clock). */
  chunk: number[];
  /** Streams whose provider record could not be matched frame by frame. */
  unmatched: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sequence = 0;

export async function runSlice(t: Target, w: Workload, ms: number, maxRequests: number, mocks: Mocks): Promise<SliceResult> {
  const r: SliceResult = { completed: 0, errors: 0, failures: {}, elapsedMs: 0, latency: [], ttfb: [], chunk: [], unmatched: 0 };
  const conns = Array.from({ length: w.concurrency }, () => new Connection(t.port));
  const fixed = requestBytes(t, w.stream);
  const fail = (key: string) => {
    r.errors++;
    r.failures[key] = (r.failures[key] ?? 0) + 1;
  };
  try {
    // Connect and send one unrecorded request per connection before the clock starts.
    await Promise.all(conns.map((c) => c.request(fixed).catch(() => undefined)));
    mocks.east.records.length = 0;
    mocks.west.records.length = 0;
    const arrivals = new Map<string, number[]>();
    const t0 = performance.now();
    const deadline = t0 + ms;
    await Promise.all(conns.map(async (c) => {
      while (performance.now() < deadline && r.completed + r.errors < maxRequests) {
        const id = w.stream ? String(++sequence) : undefined;
        try {
          const res = await c.request(id === undefined ? fixed : requestBytes(t, true, id), { frames: w.stream });
          if (res.status !== 200) {
            fail(String(res.status));
            continue;
          }
          r.completed++;
          r.latency.push(res.end - res.start);
          if (w.stream) {
            if (res.frames.length > 0) r.ttfb.push(res.frames[0]! - res.start);
            arrivals.set(id!, res.frames);
          }
        } catch {
          fail("0");
          await sleep(5);
        }
      }
    }));
    r.elapsedMs = performance.now() - t0;
    if (w.stream) {
      const sent = new Map<string, number[]>();
      for (const rec of [...mocks.east.records, ...mocks.west.records]) {
        const id = rec.headers["x-bench-id"];
        if (id !== undefined && rec.frameSentAt) sent.set(id, rec.frameSentAt);
      }
      for (const [id, got] of arrivals) {
        const s = sent.get(id);
        if (!s || s.length !== got.length) {
          r.unmatched++;
          continue;
        }
        for (let k = 0; k < s.length; k++) r.chunk.push(got[k]! - s[k]!);
      }
    }
  } finally {
    for (const c of conns) c.close();
    mocks.east.records.length = 0;
    mocks.west.records.length = 0;
  }
  return r;
}

export function configureMocks(mocks: Mocks, w: Workload): void {
  for (const m of [mocks.east, mocks.west]) {
    m.setLatency(w.latencyMs);
    m.setStreamTiming({ firstChunkMs: w.firstChunkMs ?? 0, chunkIntervalMs: w.chunkIntervalMs ?? 0 });
  }
}
