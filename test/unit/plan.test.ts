// The planning layer (assembly/plan/) through the unit build: what goes upstream, what an
// answer means, what an attempt is charged, what the gateway replies when nothing can take a
// request, and the request phase table (assembly/plugin/request/phase.ts). Table-driven.
import { describe, expect, it } from "vitest";
import {
  planUpstream, planParse, planClassify, planCharge, planNoProvider, planOverBudget, phaseTransitions,
} from "../.build/unit/unit.js";

const ABSENT = "\u0000";
const AZURE = 0, OPENAI = 1, CLASSIC = 0, V1 = 1;
const CHAT = 1, EMBEDDINGS = 3, RESPONSES = 4;
const KEY = "key-of-p-0123456789";

type Up = {
  method: string; path: string; authority: string; authName: string; authValue: string; cluster: string; body: string;
  bodyChanged: boolean; injectedUsage: boolean; calloutHeaders: string[];
};
const up = (type: number, api: number, deployments: string, kind: number, model: string, method: string, body: string,
  headerOnly = false, includeUsage = true): Up =>
  JSON.parse(planUpstream(type, api, deployments, kind, model, method, body, headerOnly, includeUsage));

describe("upstreamRequest: one plan for the first attempt and every failover", () => {
  const chat = '{"model":"gpt-4o","messages":[]}';
  const streamChat = '{"model":"gpt-4o","stream":true}';
  it.each<[string, () => Up, Partial<Up>]>([
    ["Azure classic: deployment in the path, api-key, body untouched",
      () => up(AZURE, CLASSIC, "gpt-4o=gpt4o-ptu", CHAT, "gpt-4o", "POST", chat),
      { path: "/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21", authority: "p.openai.azure.com",
        authName: "api-key", authValue: KEY, cluster: "cluster-p", body: chat, bodyChanged: false, injectedUsage: false }],
    ["Azure classic embeddings", () => up(AZURE, CLASSIC, "text-embedding-3-small=emb", EMBEDDINGS, "text-embedding-3-small", "POST", '{"input":"x"}'),
      { path: "/openai/deployments/emb/embeddings?api-version=2024-10-21", bodyChanged: false }],
    ["Azure v1: the deployment becomes the body's model", () => up(AZURE, V1, "gpt-4o=dep-a", CHAT, "gpt-4o", "POST", chat),
      { path: "/openai/v1/chat/completions", body: '{"model":"dep-a","messages":[]}', bodyChanged: true }],
    ["Azure Responses API goes to /openai/v1 with the deployment in the body", () => up(AZURE, CLASSIC, "gpt-4o=dep-r", RESPONSES, "gpt-4o", "POST", '{"model":"gpt-4o","input":"hi"}'),
      { path: "/openai/v1/responses", body: '{"model":"dep-r","input":"hi"}', bodyChanged: true }],
    ["OpenAI: Bearer credential, /v1 path, the client's model", () => up(OPENAI, CLASSIC, "", CHAT, "gpt-4o", "POST", chat),
      { path: "/v1/chat/completions", authority: "api.example.com", authName: "authorization", authValue: "Bearer " + KEY, body: chat, bodyChanged: false }],
    ["streaming chat: include_usage injected", () => up(AZURE, CLASSIC, "gpt-4o=d", CHAT, "gpt-4o", "POST", streamChat),
      { body: '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}', bodyChanged: true, injectedUsage: true }],
    ["streaming chat, policy includeUsage off: nothing injected", () => up(AZURE, CLASSIC, "gpt-4o=d", CHAT, "gpt-4o", "POST", streamChat, false, false),
      { body: streamChat, bodyChanged: false, injectedUsage: false }],
    ["streaming chat, the client said include_usage false: left alone",
      () => up(AZURE, CLASSIC, "gpt-4o=d", CHAT, "gpt-4o", "POST", '{"stream":true,"stream_options":{"include_usage":false}}'),
      { bodyChanged: false, injectedUsage: false }],
    ["streaming embeddings are not chat: nothing injected", () => up(AZURE, CLASSIC, "gpt-4o=d", EMBEDDINGS, "gpt-4o", "POST", streamChat),
      { injectedUsage: false, bodyChanged: false }],
    ["header mode (body not scanned): the body goes as sent even where a model rewrite would apply",
      () => up(AZURE, V1, "gpt-4o=dep-a", CHAT, "gpt-4o", "POST", chat, true),
      { path: "/openai/v1/chat/completions", body: chat, bodyChanged: false, injectedUsage: false }],
    ["no method known: POST", () => up(AZURE, CLASSIC, "gpt-4o=d", CHAT, "gpt-4o", "", chat), { method: "POST" }],
    ["GET stays GET", () => up(AZURE, CLASSIC, "gpt-4o=d", CHAT, "gpt-4o", "GET", ""), { method: "GET", body: "" }],
  ])("%s", (_name, make, want) => {
    expect(make()).toMatchObject(want);
  });

  it("the http_call headers carry exactly the provider's authority, path and credential", () => {
    const r = up(AZURE, CLASSIC, "gpt-4o=gpt4o-ptu", CHAT, "gpt-4o", "POST", chat);
    expect(r.calloutHeaders).toEqual([
      ":method", "POST", ":path", "/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21",
      ":authority", "p.openai.azure.com", ":scheme", "https", "api-key", KEY, "content-type", "application/json",
    ]);
  });
});

describe("answer headers", () => {
  it.each([
    ["retry-after-ms", ["100", ABSENT], 100],
    ["retry-after-ms fraction rounds up", ["100.2", ABSENT], 101],
    ["retry-after seconds", [ABSENT, "2"], 2000],
    ["retry-after-ms wins over retry-after", ["250", "9"], 250],
    ["unparsable retry-after-ms falls back to retry-after", ["abc", "3"], 3000],
    ["negative is not a number here", [ABSENT, "-1"], 0],
    ["absurd values are capped at an hour", ["99999999999", ABSENT], 3_600_000],
    ["absurd seconds are capped too", [ABSENT, "86400"], 3_600_000],
    ["neither", [ABSENT, ABSENT], 0],
  ])("retry-after: %s", (_n, [ms, s], want) => {
    expect(JSON.parse(planParse(ms!, s!, ABSENT, ABSENT)).retryAfterMs).toBe(want);
  });

  it.each([["42", 42], [" 7 ", 7], ["3.9", 3], ["x", -1], ["1e3", -1], ["-4", -1], [ABSENT, -1], ["99999999999999999999", 1e15]])(
    "count %j → %d", (v, want) => {
      expect(JSON.parse(planParse(ABSENT, ABSENT, v as string, ABSENT)).count).toBe(want);
    });

  it.each([["200", 200], [" 503 ", 503], ["20", 0], ["2x0", 0], ["2000", 0], [ABSENT, 0]])("status %j → %d", (v, want) => {
    expect(JSON.parse(planParse(ABSENT, ABSENT, ABSENT, v as string)).status).toBe(want);
  });
});

describe("classifyAnswer: the only place that reads what an answer means", () => {
  const SUCCESS = 0, RATE_LIMITED = 1, CREDENTIAL = 2, QUOTA = 3, FAILURE = 4, CLIENT = 5;
  const quota = '{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}';
  it.each([
    ["200", 200, 0, ABSENT, SUCCESS, true],
    ["302 is not a failure, nor ok", 302, 0, ABSENT, SUCCESS, false],
    ["429 rate limit", 429, 5000, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', RATE_LIMITED, false],
    ["429 whose body was not read", 429, 0, ABSENT, RATE_LIMITED, false],
    ["429 insufficient_quota", 429, 0, quota, QUOTA, false],
    ["insufficient_quota only matters on a 429", 400, 0, quota, CLIENT, false],
    ["401", 401, 0, ABSENT, CREDENTIAL, false],
    ["403", 403, 0, ABSENT, CREDENTIAL, false],
    ["500", 500, 0, ABSENT, FAILURE, false],
    ["503", 503, 0, ABSENT, FAILURE, false],
    ["408", 408, 0, ABSENT, FAILURE, false],
    ["no answer (reset, connect failure)", 0, 0, ABSENT, FAILURE, false],
    ["400 (content filter, bad request): not the provider's fault", 400, 0, '{"error":{"code":"content_filter"}}', CLIENT, false],
    ["404", 404, 0, ABSENT, CLIENT, false],
  ])("%s", (_n, status, retryAfter, body, outcome, ok) => {
    const v = JSON.parse(planClassify(status, BigInt(retryAfter), 77n, body));
    expect(v).toMatchObject({ outcome, ok, status, remainingTokens: 77 });
    expect(v.retryAfterMs).toBe(status === 429 ? retryAfter : 0);
  });

  it("a retry-after on anything but a 429 is ignored", () => {
    expect(JSON.parse(planClassify(503, 5000n, -1n, ABSENT)).retryAfterMs).toBe(0);
  });
});

describe("charge: one rule for every way an attempt ends", () => {
  const usage = (u: Record<string, number>) => JSON.stringify({ choices: [], usage: u });
  it.each([
    ["chat usage", usage({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }), true, 0, 0, -1, 0,
      { input: 10, output: 5, reported: true, estimated: false, total: 15 }],
    ["total_tokens only (embeddings on some servers): all input", usage({ total_tokens: 700 }), true, 50, 0, -1, 0,
      { input: 700, output: 0, reported: true, total: 700 }],
    ["embeddings usage", usage({ prompt_tokens: 8, total_tokens: 8 }), true, 50, 0, -1, 0, { input: 8, output: 0, total: 8 }],
    ["Responses API usage", usage({ input_tokens: 3, output_tokens: 4, total_tokens: 7 }), true, 0, 0, -1, 0, { input: 3, output: 4 }],
    ["usage on a failed answer still counts", usage({ prompt_tokens: 9, completion_tokens: 0 }), false, 0, 0, -1, 0,
      { input: 9, output: 0, reported: true, estimated: false }],
    ["no usage, streamed: the prompt estimate + content events", "data: x\n\n", true, 100, 50, 12, 999,
      { input: 100, output: 12, estimated: true, reported: false, total: 112 }],
    ["no usage: the estimate never exceeds max tokens", "", true, 100, 50, 80, 0, { output: 50, estimated: true }],
    ["no usage, not streamed: a token per 4 bytes", "", true, 0, 0, -1, 4000, { input: 0, output: 1000, estimated: true }],
    ["no usage on a failure: nothing to charge", "", false, 100, 50, 12, 400, { input: 0, output: 0, estimated: false, reported: false, total: 0 }],
  ])("%s", (_n, answer, ok, prompt, max, events, bytes, want) => {
    expect(JSON.parse(planCharge(answer, ok, BigInt(prompt), BigInt(max), BigInt(events), BigInt(bytes)))).toMatchObject(want);
  });
});

describe("rejections: what the gateway answers when nothing can take a request", () => {
  const UNKNOWN = 1, UNAVAILABLE = 2, NO_CAPACITY = 3;
  const nop = (spec: string, model: string, need: number, why: number, headerOnly = false) =>
    JSON.parse(planNoProvider(spec, model, BigInt(need), headerOnly, why, 60_000n, 10_000n));
  it.each([
    ["no model named", "", "", 0, UNKNOWN, false,
      { status: 400, code: "model_not_found", metric: "unknown_model", retryAfterS: -1, message: 'the request names no model (set "model" in the body)' }],
    ["no model named, header mode", "", "", 0, UNKNOWN, true, { status: 400, message: 'the request names no model (set "model" in the body or the x-ai-model header)' }],
    ["a model nobody serves", "", "gpt-5", 0, UNKNOWN, false, { status: 404, message: 'model "gpt-5" is not served by any provider of this gateway' }],
    ["all cooling down: back when the first cooldown ends", "0:1:0:65000:0;0:1:0:70000:0", "gpt-4o", 10, UNAVAILABLE, false,
      { status: 429, code: "no_provider_available", type: "rate_limit_error", metric: "no_provider_available", retryAfterS: 5,
        message: "every provider serving this model is cooling down after rate limiting; retry after 5 s" }],
    ["all unhealthy: back after a health interval", "0:0:0:0:0", "gpt-4o", 10, UNAVAILABLE, false,
      { retryAfterS: 10, message: "every provider serving this model is unhealthy; retry after 10 s" }],
    ["credential rejected counts as unhealthy, its ejection end as the time", "0:1:1:63000:0", "gpt-4o", 10, UNAVAILABLE, false,
      { retryAfterS: 3, message: "every provider serving this model is unhealthy; retry after 3 s" }],
    ["mixed", "0:0:0:0:0;0:1:0:62000:0", "gpt-4o", 10, UNAVAILABLE, false,
      { retryAfterS: 2, message: "no provider serving this model is available (1 unhealthy, 1 cooling down); retry after 2 s" }],
    ["no capacity: back when the window frees up", "1000:1:0:0:30000", "gpt-4o", 500, NO_CAPACITY, false,
      { status: 429, code: "no_provider_available", metric: "no_capacity", retryAfterS: 30,
        message: "no provider has capacity for this request right now; retry after 30 s" }],
    ["larger than every window: waiting will not help", "1000:1:0:0:30000;2000:1:0:0:30000", "gpt-4o", 5000, NO_CAPACITY, false,
      { status: 429, code: "request_exceeds_capacity", metric: "no_capacity", retryAfterS: 30 }],
    ["an unlimited provider is never too small", "1000:1:0:0:30000;0:1:0:0:30000", "gpt-4o", 5000, NO_CAPACITY, false,
      { code: "no_provider_available" }],
  ])("%s", (_n, spec, model, need, why, headerOnly, want) => {
    expect(nop(spec, model, need, why, headerOnly)).toMatchObject(want);
  });

  it.each([
    ["larger than the whole budget", 1000, 0, 5000, 0,
      { retryAfterS: 1, message: "this request (5000 tokens estimated) is larger than consumer team-a's budget of 1000 tokens per minute" }],
    ["over budget: back when the window frees up", 1000, 10, 500, 12_345,
      { retryAfterS: 13, message: "consumer team-a is over its budget (1000 tokens, 10 requests per minute); retry after 13 s" }],
    // A limit that is not set reads "unlimited", not "0".
    ["over its request budget, tokens unlimited", 0, 10, 500, 1000,
      { retryAfterS: 1, message: "consumer team-a is over its budget (unlimited tokens, 10 requests per minute); retry after 1 s" }],
    ["over its token budget, requests unlimited", 1000, 0, 500, 2500,
      { retryAfterS: 3, message: "consumer team-a is over its budget (1000 tokens, unlimited requests per minute); retry after 3 s" }],
  ])("consumer budget: %s", (_n, tpm, rpm, need, waitMs, want) => {
    expect(JSON.parse(planOverBudget(BigInt(tpm), BigInt(rpm), BigInt(need), BigInt(waitMs))))
      .toMatchObject({ status: 429, code: "consumer_rate_limit_exceeded", metric: "consumer_budget", ...want });
  });
});

describe("request phases: the one table of allowed transitions", () => {
  it("is exactly the documented state machine", () => {
    const got = new Set(phaseTransitions().split(","));
    const want = [
      "idle>reading_body", "idle>forwarded", "idle>replied",
      "reading_body>forwarded", "reading_body>replied",
      "forwarded>reading_error", "forwarded>failing_over", "forwarded>responding", "forwarded>replied",
      "reading_error>failing_over", "reading_error>responding",
      "failing_over>failing_over", "failing_over>replied",
      "responding>replied",
      ...["idle", "reading_body", "forwarded", "reading_error", "failing_over", "responding", "replied"].map((p) => `${p}>done`),
    ];
    expect([...got].sort()).toEqual([...want].sort());
  });
});
