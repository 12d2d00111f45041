/**
 * The gateway with the real proxy-wasm host (harness/host) and a small AssemblyScript filter
 * (test/fixtures/gateway/route-by-header.ts): the same paths as data-path.test.ts, but every
 * header mutation, local reply, http_call and stat goes through the ABI.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { buildFixture } from "./fixture.ts";
import type { PluginHost } from "../../../harness/host/index.ts";
import { localBootstrap, refusedPort, request, resettingUpstream, sleep, startUpstream, until, type Upstream } from "../../support/stack.ts";

let gw: Gateway;
let east: Upstream;
let west: Upstream;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  const wasmFile = await buildFixture();
  east = await startUpstream("east", (req, res) => {
    if (req.url === "/probe") return res.end("probe ok");
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const tick = () => {
        res.write(`data: ${Date.now()}\n\n`);
        if (++i < 3) setTimeout(tick, 150);
        else res.end();
      };
      return tick();
    }
    res.end("hello from east");
  });
  west = await startUpstream("west");
  closers.push(() => east.close(), () => west.close());
  gw = await startGateway({ bootstrapText: localBootstrap({ east: east.port, west: west.port, wasmFile }), workers: 2 });
  closers.push(() => gw.close());
});

afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

describe("gateway + real host + wasm filter", () => {
  it("routes to the cluster the filter named through the ABI; the filter's response hook ran", async () => {
    const r = await request(gw.url, { path: "/x", headers: { "x-route-to": "aoai-west" } });
    expect([r.status, r.body, r.headers["x-fixture"], r.headers.server]).toEqual([200, "hello from west", "1", "envoy"]);
    const seen = west.requests.at(-1)!;
    // Routed by the header the filter set; the route removes it from the upstream request.
    expect(seen.headers["x-ai-failover-cluster"]).toBeUndefined();
    expect(seen.headers["x-route-to"]).toBeUndefined();
  });

  it("router replies (no cluster header) pass through the filter's on_response_headers", async () => {
    const r = await request(gw.url);
    expect([r.status, r.body, r.headers["x-fixture"]]).toEqual([503, "", "1"]);
  });

  it("a local reply from the filter never reaches an upstream", async () => {
    const before = east.requests.length + west.requests.length;
    const r = await request(gw.url, { method: "POST", headers: { "x-local-reply": "403", "x-route-to": "aoai-east" }, body: "{}" });
    expect([r.status, r.body]).toEqual([403, "local reply from wasm"]);
    await sleep(50);
    expect(east.requests.length + west.requests.length).toBe(before);
  });

  it("streams response chunks through the filter as they arrive", { retry: 2 }, async () => {
    const gaps: number[] = [];
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${gw.url}/stream`, { headers: { "x-route-to": "aoai-east" }, agent: false }, (res) => {
          res.on("data", (c) => {
            for (const m of String(c).matchAll(/data: (\d+)/g)) gaps.push(Date.now() - Number(m[1]));
          });
          res.on("end", resolve);
        })
        .on("error", reject);
    });
    expect(gaps).toHaveLength(3);
    for (const g of gaps) expect(g).toBeLessThan(100);
  });

  it("http_call reaches clusters: response, unknown cluster (BadArgument), connect failure (503), reset", async () => {
    const ok = await request(gw.url, { headers: { "x-callout": "aoai-east" } });
    expect(ok.body).toMatch(/^callout status=200 headers=\d+ body=probe ok$/);
    expect(east.requests.at(-1)!.headers.host).toBe("probe.local");

    const unknown = await request(gw.url, { headers: { "x-callout": "nope" } });
    expect([unknown.status, unknown.body]).toEqual([500, "http_call result 2"]);

    const bad = await resettingUpstream();
    const dead = await refusedPort();
    const g2 = await startGateway({
      bootstrapText: localBootstrap({ east: dead, west: bad.port, wasmFile: (await buildFixture()) }),
      workers: 1,
    });
    try {
      const refused = await request(g2.url, { headers: { "x-callout": "aoai-east" } });
      expect(refused.body).toMatch(/^callout status=503 /);
      const reset = await request(g2.url, { headers: { "x-callout": "aoai-west" } });
      expect(reset.body).toBe("callout status= headers=0 body=");
    } finally {
      await g2.close();
      await bad.close();
    }
  });

  it("the host forgets each downstream connection once it closes (its connection map stays bounded)", async () => {
    const host = gw.host as PluginHost;
    for (let i = 0; i < 20; i++) {
      const r = await request(gw.url, { path: "/x", headers: { "x-route-to": "aoai-west" } }); // a new connection each time
      expect(r.status).toBe(200);
    }
    await until(() => host.connectionCount === 0, 2000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await request(gw.url, { path: "/x", headers: { "x-route-to": "aoai-west" }, agent });
    expect(host.connectionCount).toBe(1);
    agent.destroy();
    await until(() => host.connectionCount === 0, 2000);
  });

  it("admin: /ready and the filter's custom stat in Prometheus form", async () => {
    expect((await request(gw.adminUrl!, { path: "/ready" })).body).toBe("LIVE\n");
    const prom = await request(gw.adminUrl!, { path: "/stats/prometheus" });
    expect(prom.body).toMatch(/^# TYPE gateway_fixture_requests counter\ngateway_fixture_requests\{\} \d+$/m);
  });
});
