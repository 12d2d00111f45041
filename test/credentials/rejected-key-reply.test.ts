// When the last provider rejects the gateway's own key (401/403), the client gets the gateway's
// error — a 502 naming the provider and its status — never the provider's body, which can quote
// part of that key (OpenAI's "Incorrect API key provided: sk-pr****7Q9z") and would tell the
// client its own key was wrong. Reproduction: the provider's 401 body reached the client as is.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, EAST_KEY, openai, OAI_KEY, rig, until, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

const OPENAI_401 = '{"error":{"message":"Incorrect API key provided: sk-pr****7Q9z. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}';

describe("a provider that rejects the gateway's key", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it.each([401, 403])("in-band %d from the only provider: 502 upstream_credential_rejected, the provider's body never reaches the client", async (status) => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(status, OPENAI_401);
    f.complete();
    expect(f.status).toBe(502);
    expect(f.header("x-ai-failover-error")).toBe("upstream_credential_rejected");
    expect(f.header("x-ai-failover-upstream-status")).toBe(String(status));
    expect(f.header("x-ai-failover-provider")).toBe("oai");
    expect(f.body).not.toContain("sk-");
    expect(f.body).not.toContain("Incorrect API key");
    expect(JSON.parse(f.body).error.message).toContain("provider oai rejected the gateway's credential");
  });

  it("every provider rejects its key (the last answer came through failover): the same 502", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)] }));
    r.script.answer = () => ({ kind: "response", headers: [[":status", "401"], ["content-type", "application/json"]], body: Buffer.from(OPENAI_401), trailers: [] });
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(401, OPENAI_401);
    await until(() => f.responseEnded);
    f.complete();
    expect(f.status).toBe(502);
    expect(f.header("x-ai-failover-provider")).toBe("west");
    expect(f.header("x-ai-failover-attempts")).toBe("2");
    expect(f.body).not.toContain("sk-");
  });
});
