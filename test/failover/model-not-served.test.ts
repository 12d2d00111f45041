// Issue 9: a provider answering 404 DeploymentNotFound (Azure) or model_not_found (OpenAI) does not
// serve that model. It used to pass to the client as a client error while the /models probe kept
// the provider healthy, so the next request went there again. Now the request moves on to the
// next provider, that provider is skipped for that model (cooldown.authFailure), a warning and
// ai_failover_failovers_total{reason="model_not_served"} say why; its other models and its health
// are untouched; any other 404 still goes to the client as it was.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, CHAT_OK, OAI_KEY, openai, rig, until, type HostRig } from "../../harness/rig/host-rig.ts";
import { AZURE_404_DEPLOYMENT, chat, post, startStack, type Stack } from "../support/stack.ts";

describe("a provider that does not serve the model", () => {
  let r: HostRig;
  let s: Stack;
  afterEach(async () => { await r?.close(); await s?.close(); });

  it("in-band 404 DeploymentNotFound: the request is served by the next provider; later requests skip that provider for the model", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    f.callOnResponseHeaders([[":status", "404"], ["content-type", "application/json"]], false);
    f.callOnResponseBody(Buffer.from(AZURE_404_DEPLOYMENT), true);
    await new Promise((res) => setTimeout(res, 20));
    expect(r.callouts.map((c) => c.cluster)).toEqual(["west"]);
    f.complete();
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("west");
    expect(r.logs.some((l) => l.level === 3 && l.message.includes("provider east does not serve model gpt-4o"))).toBe(true);
    expect(r.metrics().find((m) => m.name.includes("ai_failover_failovers_total") && m.name.includes("model_not_served"))?.value).toBe(1n);
    // The next request for that model goes straight to west; east's health is untouched.
    const g = r.request("/v1/chat/completions", chatBody());
    expect(g.up(":authority")).toBe("west.openai.azure.com");
    g.complete();
    expect(r.providerState("east")!.healthy).toBe(true);
  });

  it("any other 404 goes to the client as it was, and the provider stays in use", async () => {
    r = await rig(baseConfig());
    const body = '{"error":{"code":"404","message":"Resource not found"}}';
    const f = r.request("/v1/chat/completions", chatBody());
    f.callOnResponseHeaders([[":status", "404"], ["content-type", "application/json"]], false);
    f.callOnResponseBody(Buffer.from(body), true);
    f.complete();
    expect(f.status).toBe(404);
    expect(f.body).toBe(body);
    expect(r.callouts).toEqual([]);
    const g = r.request("/v1/chat/completions", chatBody());
    expect(g.up(":authority")).toBe("east.openai.azure.com");
    g.complete();
  });

  it("through the gateway: a primary without the deployment; clients get 200 from the other, the primary sees it once per worker", async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }),
      east: { deployments: { "some-other-deployment": { model: "gpt-4o-2024-08-06" } } },
      workers: 1,
    });
    for (let i = 0; i < 5; i++) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat(`q${i}`));
      expect(r.status).toBe(200);
      expect(r.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    }
    const eastChats = s.east.records.filter((x) => x.api === "chat");
    expect(eastChats.map((x) => x.status)).toEqual([404]);
    // The access line and the metric say why the first request left the primary.
    const access = s.logs.map((l) => l.message).filter((m) => m.startsWith("ai-failover access:"));
    expect(access).toHaveLength(5);
    expect(access[0]).toMatch(/ provider=aoai-west-payg .* status=200 attempts=2 .* failover=model_not_served$/);
    expect(access.slice(1).every((m) => m.includes(" attempts=1 ") && !m.includes("failover="))).toBe(true);
    expect(await s.prometheus()).toMatch(/ai_failover_failovers_total\{[^}]*provider="aoai-east-ptu"[^}]*reason="model_not_served"[^}]*\} 1/);
  });

  // Model names are the client's: each worker remembered every (provider, model) a 404 named, and
  // made-up names grew that memory without bound. At most 1024 are kept (plugin/capacity/model_ejections.ts);
  // past that the oldest are learned again from the provider's next 404.
  it("the skipped models a worker remembers are bounded: 1,100 made-up names later, the first is asked again", async () => {
    r = await rig({ providers: [openai("oai", OAI_KEY, 0), openai("oai2", OAI_KEY + "2", 1)], healthCheck: { enabled: false }, retry: { maxAttempts: 2 }, seed: 7 },
      { workers: 1 });
    r.script.answer = () => ({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]], body: Buffer.from(CHAT_OK), trailers: [] });
    const notFound = '{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}';
    const ask = async (model: string) => {
      const f = r.request("/v1/chat/completions", chatBody({ model }));
      const first = f.up(":authority");
      if (first === "oai.example.com") {
        f.callOnResponseHeaders([[":status", "404"], ["content-type", "application/json"]], false);
        f.callOnResponseBody(Buffer.from(notFound), true);
        await until(() => f.responseEnded);
      } else f.respond(200, CHAT_OK);
      f.complete();
      return first;
    };
    expect(await ask("made-up-0")).toBe("oai.example.com");
    expect(await ask("made-up-0")).toBe("oai2.example.com"); // remembered: skipped
    for (let i = 1; i <= 1100; i++) await ask(`made-up-${i}`);
    expect(await ask("made-up-0")).toBe("oai.example.com");
  }, 60_000);
});
