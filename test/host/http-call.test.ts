// Checklist 8: http_call cluster lookup, pseudo-headers, outcome table, delivery to root.
import { afterEach, describe, expect, it } from "vitest";
import type { ClusterDispatcher, DispatchResult, HeaderList } from "../../harness/host/index.ts";
import { header, recorder, fixtureRequest, fixtureRig, sleep, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

function dispatcher(outcome: (signal: AbortSignal) => Promise<DispatchResult>, seen: Array<{ headers: HeaderList; body: string }> = []): ClusterDispatcher {
  return {
    hasCluster: (n) => n === "up" || n === "down",
    hasHealthyHost: (n) => n === "up",
    send: (_c, r, signal) => {
      seen.push({ headers: r.headers, body: Buffer.from(r.body).toString() });
      return outcome(signal);
    },
  };
}

const ok = (): Promise<DispatchResult> =>
  Promise.resolve({ kind: "response", headers: [[":status", "200"], ["x-a", "1"]], body: new Uint8Array(Buffer.from("pong")), trailers: [] });

async function call(extra: HeaderList, d: ClusterDispatcher) {
  t = await fixtureRig({ dispatcher: d });
  const cb = recorder();
  const s = t.host.newStream(1, cb);
  s.decodeHeaders(fixtureRequest("callout", extra), true);
  return { s, cb };
}

describe("http_call (checklist 8)", () => {
  it("sends with the three pseudo-headers, tokens 4, 8… per VM, response read in the root callback, then continues the stream", async () => {
    const seen: Array<{ headers: HeaderList; body: string }> = [];
    const later = (): Promise<DispatchResult> => new Promise((r) => setTimeout(() => r(ok()), 10));
    const { s, cb } = await call([["x-cluster", "up"], ["x-mode", "body"], ["x-timeout", "1000"]], dispatcher(later, seen));
    expect(t.lines(`${s.contextId} http_call rc=0 token=4`)).toHaveLength(1);
    expect(header(seen[0]!.headers, "content-length")).toBe("5");
    // The stream waits (StopIteration → StopAll) until the callback continues it.
    expect(cb.events).toEqual([]);
    await sleep(30);
    expect(t.lines("callout root=1 token=4 nh=2 bs=4 nt=0 status=200 body=pong get_status=0/")).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders"]);
    expect(header((cb.events[0] as { headers: HeaderList }).headers, "x-callout-status")).toBe("200");
    const s2 = t.host.newStream(1, recorder());
    s2.decodeHeaders(fixtureRequest("callout", [["x-cluster", "up"], ["x-timeout", "1000"]]), true);
    expect(t.lines(`${s2.contextId} http_call rc=0 token=8`)).toHaveLength(1);
  });

  it("unknown cluster or a missing :authority → BadArgument; no healthy host → InternalFailure; no callback", async () => {
    const seen: Array<{ headers: HeaderList; body: string }> = [];
    const d = dispatcher(ok, seen);
    t = await fixtureRig({ dispatcher: d });
    const run = (extra: HeaderList): string => {
      const s = t.host.newStream(1, recorder());
      s.decodeHeaders(fixtureRequest("callout", extra), true);
      return t.lines(`${s.contextId} http_call`)[0]!;
    };
    expect(run([["x-cluster", "nope"]])).toMatch(/rc=2 token=0$/);
    expect(run([["x-cluster", "up"], ["x-mode", "no-authority"]])).toMatch(/rc=2 token=0$/);
    expect(run([["x-cluster", "down"]])).toMatch(/rc=10 token=0$/);
    await sleep(5);
    expect(seen).toEqual([]);
    expect(t.lines("callout root")).toEqual([]);
  });

  it("connect failure → callback with a 503 response", async () => {
    await call([["x-cluster", "up"]], dispatcher(() => Promise.resolve({ kind: "connect-failure" })));
    await sleep(5);
    expect(t.lines("callout root=1 token=4 nh=3")[0]).toContain("status=503 body=upstream connect error");
  });

  it("timeout enforced by the host → 504 upstream request timeout, and the dispatcher is aborted", async () => {
    let aborted = false;
    await call([["x-cluster", "up"], ["x-timeout", "10"]], dispatcher((signal) => new Promise((resolve) => {
      signal.addEventListener("abort", () => { aborted = true; resolve({ kind: "reset" }); });
    })));
    await sleep(40);
    expect(aborted).toBe(true);
    expect(t.lines("callout root=1 token=4")).toEqual(["callout root=1 token=4 nh=3 bs=24 nt=0 status=504 body=upstream request timeout get_status=0/"]);
  });

  // Envoy's async client runs the router filter on the call (router.cc FilterUtility::finalTimeout,
  // router/upstream_request.cc onPerTryTimeout): the per-try header is consumed and bounds only
  // the time to the response headers.
  it("x-envoy-upstream-rq-per-try-timeout-ms: 504 when no headers came in time; consumed; no effect once headers came", async () => {
    const seen: Array<{ headers: HeaderList; body: string }> = [];
    let aborted = false;
    await call([["x-cluster", "up"], ["x-timeout", "5000"], ["x-per-try", "20"]], dispatcher((signal) => new Promise((resolve) => {
      signal.addEventListener("abort", () => { aborted = true; resolve({ kind: "reset" }); });
    }), seen));
    await sleep(80);
    expect(aborted).toBe(true);
    expect(t.lines("callout root=1 token=4")[0]).toContain("status=504 body=upstream request timeout");
    expect(header(seen[0]!.headers, "x-envoy-upstream-rq-per-try-timeout-ms")).toBeUndefined();
    await t.host.close();

    const slowBody: ClusterDispatcher = {
      hasCluster: (n) => n === "up",
      hasHealthyHost: (n) => n === "up",
      send: (_c, _r, _signal, onHeaders) => new Promise((resolve) => {
        setTimeout(() => onHeaders?.(), 5);
        setTimeout(() => resolve({ kind: "response", headers: [[":status", "200"]], body: new Uint8Array(Buffer.from("late")), trailers: [] }), 80);
      }),
    };
    await call([["x-cluster", "up"], ["x-timeout", "5000"], ["x-per-try", "20"]], slowBody);
    await sleep(120);
    expect(t.lines("callout root=1 token=4")[0]).toContain("status=200 body=late");
  });

  it("reset → callback (0, 0, 0) with proxy_get_status 11", async () => {
    await call([["x-cluster", "up"]], dispatcher(() => Promise.resolve({ kind: "reset" })));
    await sleep(5);
    expect(t.lines("callout root=1 token=4")).toEqual(["callout root=1 token=4 nh=0 bs=0 nt=0 status=<rc:2> body=<rc:1> get_status=11/reset"]);
  });
});
