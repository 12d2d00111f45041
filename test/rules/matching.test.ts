// Higress _rules_: which rule a request's authority (_match_domain_) or route name
// (_match_route_) selects.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, reqHeaders, rig, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

describe("rules: matching", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // plugin/views.ts ConfigView.matches strips the port from :authority, but config/host.ts
  // checkDomainPattern accepts "host:port" patterns: such a rule validates and never applies
  // (silently falls back to the global configuration). Reject the port or match host:port.
  it("a _match_domain_ with a port is rejected or matches that authority", async () => {
    try {
      r = await rig(baseConfig({ _rules_: [{ _match_domain_: ["api.example.com:8443"], providers: [azure("west", WEST_KEY, 1)] }] }));
    } catch {
      return; // configuration rejected: fine
    }
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body).map(([k, v]) => [k, k === ":authority" ? "api.example.com:8443" : v] as [string, string]), false);
    f.callOnRequestBody(body, true);
    expect(f.up(":authority"), "the rule (west only) did not apply").toBe("west.openai.azure.com");
    f.complete();
  });

  // Coverage: _rules_ matching: wildcard with case and port, the bare parent and a look-alike
  // suffix do not match, IPv6 authorities fall back to the global view without a trap, route names.
  it.each([
    ["API.Team.Example:443", "", "west"],
    ["a.b.team.example", "", "west"],
    // A fully qualified name (trailing dot) is the same host: it used to get the global configuration.
    ["a.b.team.example.", "", "west"],
    ["A.Team.Example.:8443", "", "west"],
    ["team.example.", "", "east"],
    ["team.example", "", "east"],
    ["evilteam.example", "", "east"],
    ["[::1]:8080", "", "east"],
    ["[2001:db8::1]", "", "east"],
    ["gw.local", "llm-batch", "west"],
    ["gw.local", "other", "east"],
  ])("authority %s route %s → %s", async (authority, route, expected) => {
    r = await rig(baseConfig({ _rules_: [
      { _match_domain_: ["*.team.example"], providers: [azure("west", WEST_KEY, 1)] },
      { _match_route_: ["llm-batch"], providers: [azure("west", WEST_KEY, 1)] },
    ] }));
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    if (route) f.setProperty(["xds", "route_name"], route); // Envoy ≥ 1.33: route_name lives under xds
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body).map(([k, v]) => [k, k === ":authority" ? authority : v] as [string, string]), false);
    f.callOnRequestBody(body, true);
    expect(f.up("x-ai-failover-cluster")).toBe(expected);
    expect(r.logs.filter((l) => l.level === 5)).toEqual([]);
    f.complete();
  });
});

// `_match_service_`, `_match_route_prefix_` and the one-category-per-rule semantics of Higress's
// own plugins (wasm-go pkg/matcher/rule_matcher.go): service entries "fqdn" or "fqdn:port" against
// the cluster "outbound|<port>|<subset>|<fqdn>"; `_match_route_` with `_match_service_` needs both.
describe("rules: services and route prefixes", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it.each([
    // [route, cluster, expected]
    ["any", "outbound|443||llm.dns", "west"],
    ["any", "outbound|8443||llm.dns", "west"],
    ["any", "outbound|443||pinned.dns", "west"],
    ["any", "outbound|80||pinned.dns", "east"],
    ["any", "outbound|443||other.dns", "east"],
    ["any", "llm.dns", "east"],
    ["any", "", "east"],
    ["batch-nightly", "", "west"],
    ["batch", "", "east"],
    ["chat", "outbound|443||chat.dns", "west"],
    ["chat", "outbound|443||other.dns", "east"],
    ["other", "outbound|443||chat.dns", "east"],
  ])("route %s cluster %s → %s", async (route, cluster, expected) => {
    const west = [azure("west", WEST_KEY, 1)];
    r = await rig(baseConfig({ _rules_: [
      { _match_service_: ["llm.dns", "pinned.dns:443"], providers: west },
      { _match_route_prefix_: ["batch-"], providers: west },
      { _match_route_: ["chat"], _match_service_: ["chat.dns"], providers: west },
    ] }));
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.setProperty(["xds", "route_name"], route);
    if (cluster) f.setProperty(["xds", "cluster_name"], cluster);
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body), false);
    f.callOnRequestBody(body, true);
    expect(f.up("x-ai-failover-cluster")).toBe(expected);
    f.complete();
  });
});
