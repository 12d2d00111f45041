// A 429 is held while its body says whether it is a quota error. Its body is read up to 64 KiB
// and the decision made then: a 2 MB 429 body used to be buffered to its end, outgrew Envoy's
// 1 MiB buffer and reached the client as a bare 500 with no failover.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, rig, until, type HostRig } from "../../harness/rig/host-rig.ts";

describe("a 429 with a very large body", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it("fails over once the first 64 KiB are read, without waiting for the rest", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    f.callOnResponseHeaders([[":status", "429"], ["content-type", "application/json"], ["retry-after", "5"]], false); // above retry.sameProviderMaxWait: no wait at east
    const piece = Buffer.alloc(32 * 1024, 0x20);
    f.callOnResponseBody(Buffer.from('{"error":{"code":"429","message":"Rate limit is exceeded."'), false);
    for (let k = 0; k < 64; k++) f.callOnResponseBody(piece, false); // 2 MB of padding, never ending
    await until(() => f.responseEnded);
    f.complete();
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("west");
    expect(r.callouts).toHaveLength(1);
  });
});
