// Passive health from single answers: a 429 cools the provider down (whatever its retry-after
// says, and even if its body never completes); a client error never counts against it.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, CHAT_OK, chatBody, EAST_KEY, OAI_KEY, openai, rig, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

describe("health: cooldowns", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // retry-after(-ms) is added to now() in i64 without a bound: a huge value saturates to
  // i64.MAX and the sum wraps negative, so the provider gets no cooldown at all.
  it("a 429 with an absurd retry-after-ms still cools the provider down", async () => {
    r = await rig(baseConfig({ retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', [["retry-after-ms", "99999999999999999999"]]);
    f.complete();
    const s = r.providerState("east")!;
    expect(s.cooldownUntilMs).toBeGreaterThan(BigInt(Date.now()));
    const next = r.request("/v1/chat/completions", chatBody());
    expect(next.up(":authority")).toBe("west.openai.azure.com");
    next.complete();
  });

  // plugin/request/client_request.ts onResponseHeaders (phase ReadingError): a 429 whose body has not ended defers record().
  // If the stream ends first (client disconnect, upstream reset mid-body), record() never runs:
  // the provider gets no cooldown despite its retry-after, and the reservation of a request the
  // provider refused stays in its window until the window ends.
  it("a 429 whose body never completes still cools the provider down and releases the reservation", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0, { limits: { tokensPerMinute: 100000 } })], retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    f.callOnResponseHeaders([[":status", "429"], ["content-type", "application/json"], ["retry-after", "30"]], false);
    f.callOnResponseBody(Buffer.from('{"error":{"code":"429",'), false);
    f.reset("downstream_remote_disconnect", "downstream");
    const s = r.providerState("east")!;
    expect(s.cooldownUntilMs, "no cooldown from the 429").toBeGreaterThan(BigInt(Date.now()));
    expect(s.requestsReserved, "the refused request is still reserved").toBe(0n);
  });

  // Coverage: a 400 (content filter) neither ejects nor keeps a reservation.
  it("a client error releases the reservation and never counts against the provider", async () => {
    r = await rig(baseConfig());
    for (let k = 0; k < 5; k++) {
      const f = r.request("/v1/chat/completions", chatBody());
      f.respond(400, '{"error":{"code":"content_filter","message":"filtered"}}');
      f.complete();
      expect(f.status).toBe(400);
    }
    const s = r.providerState("east")!;
    expect(s.consecutiveFailures).toBe(0);
    expect(s.requestsReserved).toBe(0n);
    expect(s.cooldownUntilMs).toBe(0n);
  });
});

// Issue 19 item 3: on an OpenAI-type provider a rate-limit 429 is the model's. The model name is
// the client's: whatever it holds, the model's record is keyed by its hash, its log line is made
// safe, and nothing traps.
describe("health: per-model cooldowns on an OpenAI-type provider", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  const ODD = "gpt\u0001\n=" + "x".repeat(20_000);
  const OAI_429 = '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}';

  it("a 429 for an odd model name cools that model only: its next request goes to the next provider, another model stays", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0), openai("oai2", WEST_KEY, 1)], retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody({ model: ODD }));
    expect(f.up(":authority")).toBe("oai.example.com");
    f.respond(429, OAI_429, [["retry-after-ms", "30000"], ["x-ratelimit-remaining-tokens", "0"]]);
    f.complete();
    expect(f.status).toBe(429);
    const again = r.request("/v1/chat/completions", chatBody({ model: ODD }));
    expect(again.up(":authority")).toBe("oai2.example.com");
    again.respond(200, CHAT_OK);
    again.complete();
    const other = r.request("/v1/chat/completions", chatBody({ model: "gpt-4o" }));
    expect(other.up(":authority")).toBe("oai.example.com");
    other.respond(200, CHAT_OK, [["x-ratelimit-remaining-tokens", "5000"]]);
    other.complete();
    // The provider itself was never cooled down, and did not learn gpt-4o's count as its own.
    const s = r.providerState("oai")!;
    expect(s.cooldownUntilMs).toBe(0n);
    expect(s.remainingTokens).toBe(-1n);
    const keys = r.process.sharedData.keys("").filter((k) => k.startsWith("ai-failover/provider/oai/"));
    expect(keys.filter((k) => k.includes("/model/")).map((k) => k.replace(/.*\/model\//, "")).every((k) => /^#[0-9a-f]{16}$/.test(k))).toBe(true);
    expect(keys.filter((k) => k.includes("/model/"))).toHaveLength(2);
    expect(keys.every((k) => k.length < 100)).toBe(true);
    const line = r.lines("rate limited").join("\n");
    expect(line).toContain("provider oai model gpt___xxx");
    expect(line).not.toContain("\n=");
    expect(r.traps()).toEqual([]);
  });
});
