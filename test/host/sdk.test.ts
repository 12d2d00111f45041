// The patched @solo-io/proxy-runtime SDK in the host: RootContext.httpCall (which did not compile
// with AssemblyScript 0.28 before the patch), get/set_shared_data with CAS, get_metric.
// Fixture: test/fixtures/host/sdk/sdk-calls.ts (built by test/setup/build-host-fixtures.ts).
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { ClusterDispatcher, DispatchResult, HeaderList } from "../../harness/host/index.ts";
import { checkModule } from "../../harness/host/index.ts";
import { fixtureWasm, header, recorder, fixtureRig, sleep, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

const sdk = () => fixtureWasm("sdk/sdk-calls");
const req = (what: string, extra: HeaderList = []): HeaderList => [
  [":method", "GET"], [":path", "/v1/x"], [":authority", "gw"], ["x-sdk", what], ...extra,
];

describe("patched proxy-runtime SDK", () => {
  it("the patch is the committed one: httpCall takes a BaseContext callback, get_metric uses proxy_get_metric", () => {
    const patch = readFileSync(new URL("../../patches/@solo-io+proxy-runtime+0.1.8.patch", import.meta.url), "utf8");
    expect(patch).toContain("origin_context: BaseContext, cb: (origin_context: BaseContext, headers: u32, body_size: usize, trailers: u32) => void");
    expect(patch).toContain("imports.proxy_get_metric(metric_id");
    const rt = readFileSync(new URL("../../node_modules/@solo-io/proxy-runtime/assembly/runtime.ts", import.meta.url), "utf8");
    expect(rt).toContain("cb: (origin_context: BaseContext, headers: u32, body_size: usize, trailers: u32) => void): WasmResultValues");
    // The SDK module links against Envoy's import table.
    expect(checkModule(sdk()).ok).toBe(true);
  });

  it("RootContext.httpCall: request goes to the cluster, the callback gets its stream back and continues it", async () => {
    const seen: Array<{ cluster: string; headers: HeaderList }> = [];
    const dispatcher: ClusterDispatcher = {
      hasCluster: (n) => n === "probe-cluster",
      hasHealthyHost: () => true,
      send: (cluster, r) => {
        seen.push({ cluster, headers: r.headers });
        return new Promise<DispatchResult>((res) =>
          setTimeout(() => res({ kind: "response", headers: [[":status", "200"]], body: new Uint8Array(Buffer.from("pong")), trailers: [] }), 5),
        );
      },
    };
    t = await fixtureRig({ wasm: sdk(), rootId: "sdk-root", configuration: "{}", dispatcher, logLevel: 2 });
    expect(t.lines("sdk configure config={}").length).toBe(3); // canary + 2 workers
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(req("callout", [["x-cluster", "probe-cluster"]]), true);
    expect(t.lines(`sdk callout ctx=${s.contextId} rc=0`)).toHaveLength(1);
    expect(cb.events).toEqual([]); // paused until the callback continues
    expect(seen).toEqual([{ cluster: "probe-cluster", headers: [[":method", "GET"], [":path", "/probe"], [":authority", "probe.local"]] }]);
    await sleep(30);
    expect(t.lines(`sdk callout-response ctx=${s.contextId} headers=1 status=200 body=pong trailers=0`)).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders"]);
    const out = (cb.events[0] as { headers: HeaderList }).headers;
    expect([header(out, "x-callout-status"), header(out, "x-callout-body")]).toEqual(["200", "pong"]);
    s.complete();

    // Unknown cluster: BadArgument (2) straight from httpCall, the stream goes on, no callback.
    const s2 = t.host.newStream(1, recorder());
    s2.decodeHeaders(req("callout", [["x-cluster", "nope"]]), true);
    expect(t.lines(`sdk callout ctx=${s2.contextId} rc=2`)).toHaveLength(1);
  });

  it("httpCall whose stream is gone by the time the answer arrives: the callback is dropped, the VM lives on", async () => {
    const dispatcher: ClusterDispatcher = {
      hasCluster: () => true,
      hasHealthyHost: () => true,
      send: () => new Promise<DispatchResult>((res) => setTimeout(() => res({ kind: "response", headers: [[":status", "204"]], body: new Uint8Array(), trailers: [] }), 5)),
    };
    t = await fixtureRig({ wasm: sdk(), rootId: "sdk-root", configuration: "{}", dispatcher, logLevel: 2 });
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(req("callout", [["x-cluster", "c"]]), true);
    s.reset!("downstream_remote_disconnect");
    await sleep(30);
    expect(t.lines(`origin context ${s.contextId} is gone`)).toHaveLength(1);
    expect(t.lines("sdk callout-response")).toEqual([]);
    // Same worker still serves.
    const s2 = t.host.newStream(1, recorder());
    s2.decodeHeaders(req("shared", [["x-key", "k"], ["x-value", "v"], ["x-cas", "0"]]), true);
    expect(t.lines("sdk shared set=0 get=0 value=v")).toHaveLength(1);
  });

  it("set_shared_data / get_shared_data: values and CAS shared by every worker; a stale CAS is CasMismatch", async () => {
    t = await fixtureRig({ wasm: sdk(), rootId: "sdk-root", configuration: "{}", logLevel: 2 });
    const run = (conn: number, extra: HeaderList): string => {
      const s = t.host.newStream(conn, recorder());
      s.decodeHeaders(req("shared", extra), true);
      s.complete();
      return t.lines("sdk shared").at(-1)!;
    };
    const first = run(1, [["x-key", "provider/a"], ["x-value", "v1"], ["x-cas", "0"]]);
    const cas1 = Number(/cas=(\d+)$/.exec(first)![1]);
    expect(first).toBe(`sdk shared set=0 get=0 value=v1 cas=${cas1}`);
    expect(cas1).toBeGreaterThan(0);
    // Other worker (connection 2), right CAS: accepted, new CAS.
    const second = run(2, [["x-key", "provider/a"], ["x-value", "v2"], ["x-cas", String(cas1)]]);
    const cas2 = Number(/cas=(\d+)$/.exec(second)![1]);
    expect(second).toBe(`sdk shared set=0 get=0 value=v2 cas=${cas2}`);
    expect(cas2).toBeGreaterThan(cas1);
    // Stale CAS: CasMismatch (8), value unchanged.
    expect(run(1, [["x-key", "provider/a"], ["x-value", "v3"], ["x-cas", String(cas1)]])).toBe(`sdk shared set=8 get=0 value=v2 cas=${cas2}`);
  });

  it("get_metric reads counters and gauges (process-wide); histograms record but cannot be read", async () => {
    t = await fixtureRig({ wasm: sdk(), rootId: "sdk-root", configuration: "{}", logLevel: 2 });
    for (const conn of [1, 2]) {
      const s = t.host.newStream(conn, recorder());
      s.decodeHeaders(req("metrics"), true);
      s.complete();
    }
    expect(t.lines("sdk metrics")).toEqual([
      "sdk metrics counter=3/0 gauge=5/0 histogram-record=0 histogram-get=2",
      "sdk metrics counter=6/0 gauge=10/0 histogram-record=0 histogram-get=2",
    ]);
    const m = t.host.metrics();
    expect(m.find((x) => x.name === "sdk.requests")?.value).toBe(6n);
    const h = m.find((x) => x.name === "sdk.latency")!;
    expect([h.type, h.count, h.sum, h.buckets!.find((b) => b.le === 50)!.count, h.buckets!.find((b) => b.le === 25)!.count]).toEqual([
      "histogram", 2n, 84n, 2n, 0n,
    ]);
  });
});
