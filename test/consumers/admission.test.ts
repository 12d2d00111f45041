// Consumers (gateway-issued keys): budgets that cannot be escaped, model allow-lists, the
// consumer's own rate-limit headers, reservations given back when a request goes nowhere.
import { afterEach, describe, expect, it } from "vitest";
import {
  azure, baseConfig, BEARER, chatBody, CONSUMER_KEY, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, type HostRig,
} from "../../harness/rig/host-rig.ts";

describe("consumers: admission and budgets", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // A consumer redefined in a Higress rule (same name and key, other limits) shares the shared-data
  // key "ai-failover/consumer/<name>" with the global one but has another fingerprint: every
  // request under one view wipes the other's window, so a client alternating domains has no budget.
  it("a consumer's budget cannot be escaped by alternating between a rule's domain and the global config", async () => {
    const consumer = { name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 1000 };
    r = await rig(baseConfig({
      consumers: [consumer],
      _rules_: [{ _match_domain_: ["b.example.com"], consumers: [{ ...consumer, requestsPerMinute: 100 }] }],
    }));
    let admitted = 0;
    for (let k = 0; k < 8; k++) {
      const f = r.open();
      const b = Buffer.from(JSON.stringify(chatBody({ max_tokens: 400 })));
      const h = reqHeaders("/v1/chat/completions", b, [["authorization", "Bearer consumer-key-team-a-0001"]])
        .map(([n, v]) => [n, n === ":authority" ? (k % 2 ? "b.example.com" : "a.example.com") : v] as [string, string]);
      f.callOnRequestHeaders(h, false);
      if (f.localReply === null) f.callOnRequestBody(b, true);
      if (f.localReply === null) {
        admitted++;
        // Keep the reservation (the response has not ended yet): settle happens at completion.
      }
    }
    // Each view allows two such requests (~410 tokens each) per minute: at most four in all.
    expect(admitted).toBeLessThanOrEqual(4);
  });

  // plugin/request/client_request.ts + plugin/request/header_mode.ts (mode: headers): routing, the consumer's model
  // allow-list and the reservation use x-ai-model, but the body streams through unread. An
  // OpenAI-type provider (and an Azure v1 one) serves the body's "model": a consumer limited to
  // gpt-4o-mini names it in x-ai-model and gets gpt-4o.
  it("header-only mode: a consumer's model allow-list cannot be bypassed through the body's model", async () => {
    r = await rig(baseConfig({
      mode: "headers",
      providers: [openai("oai", OAI_KEY, 0, { models: ["gpt-4o", "gpt-4o-mini"] })],
      consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, models: ["gpt-4o-mini"] }],
    }), { allowOnHeadersStopIteration: false });
    const body = Buffer.from(JSON.stringify(chatBody({ model: "gpt-4o" })));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body, [BEARER, ["x-ai-model", "gpt-4o-mini"]]), false);
    if (f.localReply === null) f.callOnRequestBody(body, true);
    if (f.localReply !== null || f.resetReason !== null) return; // refused: fine
    expect(JSON.parse(f.upstreamBody).model, "the provider was asked for a model the consumer may not use").not.toBe("gpt-4o");
  });

  // plan/rejection.ts noProvider (and the status-0 path of plugin/request/failover.ts replyWithAttempt): docs/configuration.md: "every
  // response carries the consumer's own x-ratelimit-remaining-tokens / -requests". The gateway's
  // own 429 no_provider_available, sent after the consumer's reservation, carries none.
  it("the gateway's own 429 (no provider capacity) carries the consumer's x-ratelimit headers", async () => {
    r = await rig(baseConfig({
      providers: [azure("east", EAST_KEY, 0, { limits: { tokensPerMinute: 1000 } })],
      consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000, requestsPerMinute: 100 }],
    }));
    const first = r.request("/v1/chat/completions", chatBody({ max_tokens: 900 }), [BEARER]);
    expect(first.up(":authority")).toBe("east.openai.azure.com");
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 900 }), [BEARER]);
    expect(f.localReply).toBe(429);
    expect(f.header("x-ai-failover-error")).toBe("no_provider_available");
    expect(f.header("x-ratelimit-remaining-tokens")).toBeDefined();
    expect(f.header("x-ratelimit-remaining-requests")).toBeDefined();
    f.complete();
    first.complete();
  });

  // Coverage: a local reply after consumer admission (no provider) gives the consumer's reservation back.
  it("consumer reservation is released when no provider can take the request", async () => {
    r = await rig(baseConfig({
      providers: [{ ...JSON.parse(JSON.stringify(baseConfig().providers))[0], limits: { tokensPerMinute: 100 } }],
      consumers: [{ name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 100000 }],
    }));
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 5000 }), [["authorization", "Bearer consumer-key-team-a-0001"]]);
    expect(f.localReply).toBe(429);
    f.complete();
    const c = r.consumerState("team-a")!;
    expect(c.tokensReserved).toBe(0n);
    expect(c.requestsReserved).toBe(0n);
  });

  // Coverage: a client disconnect before any response releases the consumer's reservation.
  it("client disconnect before the response releases the consumer reservation", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: "consumer-key-team-a-0001", tokensPerMinute: 100000 }] }));
    const f = r.request("/v1/chat/completions", chatBody(), [["api-key", "consumer-key-team-a-0001"]]);
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.reset("downstream_remote_disconnect", "downstream");
    const c = r.consumerState("team-a")!;
    expect(c.tokensReserved).toBe(0n);
  });
});
