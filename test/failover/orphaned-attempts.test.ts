// Review, round 2: paths changed since the first review (request-header parsing, orphaned
// attempts, consumer budgets per rule, _rules_ matching) and paths it did not cover.
// Each defect is a test asserting the CORRECT behaviour (it fails until fixed); the tests
// marked "Coverage" pass and pin a risky path.
import { afterEach, describe, expect, it } from "vitest";
import {
  azure, baseConfig, chatBody, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, sleep, until, WEST_KEY, type HostRig,
} from "../support/host-rig.ts";
import type { DispatchResult } from "../../harness/host/index.ts";

const CONSUMER_KEY = "consumer-key-team-a-0001";
const BEARER: [string, string] = ["authorization", "Bearer " + CONSUMER_KEY];
const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const accessLine = (r: HostRig) => r.logs.filter((l) => l.message.startsWith("ai-failover access:")).map((l) => l.message);

function gated(answer: DispatchResult): { release: () => void; script: () => Promise<DispatchResult> } {
  let release!: () => void;
  const gate = new Promise<void>((res) => { release = res; });
  return { release, script: async () => { await gate; return answer; } };
}

describe("review round 2: defects", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // stream.ts onRequestHeaders/onRequestBody (mode: headers): routing, the consumer's model
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

  // capacity.ts tokensLeft/fits + transitions: a 429 carrying x-ratelimit-remaining-tokens: 0
  // (Azure and OpenAI send the window headers on 429s) is remembered until the gateway's own
  // window rolls (up to limits.window, 60 s), not until the provider's retry-after. After a
  // 100 ms retry-after the provider is refused for the rest of the minute: the client gets a 429
  // with retry-after ~60 s while the provider has capacity again.
  it("a 429's remaining=0 report does not outlive the provider's retry-after", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0)], retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}',
      [["retry-after-ms", "100"], ["x-ratelimit-remaining-tokens", "0"], ["x-ratelimit-remaining-requests", "0"]]);
    f.complete();
    expect(f.status).toBe(429);
    await sleep(250);
    const g = r.request("/v1/chat/completions", chatBody());
    expect(g.localReply, `gateway answered ${g.localReply} ${g.header("retry-after") ?? ""}`).toBeNull();
    expect(g.up(":authority")).toBe("east.openai.azure.com");
    g.complete();
  });

  // stream.ts onLog + root.ts onHttpCallResponse (orphan): the client leaves while a failover
  // attempt is in flight. onLog sees the *previous* attempt's status (503), so it releases the
  // consumer's whole reservation; the orphan handler then settles only the provider. The attempt
  // succeeds and consumes 800 tokens that the consumer is never charged for (repeatable: a
  // client that disconnects after a failover escapes its budget).
  it("a failover attempt that succeeds after the client left is charged to the consumer", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000 }] }));
    const g = gated({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":300,"total_tokens":800}}'), trailers: [] });
    r.script.answer = g.script;
    const f = r.request("/v1/chat/completions", chatBody(), [BEARER]);
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    g.release();
    await sleep(50);
    expect(r.providerState("west")!.tokensReserved).toBeGreaterThanOrEqual(800n); // provider side is settled
    expect(r.consumerState("team-a")!.tokensReserved, "consumer budget charged for the attempt's usage").toBeGreaterThanOrEqual(800n);
  });

  // stream.ts onAttemptResponse/onLog: an answer delivered through http_call (a failover) never
  // sets `events` nor counts `responseBytes`, so without usage (include_usage:false, an API
  // without usage) the completion estimate is 0: the consumer is settled (refund=true) at the
  // prompt estimate only, and the tokens metric/access log say 0 output. The same stream
  // answered by the first provider is estimated from its events.
  it("a failed-over answer without usage is estimated like a direct one (not 0 output tokens)", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000 }] }));
    const stream = [
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "One" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: " two" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: " three" }, finish_reason: null }] }),
      sse({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      "data: [DONE]\n\n",
    ].join("");
    r.script.answer = () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "text/event-stream"]], body: Buffer.from(stream), trailers: [] });
    const body = chatBody({ stream: true, stream_options: { include_usage: false } });
    const f = r.request("/v1/chat/completions", body, [BEARER]);
    f.respond(503, "unavailable");
    await until(() => f.responseEnded);
    f.complete();
    expect(f.status).toBe(200);
    const line = accessLine(r).at(-1)!;
    expect(line).toContain("estimated=true");
    expect(line, line).not.toContain("completion_tokens=0");
  });

  // stream.ts replyNoProvider (and the status-0 path of replyWithAttempt): README: "every
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

  // stream.ts onResponseHeaders (pending429): a 429 whose body has not ended defers record().
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

  // stream.ts onResponseBody: terminal events are found by a byte needle anywhere in the stream.
  // Model output that merely mentions "response.completed" (a user asking about the Responses
  // API) marks the stream complete, so a stream the provider then cuts short reaches the client
  // as a clean end with no upstream_stream_incomplete error. (Same for chat: "data: [DONE]" in
  // content.) The needle must match only at an event's start (`event: ` / `data: ` line).
  it("a Responses stream cut short is flagged even if the text mentions response.completed", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/responses", { model: "gpt-4o", input: "how does streaming end?", stream: true });
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(
      'event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress","usage":null}}\n\n' +
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"It ends with response.completed or response.failed"}\n\n'), false);
    f.callOnResponseBody(Buffer.alloc(0), true); // provider ended the stream here, unfinished
    f.complete();
    expect(f.body).toContain("upstream_stream_incomplete");
  });

  // stream.ts decorateResponse strips api-key/authorization from response headers only; there is
  // no on_response_trailers. A provider (or a proxy in front of it) echoing the credential in a
  // trailer hands it to the client.
  it("a provider's credential echoed in response trailers never reaches the client", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(200, '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}', [], false);
    f.callOnResponseTrailers([["api-key", EAST_KEY], ["authorization", "Bearer " + EAST_KEY]]);
    f.complete();
    expect(JSON.stringify(f.responseTrailers ?? [])).not.toContain(EAST_KEY);
  });

  // root.ts ConfigView.matches strips the port from :authority, but config/host.ts
  // checkDomainPattern accepts "host:port" patterns: such a rule validates and never applies
  // (silently falls back to the global configuration). Reject the port or match host:port.
  it("a _match_domain_ with a port is rejected or matches that authority", async () => {
    try {
      r = await rig(baseConfig({ _rules_: [{ _match_domain_: ["api.example.com:8443"], providers: [azure("west", WEST_KEY, 1)] }] }));
    } catch {
      return; // configuration rejected: fine
    }
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body).map(([k, v]) => [k, k === ":authority" ? "api.example.com:8443" : v] as [string, string]), false);
    f.callOnRequestBody(body, true);
    expect(f.up(":authority"), "the rule (west only) did not apply").toBe("west.openai.azure.com");
    f.complete();
  });

  // stream.ts route(): the debug line logs the client's model raw ("model=" + this.model); a
  // JSON-escaped newline in "model" splits the log line and forges an access-log entry (the
  // access line itself uses logSafe).
  it("no log line carries a client-chosen line break (debug level)", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)], logLevel: "debug" }));
    const f = r.request("/v1/chat/completions", chatBody({ model: "gpt-4o\nai-failover access: provider=forged status=200" }));
    f.complete();
    const bad = r.logs.filter((l) => /[\r\n]/.test(l.message)).map((l) => l.message);
    expect(bad).toEqual([]);
  });
});

describe("review round 2: coverage", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // Coverage (RequestHeaders refactor): duplicates, empty values, a non-Bearer authorization and
  // several credential header names; only the provider's key goes upstream, whatever the
  // authentication outcome.
  it.each([
    ["no consumers", false],
    ["with consumers", true],
  ])("duplicate/empty/odd credential headers never survive (%s)", async (_, consumers) => {
    r = await rig(baseConfig(consumers ? { consumers: [{ name: "team-a", apiKey: CONSUMER_KEY }] } : {}));
    const f = r.request("/v1/chat/completions", chatBody(), [
      ["authorization", "Basic Y2xpZW50OnNlY3JldA=="], ["authorization", "Bearer " + CONSUMER_KEY], ["authorization", ""],
      ["api-key", ""], ["api-key", "client-secret-1"], ["x-api-key", "client-secret-2"], ["X-Api-Key", "client-secret-3"],
      ["ocp-apim-subscription-key", "client-secret-4"], ["proxy-authorization", "Basic eA=="], ["openai-api-key", ""],
      ["x-ai-failover-cluster", "west"], ["x-ai-failover-cluster", ""],
    ]);
    if (f.localReply !== null) {
      expect(f.localReply).toBe(401);
      return;
    }
    const creds = (f.upstreamHeaders ?? []).filter(([k]) => !k.startsWith(":") && /auth|key|x-ai-failover-cluster/.test(k));
    expect(creds).toEqual([["api-key", EAST_KEY], ["x-ai-failover-cluster", "east"]]);
    expect(JSON.stringify(f.upstreamHeaders)).not.toMatch(/client-secret|consumer-key/);
    f.complete();
  });

  // Coverage: reservations across a live failover: the failed provider's reservation released,
  // the attempt provider keeps its admission count (refund=false), nothing counted twice.
  it("live failover: east released, west keeps exactly one reservation", async () => {
    r = await rig(baseConfig({ providers: [
      azure("east", EAST_KEY, 0, { limits: { tokensPerMinute: 100000 } }), azure("west", WEST_KEY, 1, { limits: { tokensPerMinute: 100000 } }),
    ] }));
    r.script.answer = () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}'), trailers: [] });
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 100 }));
    f.respond(503, "unavailable");
    await until(() => f.responseEnded);
    f.complete();
    const east = r.providerState("east")!;
    const west = r.providerState("west")!;
    expect(east.requestsReserved).toBe(0n);
    expect(east.tokensReserved).toBe(0n);
    expect(west.requestsReserved).toBe(1n);
    expect(west.tokensReserved).toBe(112n); // prompt estimate 12 + max_tokens 100, no refund
  });

  // Coverage: an orphaned attempt that succeeds: provider settled once (no double release with
  // onLog), the failed provider released.
  it("orphaned successful attempt: provider counted once", async () => {
    r = await rig(baseConfig());
    const g = gated({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":300,"total_tokens":800}}'), trailers: [] });
    r.script.answer = g.script;
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 100 }));
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    g.release();
    await sleep(50);
    const west = r.providerState("west")!;
    expect(west.requestsReserved).toBe(1n);
    expect(west.tokensReserved).toBe(800n);
    expect(r.providerState("east")!.requestsReserved).toBe(0n);
  });

  // Coverage: _rules_ matching: wildcard with case and port, the bare parent and a look-alike
  // suffix do not match, IPv6 authorities fall back to the global view without a trap, route names.
  it.each([
    ["API.Team.Example:443", "", "west"],
    ["a.b.team.example", "", "west"],
    ["team.example", "", "east"],
    ["evilteam.example", "", "east"],
    ["[::1]:8080", "", "east"],
    ["[2001:db8::1]", "", "east"],
    ["gw.local", "llm-batch", "west"],
    ["gw.local", "other", "east"],
  ])("authority %s route %s → %s", async (authority, route, expected) => {
    r = await rig(baseConfig({ _rules_: [
      { _match_domain_: ["*.team.example"], providers: [azure("west", WEST_KEY, 1)] },
      { _match_route_: ["llm-batch"], providers: [azure("west", WEST_KEY, 1)] },
    ] }));
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    if (route) f.setProperty(["xds", "route_name"], route); // Envoy ≥ 1.33: route_name lives under xds
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body).map(([k, v]) => [k, k === ":authority" ? authority : v] as [string, string]), false);
    f.callOnRequestBody(body, true);
    expect(f.up("x-ai-failover-cluster")).toBe(expected);
    expect(r.logs.filter((l) => l.level === 5)).toEqual([]);
    f.complete();
  });

  // Coverage: include_usage edge cases reach the provider as valid JSON asking for usage, and
  // the injected usage chunk never reaches the client.
  it.each([
    ["stream_options null", { stream_options: null }],
    ["stream_options empty", { stream_options: {} }],
    ["stream_options with other key", { stream_options: { foo: 1 } }],
    ["include_usage string", { stream_options: { include_usage: "yes" } }],
    ["duplicate: null last", '{"model":"gpt-4o","stream":true,"messages":[],"stream_options":{"include_usage":false,"include_usage":null}}'],
  ])("include_usage injection: %s", async (_, extra) => {
    r = await rig(baseConfig());
    const body = typeof extra === "string" ? extra : chatBody({ stream: true, ...extra });
    const f = r.request("/v1/chat/completions", body);
    const sent = f.upstreamBody;
    const parsed = JSON.parse(sent);
    expect(parsed.stream_options.include_usage, sent).toBe(true);
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from(sse({ choices: [{ index: 0, delta: { content: "x" } }], usage: null }) +
      sse({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }) + "data: [DONE]\n\n"), true);
    f.complete();
    expect(f.body).not.toContain("prompt_tokens");
  });
});
