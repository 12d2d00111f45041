// Credentials: a client cannot make the gateway sign an upstream path of its choosing with a
// provider's key (the model or deployment a client names becomes one plain path segment).
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, EAST_KEY, reqHeaders, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** The deployment segment of a classic Azure upstream path, or null when the path is not of that shape. */
function deploymentSegment(path: string | undefined): string | null {
  const m = /^\/openai\/deployments\/([^/?#]*)\/chat\/completions\?api-version=2024-10-21$/.exec(path ?? "");
  return m ? m[1]! : null;
}

describe("credentials: client-chosen upstream paths", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // An Azure provider without a deployments map (docs/configuration.md: "empty means the model name is the
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
});
