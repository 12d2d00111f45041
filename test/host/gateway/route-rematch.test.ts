// Envoy clears the route cache whenever a wasm filter changes request headers
// (Context::onHeadersModified, source/extensions/common/wasm/context.cc), so after the filter
// rewrote :authority and :path to the provider's the route is matched again on them. A route
// that matches only the gateway's own host and path does not match the rewritten request: the
// requirement docs/deploy-envoy.md "What an Envoy deployment needs" states. The harness gateway re-matches too.
//
// On Higress the filter keeps the route instead (assembly/host/route_pin.ts): it sets the cluster
// header, reads `route_name` (Higress's Context::findValue asks the filter callbacks for the route,
// which re-matches the cleared cache on the client's host and path and picks the cluster from the
// header), then sets `clear_route_cache` to "off" (Higress's Context::setProperty) before it
// rewrites :authority and :path. A virtual host for the gateway's own name then serves.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { chat, post, startStack, type Stack } from "../../support/stack.ts";

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

describe("on Higress the filter keeps the route matched on the client's request", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });
  // The gateway's own name only, as a Higress Ingress route; it keeps request_headers_to_remove
  // (envoy/higress-wasmplugin.yaml: the Ingress's `higress.io/request-header-control-remove`).
  const ownHostOnly = vhost(["gw.example"], "/v1/");
  const withoutRemoval = (yaml: string) => ownHostOnly(yaml).replace(/\n\s*# The routing header stays here.*\n\s*request_headers_to_remove: \[x-ai-failover-cluster\]/, "");

  it.each(["body", "headers"])("a virtual host for the gateway's own name only: served in %s mode, and failover still works", async (mode) => {
    s = await startStack({ flavour: "higress", edit: (c) => ({ ...c, mode, healthCheck: { enabled: false } }), bootstrap: ownHostOnly });
    expect(ownHostOnly(readFileSync("envoy/local.yaml", "utf8"))).toContain("request_headers_to_remove: [x-ai-failover-cluster]");
    // Header mode takes the model from x-ai-model.
    const h = { host: "gw.example", "x-ai-model": "gpt-4o" };
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), h);
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    // The routing header stays until the router took it (a plugin after this one may make the
    // router match the route again: test/host/gateway/plugin-order.test.ts); the route removes it.
    expect(s.east.records.at(-1)!.headers["x-ai-failover-cluster"]).toBeUndefined();
    expect(s.east.records.at(-1)!.headers["host"]).toBe("aoai-east.openai.azure.com");
    // The primary answers 429: the failover attempt goes out by http_call and is served by the other.
    s.east.setFault({ type: "status", status: 429 });
    const f = await post(s.gateway.url, "/v1/chat/completions", chat("again"), h);
    expect(f.status).toBe(200);
    expect(f.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
  });

  it("a route without request_headers_to_remove: the provider sees the routing header (the route must remove it)", async () => {
    s = await startStack({ flavour: "higress", edit: (c) => ({ ...c, healthCheck: { enabled: false } }), bootstrap: withoutRemoval });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), { host: "gw.example" });
    expect(r.status).toBe(200);
    expect(s.east.records.at(-1)!.headers["x-ai-failover-cluster"]).toBe("aoai-east");
  });

  it("the same bootstrap on upstream Envoy's rules answers 404 (the route must match the rewritten request there)", async () => {
    s = await startStack({ edit: (c) => ({ ...c, healthCheck: { enabled: false } }), bootstrap: ownHostOnly });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), { host: "gw.example" });
    expect(r.status).toBe(404);
  });
});
