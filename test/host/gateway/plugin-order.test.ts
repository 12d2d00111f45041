// Another Higress plugin on the same stream as ai-failover. On Higress the filter keeps the route
// matched on the client's request (`clear_route_cache` = "off", assembly/host/routing.ts), but
// that setting belongs to the plugin that set it: Higress's Envoy keeps it in each plugin's own
// Context (higress-group/envoy source/extensions/common/wasm/context.h `disable_clear_route_cache_`,
// read by Context::addHeaderMapValue / replaceHeaderMapValue / removeHeaderMapValue in
// context.cc), so a plugin placed after ai-failover (nearer the router) that edits request headers
// clears the route cache, and the router matches the route again on the provider's :authority and
// :path (ConnectionManagerImpl::ActiveStream::refreshCachedRoute, conn_manager_impl.cc). Higress's
// own plugins turn clearing off before they edit (wasm-go `DisableReroute`); others may not.
//
// The second plugin is harness/bench/fixtures/header-edit.ts (adds `x-next-plugin: seen`; with
// "reroute-off" it sets clear_route_cache=off first), chained by harness/gateway/chain.ts.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildFixture } from "../../../harness/bench/build-fixture.ts";
import { chat, credentialAudit, EAST_KEY, post, startStack, WEST_KEY, type Stack } from "../../support/stack.ts";

let editor: Uint8Array;
beforeAll(async () => {
  editor = (await buildFixture("header-edit")).bytes;
}, 180_000);

/** A virtual host for the gateway's own name and /v1/ only (a Higress Ingress route), keeping request_headers_to_remove. */
const ownHostOnly = (yaml: string) =>
  yaml.replace('domains: ["*"]', 'domains: ["gw.example"]').replace('match: { prefix: "/" }', 'match: { prefix: "/v1/" }');
const h = { host: "gw.example" };
const noHealthChecks = (c: any) => ({ ...c, healthCheck: { enabled: false } });

describe("Higress: a plugin after ai-failover that edits request headers", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it("harness: its edit clears the route cache unless that plugin set clear_route_cache=off itself", async () => {
    // Gateway-only virtual host: a re-match on the provider's host finds no route (404).
    s = await startStack({ flavour: "higress", edit: noHealthChecks, bootstrap: ownHostOnly, plugins: { after: [{ wasm: editor }] } });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), h);
    expect(r.status).toBe(404);
    expect(s.east.records.length + s.west.records.length).toBe(0);
    await s.close();

    s = await startStack({ flavour: "higress", edit: noHealthChecks, bootstrap: ownHostOnly, plugins: { after: [{ wasm: editor, configuration: "reroute-off" }] } });
    const k = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), h);
    expect(k.status).toBe(200);
    expect(k.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    // It ran, after ai-failover: it saw the provider's request.
    expect(s.east.records.at(-1)!.headers["x-next-plugin"]).toBe("seen");
  });

  it("ordered before ai-failover (what the README's plugin ordering says): served, failover works", async () => {
    s = await startStack({ flavour: "higress", edit: noHealthChecks, bootstrap: ownHostOnly, plugins: { before: [{ wasm: editor }] } });
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), h);
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(s.east.records.at(-1)!.headers["x-next-plugin"]).toBe("seen");
    expect(s.east.records.at(-1)!.headers["x-ai-failover-cluster"]).toBeUndefined();
    s.east.setFault({ type: "status", status: 429 });
    const f = await post(s.gateway.url, "/v1/chat/completions", chat("again"), h);
    expect(f.status).toBe(200);
    expect(f.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });

  it.each(["body", "headers"])("after ai-failover, with a route that also matches the provider's request: still routed to the chosen provider (%s mode)", async (mode) => {
    // envoy/local.yaml's route: domains "*", prefix "/", request_headers_to_remove: [x-ai-failover-cluster].
    // The re-match finds this route again and takes the cluster from x-ai-failover-cluster, so the
    // filter keeps that header until the router took it; the route removes it.
    s = await startStack({ flavour: "higress", edit: (c) => ({ ...noHealthChecks(c), mode }), plugins: { after: [{ wasm: editor }] } });
    const hm = { ...h, "x-ai-model": "gpt-4o" };
    const r = await post(s.gateway.url, "/v1/chat/completions", chat("hi"), hm);
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    const seen = s.east.records.at(-1)!.headers;
    expect(seen["x-next-plugin"]).toBe("seen");
    expect(seen["host"]).toBe("aoai-east.openai.azure.com");
    expect(seen["x-ai-failover-cluster"]).toBeUndefined();
    // The other provider (the second in order) is chosen on a 429: the re-matched route still follows the filter.
    s.east.setFault({ type: "status", status: 429 });
    const f = await post(s.gateway.url, "/v1/chat/completions", chat("again"), hm);
    expect(f.status).toBe(200);
    expect(f.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});

