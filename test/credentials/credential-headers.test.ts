// Credentials: only the provider's own key goes upstream, whatever credential-like headers or
// trailers a client sends, and no provider credential ever comes back to the client.
import { afterEach, describe, expect, it } from "vitest";
import {
  baseConfig, CHAT_OK, chatBody, CONSUMER_KEY, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, WEST_KEY, type HostRig,
} from "../../harness/rig/host-rig.ts";

describe("credentials: headers and trailers", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // Body mode routes at the end of the body. A request that ends with trailers never has a body
  // callback with end_of_stream: the default on_request_trailers continues the stream unrouted —
  // credential headers stripped, no provider key, no cluster header — instead of a clear error.
  it("a request ending with trailers is routed (with the provider's key) or refused, never sent on unrouted", async () => {
    r = await rig(baseConfig());
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body, [["authorization", "Bearer client-secret-key-0000"]]), false);
    f.callOnRequestBody(body, false);
    f.callOnRequestTrailers([["x-client-trailer", "1"]]);
    if (f.localReply !== null) {
      expect(f.localReply).toBeGreaterThanOrEqual(400);
      return;
    }
    expect(f.upstreamHeaders, "request went upstream").not.toBeNull();
    expect(f.up("x-ai-failover-cluster")).toBe("east");
    expect(f.up("api-key")).toBe(EAST_KEY);
  });

  // Request trailers are never inspected: a credential a client sends as a trailer goes to the
  // provider next to the provider's own key (header-only mode streams the body and trailers through).
  it("client credentials sent as request trailers never reach the provider", async () => {
    r = await rig(baseConfig({ mode: "headers" }), { allowOnHeadersStopIteration: false });
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", body), false);
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.callOnRequestBody(body, false);
    f.callOnRequestTrailers([["api-key", "client-secret-key-0000"], ["authorization", "Bearer client-secret-key-0000"]]);
    const leaked = (f.upstreamTrailers ?? []).filter(([k]) => k === "api-key" || k === "authorization");
    expect(leaked).toEqual([]);
  });

  // Coverage: the response path strips credential headers a provider might echo.
  it("a provider echoing api-key/authorization in its response never shows them to the client", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(200, CHAT_OK, [["api-key", EAST_KEY], ["authorization", "Bearer " + EAST_KEY], ["x-ai-failover-cluster", "east"]]);
    f.complete();
    const text = JSON.stringify(f.responseHeaders) + f.body;
    expect(text).not.toContain(EAST_KEY);
    expect(f.header("x-ai-failover-cluster")).toBeUndefined();
  });

  // Coverage: failover through http_call carries the next provider's key only, and nothing of the client's.
  it("an http_call failover attempt carries exactly the next provider's key", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody(), [["api-key", "client-secret-key-0000"], ["x-api-key", "client-secret-key-0000"]]);
    // Retry-After above retry.sameProviderMaxWait: moved on at once (no wait at east).
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', [["retry-after", "5"]]);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.callouts).toHaveLength(1);
    const call = r.callouts[0]!;
    expect(call.cluster).toBe("west");
    const creds = call.headers.filter(([k]) => ["api-key", "authorization", "x-api-key"].includes(k));
    expect(creds).toEqual([["api-key", WEST_KEY]]);
    expect(JSON.stringify(call.headers) + call.body.toString()).not.toContain("client-secret");
    f.complete();
  });

  // OpenAI selects the organization/project a key acts for from OpenAI-Organization /
  // OpenAI-Project. Forwarded from the client, they let a client steer the provider's credential
  // to another org/project it belongs to (billing, data). Hardening: strip them like credentials.
  it("client openai-organization / openai-project headers do not reach the provider with its key", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", chatBody(), [["openai-organization", "org-other"], ["openai-project", "proj-other"]]);
    expect(f.up("authorization")).toBe("Bearer " + OAI_KEY);
    expect(f.up("openai-organization")).toBeUndefined();
    expect(f.up("openai-project")).toBeUndefined();
    f.complete();
  });

  // plugin/request/response.ts decorateResponse strips api-key/authorization from response headers only; there is
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
      // Underscore spellings (Envoy allows them; CGI-style upstreams read them as api-key) and other carriers.
      ["api_key", "client-secret-5"], ["x_api_key", "client-secret-6"], ["subscription-key", "client-secret-7"],
      ["x-functions-key", "client-secret-8"], ["cookie", "session=client-secret-9"],
    ]);
    if (f.localReply !== null) {
      expect(f.localReply).toBe(401);
      return;
    }
    const creds = (f.upstreamHeaders ?? []).filter(([k]) => !k.startsWith(":") && /auth|key|x-ai-failover-cluster/.test(k));
    // In any order (the filter sets the routing header first: host/routing.ts).
    expect(creds.sort()).toEqual([["api-key", EAST_KEY], ["x-ai-failover-cluster", "east"]]);
    expect(JSON.stringify(f.upstreamHeaders)).not.toMatch(/client-secret|consumer-key/);
    f.complete();
  });
});
