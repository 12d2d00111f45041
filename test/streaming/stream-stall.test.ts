// Issue 19: a stream that stalls mid-answer (no bytes for a long time) held the client until
// Envoy's own stream idle timeout (5 min) and then ended however Envoy ends it. With
// `streamIdleTimeout` the gateway ends it itself, never as a clean end: on Higress (its build
// injects data into the response: proxy_inject_encoded_data_to_filter_chain) with an SSE error
// event; on upstream Envoy, which lets a filter add nothing to a response outside its body
// callbacks, by resetting the stream (close_stream: Context::closeStream → resetStream,
// source/extensions/common/wasm/context.cc) — a broken transfer. Either way the access line
// says stream=stalled and the stream is charged what it carried.
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, startStack, until, type Stack } from "../support/stack.ts";

let s: Stack | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

const EAST = "aoai-east-ptu";
const HIGRESS_BUILD = (y: string) => y.replace("filename: build/ai-failover.wasm", "filename: build/ai-failover-higress.wasm");

interface StreamResult {
  status: number;
  body: string;
  /** The transfer broke (the connection closed before the response's end). */
  broken: boolean;
  /** ms after the request: the last body bytes, and the end (or break). */
  lastByteAtMs: number;
  endAtMs: number;
  /** The consumer's x-ratelimit-remaining-tokens (-1: none). */
  remainingTokens: number;
}

/** A streaming request that reports how its response ended, a broken transfer included. */
function streamRequest(url: string, body: unknown, headers: Record<string, string>): Promise<StreamResult> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(new URL("/v1/chat/completions", url), {
      method: "POST", agent: false, timeout: 15000,
      headers: { "content-type": "application/json", "content-length": String(payload.length), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      let lastByteAtMs = 0;
      let ended = false;
      res.on("data", (c) => { chunks.push(c); lastByteAtMs = performance.now() - t0; });
      res.on("end", () => { ended = true; });
      res.on("error", () => {});
      res.on("close", () => resolve({
        status: res.statusCode!, body: Buffer.concat(chunks).toString(), broken: !ended || !res.complete, lastByteAtMs, endAtMs: performance.now() - t0,
        remainingTokens: Number(res.headers["x-ratelimit-remaining-tokens"] ?? -1),
      }));
    });
    req.on("timeout", () => req.destroy(new Error("client timeout: the stream never ended")));
    req.on("error", reject);
    req.end(payload);
  });
}

const access = (st: Stack) => st.logs.map((l) => l.message).filter((m) => m.startsWith("ai-failover access: "));

/**
 * The consumer budget a stalled stream was charged: its response said what was left after its
 * reservation (x-ratelimit-remaining-tokens); the same request made afterwards says what is left
 * after the first one was settled and the second reserved the same amount. The difference is
 * what the first was charged — its whole reservation if it had never been settled.
 */
async function chargedToBudget(st: Stack, first: StreamResult): Promise<number> {
  const r = await streamRequest(st.gateway.url, body, { authorization: `Bearer ${TEAM}` });
  expect(r.status).toBe(200);
  return first.remainingTokens - r.remainingTokens;
}

const TEAM = "consumer-key-team-stall-0001";
const BUDGET = 100000;

const STALL = { "x-mock-target": "aoai-east", "x-mock-fault": "stall-stream:4", authorization: `Bearer ${TEAM}` };
const body = { ...chat(), max_tokens: 20, stream: true };
const edit = (cfg: any) => ({
  ...cfg, healthCheck: { enabled: false }, streamIdleTimeout: "1s",
  consumers: [{ name: "team", apiKey: TEAM, tokensPerMinute: BUDGET }],
});

/** What a cut stream is charged for its output: a token per content event, or per 4 bytes of its text when more. */
function streamedEstimate(body: string): number {
  const texts = [...body.matchAll(/"content":"([^"]+)"/g)].map((m) => m[1]!);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  return Math.max(texts.length, Math.ceil(bytes / 4));
}

function requests(prom: string, provider: string, statusClass: string): number {
  const line = prom.split("\n").find((l) => l.startsWith("ai_failover_requests_total{") && l.includes(`provider="${provider}"`) &&
    l.includes(`status_class="${statusClass}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** The charge on the access line: prompt_tokens + completion_tokens. */
function lineCharge(line: string): number {
  return Number(/ prompt_tokens=(\d+)/.exec(line)![1]) + Number(/ completion_tokens=(\d+)/.exec(line)![1]);
}

describe("streamIdleTimeout: a stream that stalls mid-answer", () => {
  it("upstream Envoy: the client's stream is reset within the limit and a tick — a broken transfer, never a clean end", async () => {
    s = await startStack({ edit });
    const r = await streamRequest(s.gateway.url, body, STALL);
    expect(r.status).toBe(200);
    // Azure's prompt_filter_results, the role delta and two content deltas came, then nothing.
    expect(r.body).toContain("prompt_filter_results");
    expect((r.body.match(/"content":"[^"]+"/g) ?? []).length).toBe(2);
    expect(r.body).not.toContain("data: [DONE]");
    expect(r.broken).toBe(true);
    const waited = r.endAtMs - r.lastByteAtMs;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThanOrEqual(1000 + 2 * 100 + 800);
    // The gateway let go of the provider too.
    await until(() => s!.east.records[0]?.outcome === "fault:stall-stream");
    await until(() => access(s!).length > 0);
    const line = access(s)[0];
    expect(line).toContain(`provider=${EAST}`);
    expect(line).toContain(" status=200 ");
    expect(line).toContain(" stream=stalled ");
    // Charged what it streamed (no usage came): an estimate.
    expect(line).toContain(` completion_tokens=${streamedEstimate(r.body)} estimated=true `);
    expect(requests(await s.prometheus(), EAST, "stalled")).toBe(1);
    expect(requests(await s.prometheus(), EAST, "2xx")).toBe(0);
    expect(s.logs.some((l) => l.message.includes(`stream from ${EAST} stalled: nothing for 1000 ms (streamIdleTimeout); the client's stream is reset`))).toBe(true);
    // Its reservation is settled with that charge (the consumer's budget gets the rest back).
    const charged = await chargedToBudget(s, r);
    expect(charged).toBe(lineCharge(line));
    expect(charged).toBeLessThan(BUDGET - r.remainingTokens);
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
  });

  it("Higress build: the stream ends with an upstream_stream_stalled SSE error event", async () => {
    s = await startStack({ edit, flavour: "higress", bootstrap: HIGRESS_BUILD });
    const r = await streamRequest(s.gateway.url, body, STALL);
    expect(r.status).toBe(200);
    expect(r.broken).toBe(false);
    expect((r.body.match(/"content":"[^"]+"/g) ?? []).length).toBe(2);
    expect(r.body).not.toContain("data: [DONE]");
    // The last event is the gateway's error, whole (blank lines end the provider's last one first).
    const events = r.body.split("\n\n").filter((e) => e.trim().length > 0);
    const last = events.at(-1)!;
    expect(last.startsWith("event: error\ndata: ")).toBe(true);
    const err = JSON.parse(last.slice("event: error\ndata: ".length));
    expect(err.error).toMatchObject({ type: "server_error", code: "upstream_stream_stalled" });
    const waited = r.endAtMs - r.lastByteAtMs;
    expect(r.endAtMs).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThanOrEqual(1000 + 2 * 100 + 800);
    await until(() => s!.east.records[0]?.outcome === "fault:stall-stream");
    await until(() => access(s!).length > 0);
    expect(access(s)[0]).toContain(" stream=stalled ");
    expect(access(s)[0]).toContain(` completion_tokens=${streamedEstimate(r.body)} estimated=true `);
    expect(requests(await s.prometheus(), EAST, "stalled")).toBe(1);
    expect(await chargedToBudget(s, r)).toBe(lineCharge(access(s)[0]));
  });

  it("a stream whose pauses stay under the limit is not cut", async () => {
    s = await startStack({ edit });
    const r = await streamRequest(s.gateway.url, { ...body, max_tokens: 6 },
      { "x-mock-target": "aoai-east", "x-mock-chunk-interval-ms": "400", authorization: `Bearer ${TEAM}` });
    expect(r.status).toBe(200);
    expect(r.broken).toBe(false);
    expect(r.body).toContain("data: [DONE]");
    expect(r.body).not.toContain("upstream_stream_stalled");
    await until(() => access(s!).length > 0);
    expect(access(s)[0]).toContain(" stream=true ");
  });
});
