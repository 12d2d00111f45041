import OpenAI, { AzureOpenAI } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockProviderOptions } from "../../../harness/providers/index.ts";
import { fetchPost, mockChat } from "../../support/stack.ts";

const KEY = "k-east";
const PATH = "/openai/deployments/d1/chat/completions?api-version=2024-10-21";
// "Say hello": prompt estimate 10; with max_tokens 100 every request reserves 110 tokens.
const COST = 110;

let open: MockProvider[] = [];
afterEach(async () => {
  await Promise.all(open.map((p) => p.close()));
  open = [];
});

async function azure(limits: { tokensPerMinute?: number; requestsPerMinute?: number }, extra: Partial<MockProviderOptions> = {}) {
  const p = await startMockProvider({ kind: "azure", name: "aoai", keys: [KEY], deployments: { d1: { model: "gpt-4o", ...limits } }, ...extra });
  open.push(p);
  return p;
}

function fakeClock(start = 1_000_000) {
  const c = { now: start, clock: () => c.now };
  return c;
}

const send = (p: MockProvider, extra: Record<string, unknown> = {}) =>
  fetchPost(p.url, PATH, mockChat({ max_tokens: 100, ...extra }), { "api-key": KEY });

describe("admission like Azure: prompt estimate + max_tokens against the window", () => {
  it("20 parallel requests: exactly the budget is admitted, the rest get 429 at once with retry headers", async () => {
    const p = await azure({ tokensPerMinute: 1000 });
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 20 }, () => send(p)));
    const elapsed = Date.now() - t0;
    const ok = rs.filter((r) => r.status === 200);
    const limited = rs.filter((r) => r.status === 429);
    expect(ok).toHaveLength(Math.floor(1000 / COST)); // 9
    expect(limited).toHaveLength(20 - 9);
    const admitted = p.records.filter((r) => r.status === 200);
    expect(admitted.reduce((n, r) => n + r.reservedTokens!, 0)).toBeLessThanOrEqual(1000);
    // the headers of admitted answers count down by exactly the reservation
    const remaining = ok.map((r) => Number(r.headers.get("x-ratelimit-remaining-tokens"))).sort((a, b) => b - a);
    expect(remaining).toEqual(Array.from({ length: 9 }, (_, i) => 1000 - COST * (i + 1)));
    for (const r of limited) {
      const ms = Number(r.headers.get("retry-after-ms"));
      expect(ms).toBeGreaterThan(60_000 - elapsed - 50);
      expect(ms).toBeLessThanOrEqual(60_000);
      expect(r.headers.get("retry-after")).toBe(String(Math.ceil(ms / 1000)));
      expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe(String(1000 - 9 * COST));
      expect(r.headers.get("x-ratelimit-remaining-requests")).toBeTruthy();
      expect(r.headers.get("policy-id")).toBe("DeploymentRatelimit-Token");
      expect(JSON.parse(r.text).error).toEqual({
        code: "429",
        message: expect.stringMatching(
          /^Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier\. Please retry after \d+ seconds\. Please go here: https:\/\/aka\.ms\/oai\/quotaincrease if you would like to further increase the default rate limit\.$/,
        ),
      });
    }
    expect(p.stats().admitted).toBe(9);
    expect(p.stats().byOutcome["rate-limited-tokens"]).toBe(11);
  });

  it("retry-after-ms is the time left in the window; the window resets after windowMs", async () => {
    const c = fakeClock();
    const p = await azure({ tokensPerMinute: 300 }, { windowMs: 10_000, clock: c.clock });
    expect((await send(p)).status).toBe(200);
    expect((await send(p)).status).toBe(200);
    c.now += 4000;
    const r = await send(p);
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after-ms")).toBe("6000");
    expect(r.headers.get("retry-after")).toBe("6");
    expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe(String(300 - 2 * COST));
    c.now += 5999;
    expect((await send(p)).status).toBe(429);
    c.now += 1;
    const again = await send(p);
    expect(again.status).toBe(200);
    expect(again.headers.get("x-ratelimit-remaining-tokens")).toBe(String(300 - COST));
  });

  it("no max_tokens → the default (1024) is counted; a request bigger than the whole budget is refused", async () => {
    const c = fakeClock();
    const p = await azure({ tokensPerMinute: 1500 }, { clock: c.clock });
    const r = await fetchPost(p.url, PATH, mockChat(), { "api-key": KEY });
    expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe(String(1500 - 10 - 1024));
    const big = await send(p, { max_tokens: 5000 });
    expect(big.status).toBe(429);
    expect(p.records.at(-1)).toMatchObject({ outcome: "rate-limited-tokens", promptTokens: 10 });
    expect(p.records.at(-1)!.reservedTokens).toBeUndefined(); // nothing was reserved
  });

  it("requests per minute: the call limit gives a 429 with the call-rate message", async () => {
    const p = await azure({ requestsPerMinute: 2 });
    expect((await send(p)).headers.get("x-ratelimit-remaining-requests")).toBe("1");
    expect((await send(p)).headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const r = await send(p);
    expect(r.status).toBe(429);
    expect(r.headers.get("policy-id")).toBe("DeploymentRatelimit-Call");
    expect(JSON.parse(r.text).error.message).toContain("exceeded call rate limit");
    expect(p.records.at(-1)!.outcome).toBe("rate-limited-requests");
  });

  it("the AzureOpenAI SDK sees a RateLimitError carrying the retry headers", async () => {
    const p = await azure({ tokensPerMinute: 100 });
    const client = new AzureOpenAI({ endpoint: p.url, apiKey: KEY, apiVersion: "2024-10-21", maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: "d1", messages: [{ role: "user", content: "hi" }], max_tokens: 200 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = (err as InstanceType<typeof OpenAI.RateLimitError>).headers;
    expect(Number(headers.get("retry-after-ms"))).toBeGreaterThan(0);
  });

  it("OpenAI kind: its 429 body and Go-style reset headers", async () => {
    const c = fakeClock();
    const p = await startMockProvider({
      kind: "openai",
      name: "oai",
      keys: [KEY],
      models: { "gpt-4o": { model: "gpt-4o-2024-08-06", tokensPerMinute: 250 } },
      windowMs: 60_000,
      clock: c.clock,
    });
    open.push(p);
    const go = () => fetchPost(p.url, "/v1/chat/completions", mockChat({ model: "gpt-4o", max_tokens: 100 }), { authorization: `Bearer ${KEY}` });
    expect((await go()).status).toBe(200);
    const second = await go();
    expect(second.headers.get("x-ratelimit-reset-tokens")).toBe("1m0s");
    c.now += 500;
    const r = await go();
    expect(r.status).toBe(429);
    expect(r.text).toBe(
      '{"error":{"message":"Rate limit reached for gpt-4o in organization org-mock on tokens per min (TPM): Limit 250, Used 220, Requested 110. Please try again in 59.5s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
    );
    expect(r.headers.get("retry-after-ms")).toBe("59500");
    expect(r.headers.get("retry-after")).toBe("60");
    expect(r.headers.get("x-ratelimit-reset-tokens")).toBe("59.5s");
    expect(r.headers.get("x-ratelimit-limit-tokens")).toBe("250");
    expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe("30");
  });
});
