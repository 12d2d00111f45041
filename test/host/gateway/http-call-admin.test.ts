/** The ClusterDispatcher the gateway gives the host for proxy_http_call, and the admin endpoints. */
import { afterEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { renderPrometheus, startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import type { ClusterDispatcher } from "../../../harness/host/types.ts";
import { FakeHost } from "./fake-host.ts";
import { localBootstrap, refusedPort, request, resettingUpstream, startUpstream } from "../../support/stack.ts";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(text: string): Promise<{ gw: Gateway; host: FakeHost; dispatcher: ClusterDispatcher }> {
  const sink: { host?: FakeHost } = {};
  const gw = await startGateway({ bootstrapText: text, hostFactory: FakeHost.factory(sink) });
  cleanups.push(() => gw.close());
  return { gw, host: sink.host!, dispatcher: sink.host!.dispatcher! };
}

const get = (path: string) => ({
  headers: [
    [":method", "GET"],
    [":path", path],
    [":authority", "aoai-east.openai.azure.com"],
    ["api-key", "k"],
  ] as Array<[string, string]>,
  body: new Uint8Array(0),
  trailers: [],
});

describe("http_call dispatch (ClusterDispatcher)", () => {
  it("knows the bootstrap's clusters and which have a host", async () => {
    const doc = parse(localBootstrap({ east: 1, west: 2 }));
    doc.static_resources.clusters[1].load_assignment.endpoints = [];
    const { dispatcher } = await gateway(stringify(doc));
    expect(dispatcher.hasCluster("aoai-east")).toBe(true);
    expect(dispatcher.hasCluster("nope")).toBe(false);
    expect(dispatcher.hasHealthyHost("aoai-east")).toBe(true);
    expect(dispatcher.hasHealthyHost("aoai-west")).toBe(false);
  });

  it("response: status, headers (authority → host), body; a body gets content-length", async () => {
    const east = await startUpstream("east", (req, res, body) => {
      res.writeHead(201, { "x-seen-host": req.headers.host!, "x-seen-length": req.headers["content-length"] ?? "none" });
      res.end(`echo ${body}`);
    });
    cleanups.push(() => east.close());
    const { dispatcher } = await gateway(localBootstrap({ east: east.port, west: 2 }));
    const post = { ...get("/openai/models"), body: new TextEncoder().encode("hi") };
    post.headers[0] = [":method", "POST"];
    const r = await dispatcher.send("aoai-east", post, new AbortController().signal);
    expect(r.kind).toBe("response");
    if (r.kind !== "response") return;
    expect(r.headers[0]).toEqual([":status", "201"]);
    expect(r.headers).toContainEqual(["x-seen-host", "aoai-east.openai.azure.com"]);
    expect(r.headers).toContainEqual(["x-seen-length", "2"]);
    expect(new TextDecoder().decode(r.body)).toBe("echo hi");
    expect(east.requests[0]).toMatchObject({ method: "POST", url: "/openai/models" });
    expect(east.requests[0].headers["api-key"]).toBe("k");
  });

  it("connect failure and reset are reported as such; abort cancels", async () => {
    const bad = await resettingUpstream();
    cleanups.push(() => bad.close());
    const { dispatcher } = await gateway(localBootstrap({ east: await refusedPort(), west: bad.port }));
    expect(await dispatcher.send("aoai-east", get("/"), new AbortController().signal)).toEqual({ kind: "connect-failure" });
    expect(await dispatcher.send("aoai-west", get("/"), new AbortController().signal)).toEqual({ kind: "reset" });

    const hang = await startUpstream("hang", () => {});
    cleanups.push(() => hang.close());
    const g2 = await gateway(localBootstrap({ east: hang.port, west: 2 }));
    const ac = new AbortController();
    const pending = g2.dispatcher.send("aoai-east", get("/"), ac.signal);
    setTimeout(() => ac.abort(new Error("timeout")), 50);
    await expect(pending).rejects.toThrow("timeout");
  });
});

describe("admin", () => {
  it("/ready, /stats/prometheus, /stats, /clusters, unknown path", async () => {
    const { gw } = await gateway(localBootstrap({ east: 18081, west: 18082 }));
    expect(gw.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await request(gw.adminUrl!, { path: "/ready" });
    expect([ready.status, ready.body]).toEqual([200, "LIVE\n"]);

    const prom = await request(gw.adminUrl!, { path: "/stats/prometheus" });
    expect(prom.status).toBe(200);
    expect(prom.body).toBe(
      [
        "# TYPE ai_failover_requests counter",
        "ai_failover_requests{} 0",
        "# TYPE ai_failover_provider_aoai_east_inflight gauge",
        "ai_failover_provider_aoai_east_inflight{} 0",
        "# TYPE ai_failover_upstream_ms histogram",
        'ai_failover_upstream_ms_bucket{le="0.5"} 0',
        'ai_failover_upstream_ms_bucket{le="1"} 0',
        ...["5", "10", "25", "50", "100", "250", "500", "1000"].map((le) => `ai_failover_upstream_ms_bucket{le="${le}"} 2`),
        ...["2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"].map(
          (le) => `ai_failover_upstream_ms_bucket{le="${le}"} 3`,
        ),
        'ai_failover_upstream_ms_bucket{le="+Inf"} 3',
        "ai_failover_upstream_ms_sum{} 1030",
        "ai_failover_upstream_ms_count{} 3",
        "",
      ].join("\n"),
    );
    const stats = await request(gw.adminUrl!, { path: "/stats" });
    expect(stats.body).toContain("wasmcustom.ai_failover.requests: 0\n");
    const clusters = await request(gw.adminUrl!, { path: "/clusters" });
    expect(clusters.body).toBe(
      "aoai-east::127.0.0.1:18081::health_flags::healthy\naoai-west::127.0.0.1:18082::health_flags::healthy\n",
    );
    expect((await request(gw.adminUrl!, { path: "/nope" })).status).toBe(404);
  });

  it("renders custom stats like Envoy: namespace stripped, no envoy_ prefix, sanitized, counters then gauges, sorted", () => {
    const text = renderPrometheus([
      { name: "z.gauge", type: "gauge", value: 5n },
      { name: "b-counter", type: "counter", value: 2n },
      { name: "a.counter", type: "counter", value: 1n },
      { name: "7up", type: "counter", value: 1n },
    ]);
    expect(text).toBe("# TYPE a_counter counter\na_counter{} 1\n# TYPE b_counter counter\nb_counter{} 2\n# TYPE z_gauge gauge\nz_gauge{} 5\n");
  });

  it("renders histograms like Envoy: cumulative _bucket{le} per default bound, +Inf, _sum{}, _count{}, after counters and gauges", () => {
    const bounds = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
    // Observations 0, 7, 7, 4000000 (the last one above every bound: only in +Inf).
    const buckets = bounds.map((le) => ({ le, count: le < 10 ? 1n : 3n }));
    const text = renderPrometheus([
      { name: "upstream.ms", type: "histogram", value: 4000014n, sum: 4000014n, count: 4n, buckets },
      { name: "a.counter", type: "counter", value: 1n },
      { name: "9hist", type: "histogram", value: 0n, sum: 0n, count: 0n, buckets },
    ]);
    const lines = text.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual(["# TYPE a_counter counter", "a_counter{} 1", "# TYPE upstream_ms histogram"]);
    expect(lines.slice(3)).toEqual([
      'upstream_ms_bucket{le="0.5"} 1',
      'upstream_ms_bucket{le="1"} 1',
      'upstream_ms_bucket{le="5"} 1',
      ...["10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"].map(
        (le) => `upstream_ms_bucket{le="${le}"} 3`,
      ),
      'upstream_ms_bucket{le="+Inf"} 4',
      "upstream_ms_sum{} 4000014",
      "upstream_ms_count{} 4",
    ]);
  });
});
