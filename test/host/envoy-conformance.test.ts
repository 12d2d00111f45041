// Conformance points found by reading Envoy's wasm Context (source/extensions/common/wasm/context.cc)
// and StreamActivation (source/extensions/filters/common/expr/evaluator.cc, context.cc): each test
// failed on the host before the fix next to it.
import { afterEach, describe, expect, it } from "vitest";
import { bytes, header, recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("Envoy conformance: windows, continue_stream, properties", () => {
  it("continue_stream(Response) clears the request pointers, not the response ones (Context::continueStream)", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("continue-resp"), true);
    const id = s.contextId;
    // Called in on_request_headers: the request header map is gone at once.
    expect(t.lines(`${id} continue-resp rc=0 add-req-after rc=2`)).toHaveLength(1);
    expect(header((cb.events[0] as { headers: Array<[string, string]> }).headers, "x-late")).toBeUndefined();
    // Called in on_response_headers: the response header map stays writable, the edit goes out,
    // and it is still readable in on_response_body after the stream resumed.
    s.encodeHeaders([[":status", "200"]], false);
    expect(t.lines(`${id} continue-resp-in-resp rc=0 add-resp-after rc=0`)).toHaveLength(1);
    const resp = cb.events.find((e) => e.ev === "respHeaders") as { headers: Array<[string, string]> };
    expect(header(resp.headers, "x-after-continue")).toBe("1");
    s.encodeData(bytes("b"), true);
    expect(t.lines(`${id} continue-resp-body status=200`)).toHaveLength(1);
    s.complete();
  });

  it("after a local reply from on_request_headers the request headers stay readable/writable, also in on_log", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("local"), true);
    const id = s.contextId;
    // The callback that asked for the reply returned a stop: Envoy never cleared request_headers_.
    expect(t.lines(`${id} response_headers status=403 eos=0 req=/v1/chat`)).toHaveLength(1);
    s.complete();
    // on_log reads the HCM's request headers (they never went upstream) and the reply's status.
    expect(t.lines(`${id} on_log req=/v1/chat status=403 add=0`)).toHaveLength(1);
  });

  it("on_log reads the upstream response headers even when the filter never let them through", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("stop-resp"), true);
    s.encodeHeaders([[":status", "429"]], false);
    s.encodeData(bytes("partial"), false);
    // Client goes away while the filter holds the response headers.
    s.reset!("downstream_remote_disconnect", "downstream");
    expect(t.lines(`${s.contextId} on_log req=/v1/chat status=429`)).toHaveLength(1);
  });

  it("a trailer read in the last body callback does not create trailers (getConstMap vs getMap)", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("trailer-read"), false);
    s.decodeData(bytes("x"), true);
    expect(t.lines(`${s.contextId} trailer-read rc=2`)).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders", "reqData"]);
    expect(cb.events[1]).toEqual({ ev: "reqData", data: "x", end: true });
    s.complete();
  });

  it("properties: only Envoy's top-level names; request.*/response.* headers only in their window or on_log", async () => {
    t = await fixtureRig({ properties: { "custom\u0000key": "cv", "xds\u0000node\u0000id": "node-1" } });
    const s = t.host.newStream(1, recorder());
    // A legacy top-level name set by a gateway is not served (Envoy 1.33 removed route_name & co.).
    s.setProperty(["route_name"], "r1");
    s.setProperty(["xds", "route_name"], "r1");
    s.decodeHeaders(fixtureRequest("props", [["x-dup", "a"], ["x-dup", "b"], ["user-agent", "ua/1"]]), true);
    const id = s.contextId;
    expect(t.lines(`${id} root_id=`)[0]).toContain(" custom=<rc:1> stream=<rc:1> missing=<rc:1>");
    // Duplicate headers are joined with "," (HeaderUtility::getAllOfHeaderAsString).
    expect(t.lines(`${id} xds_route=`)).toEqual([`${id} xds_route=r1 node=node-1 dup=a,b ua=ua/1 query=`]);
    // Filter state is looked up by its top-level name only.
    expect(t.lines(`${id} state=v1 state-nested=<rc:1>`)).toHaveLength(1);
    s.encodeHeaders([[":status", "200"], ["x-r", "1"], ["x-r", "2"]], true);
    // The request headers were continued: request.path is NotFound in on_response_headers.
    expect(t.lines(`${id} resp-props path=<rc:1> rh=1,2`)).toHaveLength(1);
    s.complete();
    expect(t.lines(`${id} log-props path=/v1/chat rh=1,2`)).toHaveLength(1);
  });
});

describe("the route cache (Envoy clears it on request-header changes; Higress lets a filter keep it)", () => {
  /** A gateway-side route cache: matched on x-cluster-pick (the route's cluster_header) and :authority. */
  function routeCache() {
    const calls: string[] = [];
    let cached: { name: string; cluster: string } | null | undefined = { name: "own-host", cluster: "" };
    const match = (h: Array<[string, string]>) => {
      const authority = header(h, ":authority");
      calls.push(`match ${authority}`);
      return authority === "gw" ? { name: "own-host", cluster: header(h, "x-cluster-pick") ?? "" } : null;
    };
    return {
      calls,
      cached: () => cached,
      callbacks: {
        route: (h: Array<[string, string]>) => (cached === undefined ? (cached = match(h)) : cached),
        cachedRoute: () => cached ?? null,
        clearRouteCache: () => { calls.push("clear"); cached = undefined; },
      },
    };
  }

  it("Envoy: every request-header change clears it, a route_name read does not re-match, clear_route_cache is only filter state", async () => {
    t = await fixtureRig();
    const rc = routeCache();
    const s = t.host.newStream(1, { ...recorder(), ...rc.callbacks });
    s.decodeHeaders(fixtureRequest("route-cache", [["x-off", "1"]]), true);
    const id = s.contextId;
    // Context::replaceHeaderMapValue cleared it twice; nothing matched in between (1.33+: no legacy route_name).
    expect(rc.calls).toEqual(["clear", "clear"]);
    expect(t.lines(`${id} route-after-set=<rc:1>`)).toHaveLength(1);
    expect(rc.cached()).toBeUndefined();
    s.complete();
  });

  it("Higress: reading route_name re-matches on the current headers; after clear_route_cache=off header changes keep that route", async () => {
    t = await fixtureRig({ flavour: "higress" });
    const rc = routeCache();
    const s = t.host.newStream(1, { ...recorder(), ...rc.callbacks });
    s.decodeHeaders(fixtureRequest("route-cache", [["x-off", "1"]]), true);
    const id = s.contextId;
    expect(t.lines(`${id} route-after-set=own-host`)).toHaveLength(1);
    expect(t.lines(`${id} off rc=0`)).toHaveLength(1);
    // One clear (the cluster header), one match on the client's host, then no clear for :authority.
    expect(rc.calls).toEqual(["clear", "match gw"]);
    expect(rc.cached()).toEqual({ name: "own-host", cluster: "c1" });
    // cluster_name (Higress's legacy token) reads the kept route's cluster.
    expect(t.lines(`${id} cluster=c1`)).toHaveLength(1);
    s.complete();
  });

  it("Higress without the property: the later :authority change clears the route again", async () => {
    t = await fixtureRig({ flavour: "higress" });
    const rc = routeCache();
    const s = t.host.newStream(1, { ...recorder(), ...rc.callbacks });
    s.decodeHeaders(fixtureRequest("route-cache"), true);
    expect(rc.calls).toEqual(["clear", "match gw", "clear"]);
    expect(rc.cached()).toBeUndefined();
    s.complete();
  });
});
