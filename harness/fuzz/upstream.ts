/**
 * Fuzz class "upstream headers and error bodies": the first provider (east, in-band) and the
 * failover provider (west, http_call) answer with random statuses (200, 400, 401, 403, 408, 429,
 * 5xx), retry-after / retry-after-ms in every form (seconds, HTTP-date, garbage, negative, huge,
 * fractional), x-ratelimit-* values, credential echoes, and error bodies (Azure and OpenAI
 * shapes, insufficient_quota, non-JSON, truncated, huge, the provider's own key quoted in a
 * 401/403); west may also reset or fail to connect.
 *
 * Per case: no trap; the failover attempt carries west's key only; a failed attempt gave its
 * reservation back (east/west windows at zero after a retryable failure); no cooldown or ejection
 * longer than the documented 1 h cap; no provider key reaches the client.
 */
import fc from "fast-check";
import type { DispatchResult, HeaderList } from "../host/index.ts";
import { azure, chatBody } from "../rig/host-rig.ts";
import {
  check, ClockRig, clientSeesNoKeys, EAST_KEY, linear, noTrap, PROVIDER_KEYS, runProperty, sleep, upstreamCredentials, WEST_KEY,
  type ClassResult,
} from "./common.ts";

const config = () => ({
  // One answer per provider: the wait-and-retry at the same provider (its own tests: test/failover/same-provider-retry.test.ts) is off here.
  providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)],
  healthCheck: { enabled: false }, retry: { maxAttempts: 2, sameProviderRetries: 0 }, seed: 7, upstreamTimeout: "2s",
});

const FAILED = [401, 403, 429, 500, 502, 503, 504];

type HVal = { date: number } | string;
interface Answer { kind: "response" | "reset" | "connect-failure"; status: string; headers: Array<[string, HVal]>; body: string; bodyKind: string }

const num = fc.oneof(
  fc.integer({ min: 0, max: 120 }).map(String), fc.integer({ min: 0, max: 100_000_000 }).map(String),
  fc.constantFrom("-1", "-5000", "9".repeat(30), "1.5", "0.001", "1e3", "", " 7 ", "soon", "0x10", "NaN", "Infinity", "7, 8", "\u00bd"),
);
const header: fc.Arbitrary<[string, HVal]> = fc.oneof(
  fc.tuple(fc.constantFrom("retry-after", "Retry-After"), fc.oneof(num, fc.integer({ min: -100_000, max: 10_000_000 }).map((date): HVal => ({ date })), fc.constant("Wed, 21 Oct 2015 07:28:00 GMT"), fc.constant("Fri, 99 Foo 2099 99:99:99 GMT"))),
  fc.tuple(fc.constant("retry-after-ms"), num),
  fc.tuple(fc.constantFrom("x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests", "x-ratelimit-limit-tokens", "x-ratelimit-limit-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests"),
    fc.oneof(num, fc.constantFrom("6m0s", "1s", "20ms", "1h2m3.5s"))),
  fc.tuple(fc.constantFrom("api-key", "authorization", "Api-Key", "x-ai-failover-cluster"), fc.constantFrom(EAST_KEY, "Bearer " + EAST_KEY, WEST_KEY, "west")),
  fc.tuple(fc.constantFrom("content-type", "x-request-id", "apim-request-id", "x-ms-region"), fc.constantFrom("application/json", "text/plain", "text/event-stream", "abc", "")),
);

const bodies: Array<[string, (status: number, key: string) => string]> = [
  ["azure-429", () => '{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit. Please retry after 5 seconds."}}'],
  ["quota-type", () => '{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'],
  ["quota-code", () => '{"error":{"code":"insufficient_quota","message":"quota"}}'],
  ["quota-nested", () => '{"error":{"message":"x","details":{"code":"insufficient_quota"}},"code":"insufficient_quota"}'],
  ["quota-truncated", () => '{"error":{"code":"insufficient_q'],
  // The gateway withholds a 401/403 body (it can quote the key); other answers pass through as
  // the provider sent them (docs/request-handling.md, Errors), so only a 401/403 quotes the key here.
  ["key-echo", (s, key) => `{"error":{"code":"401","message":"Access denied: invalid subscription key ${s === 401 || s === 403 ? key : "****"}"}}`],
  ["non-json", () => "<html><body>Bad Gateway</body></html>"],
  ["empty", () => ""],
  ["json-array", () => "[1,2,3]"],
  ["escaped", () => '{"error":{"c\\u006fde":"insufficient\\u005fquota"}}'],
  ["huge", () => '{"error":{"code":"429","message":"' + "z".repeat(200_000) + '"}}'],
  ["chat-ok", () => '{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}'],
];

const answer: fc.Arbitrary<Answer> = fc.record({
  kind: fc.constantFrom("response", "response", "response", "response", "reset", "connect-failure"),
  status: fc.oneof(fc.constantFrom("200", "400", "401", "403", "408", "429", "429", "429", "500", "502", "503", "504"), fc.constantFrom("abc", "-1", "99999", "")),
  headers: fc.array(header, { maxLength: 6 }),
  bodyKind: fc.nat(bodies.length - 1).map((i) => bodies[i]![0]),
}).map((a) => ({ ...a, body: "" }));

export interface UpstreamCase { stream: boolean; east: Answer; west: Answer; rare: boolean }
export const upstreamCase: fc.Arbitrary<UpstreamCase> = fc.record({
  stream: fc.boolean(), east: answer, west: answer,
  /** 1 in 50: east's body is 1.2 MB (over the 1 MiB hold). */
  rare: fc.nat(49).map((n) => n === 0),
});

function materialise(a: Answer, key: string, nowMs: bigint, rare: boolean): { headers: HeaderList; body: string } {
  const headers: HeaderList = a.headers.map(([k, v]) => [k, typeof v === "string" ? v : new Date(Number(nowMs) + v.date * 1000).toUTCString()]);
  const make = bodies.find(([k]) => k === a.bodyKind)![1];
  const body = rare ? "q".repeat(1_200_000) : make(Number(a.status), key);
  return { headers, body };
}

const statusOf = (a: Answer) => (a.kind === "response" ? Number(a.status) : 0);

export async function fuzzUpstream(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const cr = await new ClockRig(config()).start();
  try {
    return await runProperty("upstream headers + error bodies", upstreamCase, async (c) => {
      const r = await cr.fresh();
      const now = cr.nowMs;
      const west = materialise(c.west, WEST_KEY, now, false);
      r.script.answer = (): DispatchResult => c.west.kind !== "response" ? { kind: c.west.kind } as DispatchResult
        : { kind: "response", headers: [[":status", c.west.status], ...west.headers], body: Buffer.from(west.body), trailers: [] };
      const f = r.request("/v1/chat/completions", chatBody({ stream: c.stream }), [["api-key", "client-secret-upstream-1"]]);
      check(f.upstreamHeaders !== null && f.up("x-ai-failover-cluster") === "east", "not routed to east");
      const east = materialise(c.east, EAST_KEY, now, c.rare);
      // The router reports the first attempt's connect failure or reset before headers as its own 503.
      const eastStatus = c.east.kind === "response" ? c.east.status : "503";
      const eastHeaders: HeaderList = c.east.kind === "response" ? east.headers : [["content-type", "text/plain"]];
      const b = Buffer.from(c.east.kind === "response" ? east.body : "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
      f.callOnResponseHeaders([[":status", eastStatus], ...eastHeaders], false);
      for (let i = 0; i < b.length || i === 0; i += 65536) f.callOnResponseBody(b.subarray(i, i + 65536), i + 65536 >= b.length);
      const end = Date.now() + 3000;
      while (!(f.responseEnded || f.resetReason !== null) && Date.now() < end) await sleep(1);
      f.complete();
      await sleep(0);
      noTrap(r, "after the answers");
      for (const call of r.callouts) {
        check(call.cluster === "west", `failover to ${call.cluster}`);
        upstreamCredentials(call.headers, call.body.toString("latin1"), WEST_KEY, [...PROVIDER_KEYS, "client-secret-upstream-1"], "failover attempt");
      }
      clientSeesNoKeys(f, "upstream answers");
      for (const p of ["east", "west"]) {
        const st = r.providerState(p);
        if (!st) continue;
        check(st.cooldownUntilMs <= now + 3_600_000n + 1000n, `${p} out for ${(st.cooldownUntilMs - now) / 1000n} s (> the 1 h cap)`);
      }
      const e = r.providerState("east")!;
      if (c.east.kind !== "response" || FAILED.includes(statusOf(c.east)))
        check(e.tokensReserved === 0n && e.requestsReserved === 0n, `east answered ${c.east.status}, yet holds ${e.tokensReserved} tokens / ${e.requestsReserved} requests`);
      const w = r.providerState("west");
      if (r.callouts.length > 0 && w && (c.west.kind !== "response" || FAILED.includes(statusOf(c.west))))
        check(w.tokensReserved === 0n && w.requestsReserved === 0n, `west's attempt failed (${c.west.kind} ${c.west.status}), yet it holds ${w.tokensReserved} tokens / ${w.requestsReserved} requests`);
    }, numRuns, mode, seed);
  } finally {
    await cr.close();
  }
}

/** Linear work: an error body (held to read insufficient_quota) and x-ratelimit headers 8× longer. */
export async function upstreamLinear(): Promise<{ small: number; big: number }> {
  const cr = await new ClockRig(config()).start();
  try {
    const bodiesBySize = [1, 8].map((n) => Buffer.from('{"error":{"code":"429","message":"' + '\\"x\\u0041{[ '.repeat(9000 * n) + '"}}'));
    const heads = [1, 8].map((n): HeaderList => [[":status", "429"], ["retry-after", "1"], ...Array.from({ length: 200 * n }, (_, i): [string, string] => [`x-ratelimit-remaining-${i}`, String(i)])]);
    return await linear("upstream error answer", async (scale) => {
      const r = await cr.fresh();
      r.script.answer = () => ({ kind: "response", headers: [[":status", "200"]], body: Buffer.from("{}"), trailers: [] });
      const f = r.request("/v1/chat/completions", chatBody());
      const k = scale === 1 ? 0 : 1;
      f.callOnResponseHeaders(heads[k]!, false);
      f.callOnResponseBody(bodiesBySize[k]!, true);
      f.complete();
      noTrap(r);
    });
  } finally {
    await cr.close();
  }
}
