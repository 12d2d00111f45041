// The host ↔ gateway contract additions: connectionClosed (bounded connection map), histograms
// (Envoy's default buckets, sum, count), and HttpStream.reset (aborted streams).
import { afterEach, describe, expect, it } from "vitest";
import { ENVOY_DEFAULT_HISTOGRAM_BUCKETS } from "../../harness/host/stats.ts";
import { bytes, recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

/** Lines the fixture logged for one context, from `on_log` on. */
function endLines(id: number): string[] {
  return t.logs.map((l) => l.message).filter((m) => m.startsWith(`${id} on_`) || m.startsWith(`${id} reset-props`));
}

describe("connectionClosed", () => {
  it("forgets closed connections: the map stays bounded while a live connection keeps its worker", async () => {
    t = await fixtureRig({ workers: 3 });
    const live = 1_000_000;
    const first = t.host.newStream(live, recorder());
    first.decodeHeaders(fixtureRequest("plain"), true);
    first.complete();
    for (let c = 1; c <= 2000; c++) {
      const s = t.host.newStream(c, recorder());
      s.decodeHeaders(fixtureRequest("plain"), true);
      s.complete();
      t.host.connectionClosed(c);
      // The live connection is still served by its worker, whatever the churn around it.
      if (c % 500 === 0) {
        const again = t.host.newStream(live, recorder());
        expect(again.worker).toBe(first.worker);
        again.complete();
      }
    }
    expect(t.host.connectionCount).toBe(1);
    t.host.connectionClosed(live);
    expect(t.host.connectionCount).toBe(0);
  });

  it("keeps one worker per open connection (round robin on first sight) and ignores unknown ids", async () => {
    t = await fixtureRig({ workers: 2 });
    const workers = [1, 2, 3, 4].map((c) => t.host.newStream(c, recorder()).worker);
    expect(workers).toEqual([0, 1, 0, 1]);
    expect(t.host.newStream(3, recorder()).worker).toBe(0);
    expect(t.host.connectionCount).toBe(4);
    t.host.connectionClosed(42);
    t.host.connectionClosed(2);
    expect(t.host.connectionCount).toBe(3);
    // A stream opened before its connection closed keeps working on its worker.
    const s = t.host.newStream(1, recorder());
    t.host.connectionClosed(1);
    s.decodeHeaders(fixtureRequest("plain"), true);
    s.complete();
    expect(t.lines(`${s.contextId} on_delete`)).toHaveLength(1);
  });
});

describe("histograms", () => {
  it("proxy_record_metric records observations; metrics() has Envoy's buckets (cumulative), sum and count", async () => {
    t = await fixtureRig({ workers: 2 });
    // Two connections → two worker VMs, one process-wide histogram.
    const a = t.host.newStream(1, recorder());
    a.decodeHeaders(fixtureRequest("histogram", [["x-values", "0,1,3,7,1000"]]), true);
    a.complete();
    const b = t.host.newStream(2, recorder());
    expect(b.worker).not.toBe(a.worker);
    b.decodeHeaders(fixtureRequest("histogram", [["x-values", "4000000,250"]]), true);
    b.complete();
    // Ids carry the histogram type (low bits 2); record Ok; increment and get are BadArgument.
    expect(t.lines(" histogram id=")).toEqual([
      `${a.contextId} histogram id=6 rec=00000 inc=2 get=2`,
      `${b.contextId} histogram id=6 rec=00 inc=2 get=2`,
    ]);
    const h = t.host.metrics().find((m) => m.name === "latency_ms")!;
    expect(h.type).toBe("histogram");
    expect(h.count).toBe(7n);
    expect(h.sum).toBe(4001261n);
    expect(h.value).toBe(4001261n);
    expect(h.buckets!.map((x) => x.le)).toEqual([...ENVOY_DEFAULT_HISTOGRAM_BUCKETS]);
    expect(ENVOY_DEFAULT_HISTOGRAM_BUCKETS).toEqual([
      0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
    ]);
    const at = (le: number) => h.buckets!.find((x) => x.le === le)!.count;
    expect([at(0.5), at(1), at(5), at(10), at(100), at(250), at(500), at(1000), at(3600000)]).toEqual([1n, 2n, 3n, 4n, 4n, 5n, 5n, 6n, 6n]);
    // 4000000 is above the last bound: only in +Inf (= count).
    expect(h.buckets!.every((x, i, all) => i === 0 || x.count >= all[i - 1]!.count)).toBe(true);
    // Counters and gauges carry no histogram fields.
    for (const m of t.host.metrics().filter((m) => m.type !== "histogram")) expect(m.buckets).toBeUndefined();
  });
});

describe("HttpStream.reset", () => {
  it("downstream abort mid-response: on_log/on_done/on_delete once; later callbacks are not called; properties say so", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("reset-mid"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.encodeData(bytes("part"), false);
    const before = cb.events.length;
    s.reset!("downstream_remote_disconnect", "downstream");
    s.encodeData(bytes("more"), true);
    s.reset!("downstream_remote_disconnect", "downstream");
    s.complete();
    const id = s.contextId;
    expect(endLines(id)).toEqual([
      `${id} on_log req=/v1/chat status=200 add=2`,
      `${id} reset-props code=200 details=downstream_remote_disconnect flags=16384`,
      `${id} on_done`,
      `${id} on_delete`,
    ]);
    expect(t.lines(`${id} response_body size=4 eos=0 body=part`)).toHaveLength(1);
    expect(t.lines(`${id} response_body`)).toHaveLength(1);
    // The host does not call the gateway back for a reset the gateway reported.
    expect(cb.events.length).toBe(before);
    expect(cb.kinds()).not.toContain("reset");
  });

  it("abort before any response: response.code is NotFound; the request body never reaches the filter", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("reset-early"), false);
    s.reset!("");
    s.decodeData(bytes("late"), true);
    const id = s.contextId;
    expect(t.lines(`${id} request_body`)).toEqual([]);
    expect(endLines(id)).toEqual([
      `${id} on_log req=/v1/chat status=<rc:1> add=2`,
      `${id} reset-props code=<rc:1> details=downstream_remote_disconnect flags=16384`,
      `${id} on_done`,
      `${id} on_delete`,
    ]);
  });

  it("upstream abort after headers: UC flag and the upstream details; a stream completed first is not reset", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("reset-up"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.reset!("upstream_reset_after_response_started{connection_termination}", "upstream");
    expect(t.lines(`${s.contextId} reset-props`)).toEqual([
      `${s.contextId} reset-props code=200 details=upstream_reset_after_response_started{connection_termination} flags=64`,
    ]);

    const done = t.host.newStream(1, recorder()); // same worker: context ids are per VM
    done.decodeHeaders(fixtureRequest("reset-not"), true);
    done.encodeHeaders([[":status", "204"]], true);
    done.complete();
    done.reset!("downstream_remote_disconnect");
    expect(t.lines(`${done.contextId} reset-props`)).toEqual([`${done.contextId} reset-props code=204 details=<rc:1> flags=0`]);
    expect(t.lines(`${done.contextId} on_log`)).toHaveLength(1);
  });

  it("a local reset (timeout after the response started) sets the details and no peer flag", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("reset-local"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.reset!("upstream_response_timeout", "local");
    expect(t.lines(`${s.contextId} reset-props`)).toEqual([`${s.contextId} reset-props code=200 details=upstream_response_timeout flags=0`]);
  });
});
