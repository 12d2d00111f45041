// The one decision after an answer (assembly/plan/decide.ts), for the in-band answer and a failover
// attempt's alike: what the answer is (plan/answer.ts answerOf) and what follows it, given the
// request's situation and the retry policy. Table-driven.
import { describe, expect, it } from "vitest";
import { planDecide } from "../.build/unit/unit.js";

type D = { kind: number; next: string; reason: string; waitMs: number; model: string };
const NR = "\u0000";
const decide = (status: number, facts = "", body = NR, retryAfterMs = 0, timedOut = false): D =>
  JSON.parse(planDecide(status, body, BigInt(retryAfterMs), timedOut, facts));

const QUOTA = '{"error":{"code":"insufficient_quota","type":"insufficient_quota"}}';
const NOT_DEPLOYED = '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}';
const FILTERED = '{"error":{"code":"content_filter","innererror":{"code":"ResponsibleAIPolicyViolation"}}}';
const TOO_LONG = '{"error":{"message":"This model\'s maximum context length is 128000 tokens.","code":"context_length_exceeded"}}';
const PREV_NOT_FOUND = '{"error":{"code":"previous_response_not_found","message":"Previous response with id \'resp_1\' not found."}}';

describe("decide: what follows an answer", () => {
  it.each<[string, () => D, Partial<D>]>([
    ["200: delivered", () => decide(200), { next: "deliver" }],
    ["a 400 of the client's own: delivered, never retried", () => decide(400, "", '{"error":{"code":"invalid_request"}}'), { next: "deliver" }],
    ["a 4xx the operator listed in onStatus: failed over", () => decide(418, "onStatus=418"), { next: "fail_over", reason: "status_418" }],
    ["503 with a same-group peer: failed over", () => decide(503, "peer=2"), { next: "fail_over", reason: "unavailable" }],
    ["503 with only a costlier group left: failed over (cheaper in time than a back-off)", () => decide(503, "peer=1"), { next: "fail_over" }],
    ["503 with nobody else: retried here once after a jittered back-off", () => decide(503, "peer=0,jitter=50"), { next: "retry_here", reason: "transient", waitMs: 200 }],
    ["the back-off's jitter spans ±50 %", () => decide(500, "peer=0,jitter=0,backoff=100"), { next: "retry_here", waitMs: 50 }],
    ["after that one retry (and no attempts left), the answer goes on", () => decide(503, "peer=0,same=1,attempts=3"), { next: "deliver" }],
    ["a reset with nobody else: retried here", () => decide(0, "peer=0"), { next: "retry_here", reason: "transient" }],
    ["a reset with retries exhausted: the gateway's own error", () => decide(0, "peer=0,same=1,attempts=3"), { next: "reject" }],
    ["504 of the router's per-try timeout: failed over, named", () => decide(504, "peer=2", NR, 0, true), { next: "fail_over", reason: "first_byte_timeout" }],
    ["504 timeout is never retried here (it already cost its time)", () => decide(504, "peer=0,attempts=3", NR, 0, true), { next: "deliver" }],
    ["429, Retry-After 1 s, only a pay-as-you-go group left: the primary after 1 s", () => decide(429, "peer=1", NR, 1000), { next: "retry_here", reason: "retry_after", waitMs: 1000 }],
    ["429, Retry-After 1 s, a same-group peer: failed over at once", () => decide(429, "peer=2", NR, 1000), { next: "fail_over", reason: "rate_limited" }],
    ["429, Retry-After above sameProviderMaxWait: failed over", () => decide(429, "peer=1", NR, 5000), { next: "fail_over" }],
    ["429 without Retry-After: failed over", () => decide(429, "peer=1"), { next: "fail_over" }],
    ["429 whose wait would outlast the request's time: failed over", () => decide(429, "peer=1,elapsed=59500,budget=60000", NR, 1000), { next: "fail_over" }],
    ["429 retried here once only (never a loop)", () => decide(429, "peer=1,same=1", NR, 1000), { next: "fail_over" }],
    ["sameProviderRetries 0 turns the wait off", () => decide(429, "peer=1,sameRetries=0", NR, 1000), { next: "fail_over" }],
    ["429 insufficient_quota: never waited for", () => decide(429, "peer=0", QUOTA, 1000), { next: "fail_over", reason: "rate_limited" }],
    ["429 with no attempts left and nobody else: a short wait serves it", () => decide(429, "attempts=3,peer=0", NR, 1000), { next: "retry_here" }],
    ["429 with no attempts left, long Retry-After: delivered", () => decide(429, "attempts=3,peer=0", NR, 9000), { next: "deliver" }],
    ["429 not in onStatus: delivered", () => decide(429, "onStatus=503,peer=2"), { next: "deliver" }],
    ["pinned 429: not failed over, but waited for when short", () => decide(429, "pinned=1,peer=0", NR, 1000), { next: "retry_here" }],
    ["pinned 503 after its retry: delivered (another provider would not hold its state)", () => decide(503, "pinned=1,same=1"), { next: "deliver" }],
    ["401 with another provider: failed over", () => decide(401, "peer=2"), { next: "fail_over", reason: "credential_rejected" }],
    ["401 when the key was set aside and the provider has another: the same provider, its other key", () => decide(401, "aside=1"), { next: "other_credential" }],
    ["401 pinned and nobody else: the gateway's 502, never the provider's body", () => decide(403, "pinned=1"), { next: "reject" }],
    // A 401 to an identity's token being renewed (aside, tokenWait = its fetch's bound): the same provider with the new token.
    ["401 to a token being renewed, only a costlier group left: retried here with the new token (waiting sameProviderMaxWait at most)", () => decide(401, "aside=1,tokenWait=6000,peer=1"),
      { next: "retry_here", reason: "token_renewed", waitMs: 2000 }],
    ["the wait is the token request's bound when shorter", () => decide(401, "aside=1,tokenWait=1500,peer=1"), { next: "retry_here", waitMs: 1500 }],
    ["sameProviderMaxWait 0: not waited for", () => decide(401, "aside=1,tokenWait=6000,peer=1,maxWait=0"), { next: "other_credential" }],
    ["401 to a token being renewed, nobody else (the failover found none): retried here", () => decide(401, "aside=1,tokenWait=6000,exhausted=1"),
      { next: "retry_here", reason: "token_renewed" }],
    ["401 to a token being renewed, pinned: its owner again, with the new token", () => decide(401, "aside=1,tokenWait=6000,pinned=1,peer=0"),
      { next: "retry_here", reason: "token_renewed" }],
    ["401 to a token being renewed, a same-group peer: that peer meanwhile", () => decide(401, "aside=1,tokenWait=6000,peer=2"), { next: "other_credential" }],
    ["401 to a token being renewed, even after a 429's retry here", () => decide(401, "aside=1,tokenWait=6000,peer=1,same=1"), { next: "retry_here" }],
    ["401 to a token being renewed whose wait would outlast the request: not waited for", () => decide(401, "aside=1,tokenWait=6000,peer=0,elapsed=58500,budget=60000"),
      { next: "other_credential" }],
    ["401 to a renewed token (no access: not set aside) with a costlier group: failed over", () => decide(401, "peer=1"), { next: "fail_over", reason: "credential_rejected" }],
    ["401 with attempts spent: the gateway's 502", () => decide(401, "attempts=3"), { next: "reject" }],
    ["a failover that found nobody: decided again, exhausted", () => decide(503, "exhausted=1,same=1"), { next: "deliver" }],
    ["a body not kept (too large, header mode): nothing can be resent", () => decide(503, "resendable=0,peer=0"), { next: "deliver" }],
    ["404 DeploymentNotFound: failed over whatever onStatus says", () => decide(404, "onStatus=429", NOT_DEPLOYED), { next: "fail_over", reason: "model_not_served" }],
    ["404 DeploymentNotFound, nobody left: the fallback model", () => decide(404, "exhausted=1,fallback=gpt-4o-mini", NOT_DEPLOYED), { next: "fallback_model", model: "gpt-4o-mini" }],
    ["404 while looking for the objects' owner: the next provider", () => decide(404, "discovering=1"), { next: "fail_over", reason: "not_owner" }],
    ["400 previous_response_not_found while looking: the next provider", () => decide(400, "discovering=1", PREV_NOT_FOUND), { next: "fail_over", reason: "not_owner" }],
    // Issue 20: an unknown id asks at most retry.maxAttempts providers, not every one.
    ["404 while looking, below the walk's bound: the next provider", () => decide(404, "discovering=1,discoverAttempts=3,attempts=2"), { next: "fail_over", reason: "not_owner" }],
    ["404 while looking, at the walk's bound: the client gets it", () => decide(404, "discovering=1,discoverAttempts=3,attempts=3"), { next: "deliver" }],
    ["404 not looking: the client's (an unknown id)", () => decide(404, "", '{"error":{"code":"not_found"}}'), { next: "deliver" }],
    ["400 content_filter, policy off: delivered", () => decide(400, "", FILTERED), { next: "deliver" }],
    ["400 content_filter, onContentFilter: the next provider", () => decide(400, "onContentFilter=1", FILTERED), { next: "fail_over", reason: "content_filter" }],
    ["400 context_length with a larger-context model: that model", () => decide(400, "context=gpt-4.1", TOO_LONG), { next: "fallback_model", reason: "context_length", model: "gpt-4.1" }],
    ["400 context_length, onContextLength, no larger model: the next provider", () => decide(400, "onContextLength=1", TOO_LONG), { next: "fail_over", reason: "context_length" }],
    ["400 context_length, nothing configured: delivered", () => decide(400, "", TOO_LONG), { next: "deliver" }],
    ["every gpt-4o provider cooling (failover found none): the fallback model", () => decide(429, "exhausted=1,fallback=gpt-4o-mini", NR, 30000), { next: "fallback_model", model: "gpt-4o-mini" }],
    ["a fallback is never taken for the client's own error", () => decide(400, "fallback=gpt-4o-mini", '{"error":{"code":"invalid_request"}}'), { next: "deliver" }],
    ["a stream's first token past firstTokenTimeout: failed over, named", () => decide(200, "firstToken=1,peer=2"), { kind: 12, next: "fail_over", reason: "first_token_timeout" }],
    ["a first-token timeout is never retried here (it already cost its time)", () => decide(200, "firstToken=1,peer=0"), { next: "fail_over" }],
    ["a first-token timeout with no attempts left: the held stream goes on (nothing else can serve it)", () => decide(200, "firstToken=1,attempts=3"), { next: "deliver" }],
    ["a first-token timeout when 504 is not in onStatus: the held stream goes on", () => decide(200, "firstToken=1,onStatus=429+503"), { next: "deliver" }],
    ["a first-token timeout, nobody left: the fallback model", () => decide(200, "firstToken=1,exhausted=1,fallback=gpt-4o-mini"), { next: "fallback_model", model: "gpt-4o-mini" }],
    ["a first-token timeout of a pinned request: the held stream goes on", () => decide(200, "firstToken=1,pinned=1"), { next: "deliver" }],
    ["a fallback needs a body to resend", () => decide(503, "exhausted=1,same=1,resendable=0,fallback=gpt-4o-mini"), { next: "deliver" }],
  ])("%s", (_name, run, want) => {
    expect(run()).toMatchObject(want);
  });

  it("the answer kinds are read from status and body in one place", () => {
    const kinds = [decide(200), decide(429), decide(429, "", QUOTA), decide(401), decide(500), decide(0), decide(504, "", NR, 0, true),
      decide(404, "", NOT_DEPLOYED), decide(404, "discovering=1"), decide(400, "", FILTERED), decide(400, "", TOO_LONG), decide(422)].map((d) => d.kind);
    expect(kinds).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});
