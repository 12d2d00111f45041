// Metrics and logs: what clients can put into metric names and log lines (nothing), and that no
// credential is ever logged or used in a metric name.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, CHAT_OK, chatBody, EAST_KEY, OAI_KEY, openai, rig, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

describe("metrics and logs: client input and credentials", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // metrics.ts: "Label values only come from the configuration". An OpenAI provider without a
  // models list serves any model, and the request's model string goes into the metric name
  // verbatim: unbounded stat cardinality (Envoy never frees stats; the VM's id map grows forever)
  // and tag injection through the `;.;` / `=.=` separators.
  it("a client's model string never becomes part of a metric name", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    for (let k = 0; k < 3; k++) {
      const f = r.request("/v1/chat/completions", chatBody({ model: `evil-${k};.;_provider=.=spoofed;.;` }));
      expect(f.up("authorization")).toBe("Bearer " + OAI_KEY);
      f.respond(200, CHAT_OK);
      f.complete();
    }
    const names = r.host.metrics().map((m) => m.name);
    expect(names.filter((n) => n.includes("evil") || n.includes("spoofed"))).toEqual([]);
  });

  it("the access log line cannot be split by a client-chosen model", async () => {
    r = await rig(baseConfig({ providers: [openai("oai", OAI_KEY, 0)] }));
    const f = r.request("/v1/chat/completions", chatBody({ model: "gpt-4o\nai-failover access: provider=forged status=200" }));
    f.respond(200, CHAT_OK);
    f.complete();
    const lines = r.logs.filter((l) => l.message.startsWith("ai-failover access:"));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).not.toContain("\n");
  });

  // Coverage: no log line or metric name carries a credential in full, across routing, failover,
  // credential rejection and health checks.
  it("no log line or metric name contains a full credential", async () => {
    r = await rig(baseConfig({ healthCheck: { enabled: true, interval: "1s", timeout: "500ms" }, logLevel: "trace" }));
    r.script.answer = (c) => ({ kind: "response", headers: [[":status", c.cluster === "west" ? "401" : "200"]], body: Buffer.from("{}"), trailers: [] });
    const f = r.request("/v1/chat/completions", chatBody(), [["authorization", "Bearer client-secret-key-0000"]]);
    f.respond(401, '{"error":{"code":"401","message":"Access denied"}}');
    await new Promise((res) => setTimeout(res, 1300));
    f.complete();
    const text = r.logs.map((l) => l.message).join("\n") + r.host.metrics().map((m) => m.name).join("\n");
    expect(r.logs.length).toBeGreaterThan(3);
    for (const secret of [EAST_KEY, WEST_KEY, "client-secret-key-0000"]) expect(text).not.toContain(secret);
  });

  // plugin/request/client_request.ts route(): the debug line logs the client's model raw ("model=" + this.model); a
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
