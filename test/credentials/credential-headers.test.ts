// Review: credentials and where a client can steer them.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, CHAT_OK, EAST_KEY, reqHeaders, rig, WEST_KEY, type HostRig } from "../support/host-rig.ts";

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** The deployment segment of a classic Azure upstream path, or null when the path is not of that shape. */
function deploymentSegment(path: string | undefined): string | null {
  const m = /^\/openai\/deployments\/([^/?#]*)\/chat\/completions\?api-version=2024-10-21$/.exec(path ?? "");
  return m ? m[1]! : null;
}

describe("review: credentials", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // An Azure provider without a deployments map (README: "empty means the model name is the
  // deployment name") puts the client's model string into the upstream :path verbatim. The client
  // then chooses any path on the provider's host, and the gateway signs it with the provider's key.
  it.each([
    ["path traversal", "x/../../../openai/files?x="],
    ["query injection", "gpt-4o/chat/completions?api-version=2024-10-21&evil=1#"],
    ["control characters", "gpt-4o\r\nx-injected: 1"],
  ])("a client-chosen model never becomes arbitrary upstream path text (%s)", async (_, model) => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0, { deployments: undefined })] }));
    const f = r.request("/v1/chat/completions", chatBody({ model }));
    if (f.localReply !== null) {
      expect(f.localReply).toBeGreaterThanOrEqual(400);
      expect(f.localReply).toBeLessThan(500);
      return;
    }
    // If it is forwarded at all, the model must be a single, plain path segment.
    const seg = deploymentSegment(f.up(":path"));
    expect(seg, `upstream :path ${JSON.stringify(f.up(":path"))}`).not.toBeNull();
    expect(seg).toMatch(SAFE_SEGMENT);
  });

  it("the same through an Azure classic client path (deployment taken from the path)", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0, { deployments: undefined })] }));
    const body = Buffer.from(JSON.stringify({ messages: [{ role: "user", content: "hi" }] }));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/openai/deployments/..%2F..%2Fopenai%2Ffiles%3F/chat/completions?api-version=2024-10-21", body), false);
    if (f.localReply === null) f.callOnRequestBody(body, true);
    if (f.localReply !== null) return;
    const seg = deploymentSegment(f.up(":path"));
    expect(seg, `upstream :path ${JSON.stringify(f.up(":path"))}`).not.toBeNull();
    expect(seg).toMatch(SAFE_SEGMENT);
  });

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
    f.respond(429, '{"error":{"code":"429","message":"Rate limit is exceeded."}}', [["retry-after", "1"]]);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.callouts).toHaveLength(1);
    const call = r.callouts[0]!;
    expect(call.cluster).toBe("west");
    const creds = call.headers.filter(([k]) => ["api-key", "authorization", "x-api-key"].includes(k));
    expect(creds).toEqual([["api-key", WEST_KEY]]);
    expect(JSON.stringify(call.headers) + call.body.toString()).not.toContain("client-secret");
    f.complete();
  });
});
