// Envoy clears the route cache whenever a wasm filter changes request headers
// (Context::onHeadersModified, source/extensions/common/wasm/context.cc), so after the filter
// rewrote :authority and :path to the provider's the route is matched again on them. A route
// that matches only the gateway's own host and path does not match the rewritten request: the
// requirement README "What an Envoy deployment needs" states. The harness gateway re-matches too.
import { afterEach, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../support/stack.ts";

const vhost = (domains: string[], prefix: string) => (yaml: string) =>
  yaml.replace('domains: ["*"]', `domains: ${JSON.stringify(domains)}`).replace('match: { prefix: "/" }', `match: { prefix: "${prefix}" }`);

describe("the route is matched again after the filter's rewrite", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it("a virtual host for the gateway's own name only: 404 after the rewrite, nothing reaches a provider", async () => {
    s = await startStack({ edit: (c) => ({ ...c, healthCheck: { enabled: false } }), bootstrap: vhost(["gw.example"], "/v1/") });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), { host: "gw.example" });
    expect(r.status).toBe(404);
    expect(s.east.records.length + s.west.records.length).toBe(0);
  });

  it("a virtual host that also names the provider hosts, with a path match covering their paths: served", async () => {
    s = await startStack({
      edit: (c) => ({ ...c, healthCheck: { enabled: false } }),
      bootstrap: vhost(["gw.example", "aoai-east.openai.azure.com", "aoai-west.openai.azure.com"], "/"),
    });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), { host: "gw.example" });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  });
});
