// Protocol: what the provider receives for less common request shapes and modes (Azure classic
// and v1 paths, the Responses API, header-only mode).
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, EAST_KEY, OAI_KEY, openai, reqHeaders, rig, sentJson, type HostRig } from "../../harness/rig/host-rig.ts";

const MSGS = '[{"role":"user","content":"hello"}]';

describe("protocol: request shaping", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it("Azure classic client path without a body model, to an OpenAI provider: model inserted, usage injected", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", `{ "messages": ${MSGS}, "stream": true }`);
    const j = sentJson(f);
    expect(j.model).toBe("gpt-4o");
    expect(j.stream_options.include_usage).toBe(true);
    f.complete();
  });

  // A non-string "model" (null) with the model named by an Azure classic path: the gateway inserts
  // "model" at the front, and the client's later "model":null wins for the provider (last key wins,
  // as the scanner itself assumes) — the provider gets no model.
  it("a body with \"model\": null, routed by its Azure path, reaches an OpenAI provider with the model set", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", `{"messages":${MSGS},"model":null}`);
    expect(f.up("authorization")).toBe("Bearer " + OAI_KEY);
    expect(sentJson(f).model).toBe("gpt-4o");
    f.complete();
  });

  // Coverage: Azure v1 provider gets the deployment as the body model and the v1 path.
  it("an Azure v1 provider gets /openai/v1/... and the deployment name as model", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0, { api: "v1", apiVersion: undefined })] }));
    const f = r.request("/v1/chat/completions", `{"model":"gpt-4o","messages":${MSGS}}`);
    expect(f.up(":path")).toBe("/openai/v1/chat/completions");
    expect(f.up("api-key")).toBe(EAST_KEY);
    expect(sentJson(f).model).toBe("east-gpt4o");
    f.complete();
  });

  // Coverage: Responses API on a classic Azure provider goes to /openai/v1/responses with the deployment.
  it("the Responses API on a classic Azure provider uses the v1 path and the deployment", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/responses", `{"model":"gpt-4o","input":"hi","stream":true}`);
    expect(f.up(":path")).toBe("/openai/v1/responses");
    const j = sentJson(f);
    expect(j.model).toBe("east-gpt4o");
    expect(j.stream_options).toBeUndefined();
    f.complete();
  });

  // Header-only mode cannot rewrite the body, yet it routes to providers that need the upstream
  // model name in the body (Azure v1: the deployment). The provider gets the client's model name
  // (a 404 DeploymentNotFound at Azure) — it should either not pick such a provider in this mode or
  // refuse the configuration/request clearly.
  it("header-only mode never sends an Azure v1 provider the client's model name instead of its deployment", async () => {
    let r2: HostRig | null = null;
    try {
      r2 = await rig(baseConfig({ mode: "headers", providers: [azure("east", EAST_KEY, 0, { api: "v1", apiVersion: undefined })] }),
        { allowOnHeadersStopIteration: false });
    } catch {
      return; // rejected at configuration: acceptable
    }
    r = r2;
    const body = Buffer.from(`{"model":"gpt-4o","messages":${MSGS}}`);
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body, [["x-ai-model", "gpt-4o"]]), false);
    if (f.localReply !== null) { expect(f.localReply).toBeGreaterThanOrEqual(400); return; }
    f.callOnRequestBody(body, true);
    expect(f.up(":path")).toBe("/openai/v1/chat/completions");
    expect(JSON.parse(f.upstreamBody).model).toBe("east-gpt4o");
    f.complete();
  });
});
