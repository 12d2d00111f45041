// Issue 19 item 8: an OpenAI-type provider could not rewrite the model — `models` was only an
// allow-list, so a provider that knows gpt-4o as a dated snapshot (or an OpenAI-compatible server
// with its own names) could not be put behind the gateway's model name. `models` may now map each
// model to the provider's name: the provider receives that name in the body's "model", in-band and
// on a failover attempt (http_call), and the client's response says which model answered
// (x-ai-failover-model, the gateway's name for it).
// Through the gateway (harness Envoy + mock providers; the OpenAI mock serves only the dated name
// and answers model_not_found to anything else).
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, post, startStack, WEST_KEY, type Stack } from "../support/stack.ts";
import { OAI_KEY, openai, reqHeaders, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const OA_KEY = "sk-proj-mapped-Xq7Lm2Vw9Rt4Zp1K";
const MAPPED = "gpt-4o-2024-08-06";

/** The OpenAI provider of these tests: the gateway's gpt-4o is MAPPED there (on the aoai-east cluster, where the OpenAI mock listens). */
const openaiMapped = (priority: number) => ({
  name: "openai", type: "openai", cluster: "aoai-east", host: "api.openai.com",
  models: { "gpt-4o": MAPPED }, auth: { apiKeyEnv: "OA_KEY" }, priority,
});

async function stack(providers: (cfg: any) => unknown[]): Promise<Stack> {
  return await startStack({
    east: { kind: "openai", name: "openai", keys: [OA_KEY], deployments: undefined, models: { [MAPPED]: {} } } as any,
    vmEnv: { OA_KEY },
    workers: 1,
    edit: (cfg) => ({ ...cfg, providers: providers(cfg), healthCheck: { enabled: false } }),
  });
}

describe("an OpenAI provider with a models map", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it("receives its own name for the model in the body; the client is told which model answered", async () => {
    s = await stack(() => [openaiMapped(0)]);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(r.status, r.body).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("openai");
    expect(r.headers["x-ai-failover-model"]).toBe("gpt-4o");
    const chats = s.east.records.filter((x) => x.api === "chat");
    expect(chats.map((x) => [x.status, JSON.parse(x.body).model])).toEqual([[200, MAPPED]]);
    expect(JSON.parse(r.body).model).toBe(MAPPED);
    expect(credentialAudit(s.east, OA_KEY)).toEqual([]);
  });

  it("on a failover attempt (http_call) too: the mapped name goes up, x-ai-failover-model comes back", async () => {
    // The Azure provider first (west), failing with a 503; the mapped OpenAI provider takes over.
    s = await stack((cfg) => [{ ...cfg.providers[1], priority: 0 }, openaiMapped(1)]);
    const r = await post(s.gateway.url, "/v1/chat/completions", chat(), { "x-mock-target": "aoai-west", "x-mock-status": "503" });
    expect(r.status, r.body).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("openai");
    expect(r.headers["x-ai-failover-attempts"]).toBe("2");
    expect(r.headers["x-ai-failover-model"]).toBe("gpt-4o");
    expect(s.west.records.map((x) => x.status)).toEqual([503]);
    const chats = s.east.records.filter((x) => x.api === "chat");
    expect(chats.map((x) => [x.status, JSON.parse(x.body).model])).toEqual([[200, MAPPED]]);
    expect(credentialAudit(s.east, OA_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});

// Header mode never rewrites the body (plugin/capacity/pick.ts judge, provider/route.ts takesBodyAsSent): a
// provider that would need its own name in the body cannot take such a request; it must never be
// sent the gateway's name for the model instead.
describe("header mode and a models map", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });
  const body = Buffer.from(JSON.stringify(chat()));
  const send = () => {
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body, [["x-ai-model", "gpt-4o"]]), false);
    if (f.localReply === null) f.callOnRequestBody(body, true);
    return f;
  };
  const mapped = () => openai("mapped", OAI_KEY, 0, { models: { "gpt-4o": MAPPED } });

  it("a provider that needs its own name in the body is passed over for one that takes the body as sent", async () => {
    r = await rig({ mode: "headers", healthCheck: { enabled: false }, providers: [mapped(), openai("plain", OAI_KEY + "2", 1, { models: ["gpt-4o"] })] },
      { allowOnHeadersStopIteration: false });
    const f = send();
    expect(f.localReply).toBeNull();
    expect(f.up(":authority")).toBe("plain.example.com");
    expect(JSON.parse(f.upstreamBody).model).toBe("gpt-4o");
    f.complete();
  });

  it("with no such provider the gateway answers itself instead of sending the wrong name", async () => {
    r = await rig({ mode: "headers", healthCheck: { enabled: false }, providers: [mapped()] }, { allowOnHeadersStopIteration: false });
    const f = send();
    expect(f.localReply).toBe(429);
    expect(r.callouts).toEqual([]);
  });
});
