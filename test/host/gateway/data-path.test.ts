/**
 * The gateway's data path against a stand-in host (FakeHost): routing by the cluster header the
 * filter sets, Envoy's router replies, streaming in both directions, local replies, resets,
 * completion, and one worker per downstream connection.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { FakeHost } from "./fake-host.ts";
import {
  refusedPort,
  localBootstrap,
  request,
  resettingUpstream,
  sleep,
  startUpstream,
  until,
  type LocalPorts,
} from "../../support/stack.ts";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(ports: LocalPorts): Promise<{ gw: Gateway; host: FakeHost }> {
  const sink: { host?: FakeHost } = {};
  const gw = await startGateway({ bootstrapText: localBootstrap(ports), hostFactory: FakeHost.factory(sink), workers: 2 });
  cleanups.push(() => gw.close());
  return { gw, host: sink.host! };
}

async function upstream(...args: Parameters<typeof startUpstream>) {
  const u = await startUpstream(...args);
  cleanups.push(() => u.close());
  return u;
}

describe("routing by the cluster header", () => {
  it("sends each request to the cluster the filter named, with Envoy's request and response headers", async () => {
    const east = await upstream("east");
    const west = await upstream("west");
    const { gw, host } = await gateway({ east: east.port, west: west.port });

    const r1 = await request(gw.url, { path: "/v1/chat?x=1", headers: { "x-test-cluster": "aoai-west", host: "client.example" } });
    expect(r1.status).toBe(200);
    expect(r1.body).toBe("hello from west");
    expect(r1.headers.server).toBe("envoy");
    expect(Number(r1.headers["x-envoy-upstream-service-time"])).toBeGreaterThanOrEqual(0);
    expect(west.requests).toHaveLength(1);
    expect(east.requests).toHaveLength(0);
    const seen = west.requests[0];
    expect(seen.url).toBe("/v1/chat?x=1");
    expect(seen.headers.host).toBe("client.example");
    // The route's request_headers_to_remove: the router read the routing header, the upstream never sees it.
    expect(seen.headers["x-ai-failover-cluster"]).toBeUndefined();
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.headers["x-envoy-expected-rq-timeout-ms"]).toBe("300000");

    // The filter saw pseudo-headers first, lower-case names; the response with :status and the router's header.
    const s = host.streams[0];
    expect(s.requestHeaders!.slice(0, 4)).toEqual([
      [":authority", "client.example"],
      [":path", "/v1/chat?x=1"],
      [":method", "GET"],
      [":scheme", "http"],
    ]);
    expect(s.responseHeaders![0]).toEqual([":status", "200"]);
    expect(s.responseHeaders!.map(([k]) => k)).toContain("x-envoy-upstream-service-time");
    expect(s.properties.get("xds.cluster_name")).toBe("aoai-west");
    expect(s.properties.get("route_name")).toBe("llm");

    const r2 = await request(gw.url, { method: "POST", headers: { "x-test-cluster": "aoai-east" }, body: "ping" });
    expect(r2.body).toBe("hello from east");
    expect(east.requests[0]).toMatchObject({ method: "POST", body: "ping" });
    expect(host.streams.map((x) => x.completions)).toEqual([1, 1]);
  });

  it("answers like Envoy's router (503, empty body) when the header is missing or names no cluster", async () => {
    const { gw, host } = await gateway({ east: 1, west: 2 });
    const missing = await request(gw.url);
    expect([missing.status, missing.body, missing.headers["content-length"]]).toEqual([503, "", "0"]);
    const unknown = await request(gw.url, { headers: { "x-test-cluster": "nope" } });
    expect([unknown.status, unknown.body]).toEqual([503, ""]);
    // Router replies pass through the filter chain (the filter's on_response_headers sees them).
    expect(host.streams[1].responseHeaders).toEqual([[":status", "503"]]);
    expect(host.streams.map((x) => x.completions)).toEqual([1, 1]);
  });

  it("503 no healthy upstream for a cluster without endpoints", async () => {
    const doc = parse(localBootstrap({ east: 1, west: 2 }));
    doc.static_resources.clusters[1].load_assignment.endpoints = [];
    const gw = await startGateway({ bootstrapText: stringify(doc), hostFactory: FakeHost.factory({}) });
    cleanups.push(() => gw.close());
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-west" } });
    expect([r.status, r.body]).toEqual([503, "no healthy upstream"]);
  });

  it("404 when no route matches; cluster_not_found_response_code is honoured", async () => {
    const sink: { host?: FakeHost } = {};
    const text = localBootstrap({ east: 1, west: 2 })
      .replace('match: { prefix: "/" }', 'match: { prefix: "/openai/" }')
      .replace("timeout: 300s", "timeout: 300s\n                            cluster_not_found_response_code: NOT_FOUND");
    const gw = await startGateway({ bootstrapText: text, hostFactory: FakeHost.factory(sink) });
    cleanups.push(() => gw.close());
    expect((await request(gw.url, { path: "/v1/chat" })).status).toBe(404);
    expect((await request(gw.url, { path: "/openai/x", headers: { "x-test-cluster": "nope" } })).status).toBe(404);
  });
});

describe("upstream failures", () => {
  it("connect failure → 503 with Envoy's reset body", async () => {
    const { gw } = await gateway({ east: await refusedPort(), west: 2 });
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect(r.status).toBe(503);
    expect(r.body).toBe(
      "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused",
    );
    expect(r.headers["content-type"]).toBe("text/plain");
  });

  it("reset before headers → 503 connection termination", async () => {
    const bad = await resettingUpstream();
    cleanups.push(() => bad.close());
    const { gw, host } = await gateway({ east: bad.port, west: 2 });
    const r = await request(gw.url, { method: "POST", headers: { "x-test-cluster": "aoai-east" }, body: "x" });
    expect(r.status).toBe(503);
    expect(r.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection termination");
    expect(host.streams[0].completions).toBe(1);
  });

  it("reset after the response started → the downstream connection is reset", async () => {
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n");
      setTimeout(() => res.socket!.resetAndDestroy(), 50);
    });
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const got: string[] = [];
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get(`${gw.url}/`, { headers: { "x-test-cluster": "aoai-east" }, agent: false }, (res) => {
        res.on("data", (c) => got.push(String(c)));
        res.on("end", () => resolve("end"));
        res.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
        res.on("aborted", () => resolve("aborted"));
      });
      req.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
    });
    expect(outcome).not.toBe("end");
    expect(got.join("")).toBe("data: 1\n\n");
    // The host hears an upstream abort (reset), not a normal completion.
    await until(() => host.streams[0].resets.length === 1, 2000);
    await sleep(50);
    expect(host.streams[0].resets).toEqual([{ reason: "upstream_reset_after_response_started{connection_termination}", origin: "upstream" }]);
    expect(host.streams[0].completions).toBe(0);
  });

  it("route timeout → 504 upstream request timeout (and the upstream request is abandoned)", async () => {
    const east = await upstream("east", () => {}); // never answers
    const sink: { host?: FakeHost } = {};
    const gw = await startGateway({
      bootstrapText: localBootstrap({ east: east.port, west: 2, timeout: "0.3s" }),
      hostFactory: FakeHost.factory(sink),
    });
    cleanups.push(() => gw.close());
    const t0 = Date.now();
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect([r.status, r.body]).toEqual([504, "upstream request timeout"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(east.requests[0].headers["x-envoy-expected-rq-timeout-ms"]).toBe("300");
    expect(sink.host!.streams[0].completions).toBe(1);
  });
});

describe("idle timeout", () => {
  it("route idle_timeout with the route timeout disabled (0s): 504 stream timeout before headers", async () => {
    const east = await upstream("east", () => {}); // never answers
    const text = localBootstrap({ east: east.port, west: 2 }).replace(
      "timeout: 300s",
      "timeout: 0s\n                            idle_timeout: 0.2s",
    );
    const gw = await startGateway({ bootstrapText: text, hostFactory: FakeHost.factory({}) });
    cleanups.push(() => gw.close());
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect([r.status, r.body]).toEqual([504, "stream timeout"]);
    expect(east.requests[0].headers["x-envoy-expected-rq-timeout-ms"]).toBeUndefined();
  });
});

describe("streaming", () => {
  it("passes each response chunk downstream as it arrives (no buffering)", { retry: 2 }, async () => {
    const sent: number[] = [];
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const tick = () => {
        sent.push(Date.now());
        res.write(`data: ${i}\n\n`);
        if (++i < 4) setTimeout(tick, 150);
        else res.end();
      };
      tick();
    });
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const arrivals: Array<{ t: number; text: string }> = [];
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${gw.url}/`, { headers: { "x-test-cluster": "aoai-east" }, agent: false }, (res) => {
          expect(res.headers["transfer-encoding"]).toBe("chunked");
          res.on("data", (c) => arrivals.push({ t: Date.now(), text: String(c) }));
          res.on("end", resolve);
        })
        .on("error", reject);
    });
    expect(arrivals.map((a) => a.text).join("")).toBe("data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n");
    expect(arrivals.length).toBe(4);
    // Each chunk arrived within a short delay of being sent, long before the upstream finished.
    arrivals.forEach((a, i) => expect(a.t - sent[i]).toBeLessThan(100));
    expect(arrivals[0].t - t0).toBeLessThan(sent[3] - t0 - 300);
    expect(host.streams[0].completions).toBe(1);
  });

  it("streams the request body upstream before the client has finished sending it", async () => {
    let firstChunkAt = 0;
    const east = await startUpstream("east");
    cleanups.push(() => east.close());
    // A raw listener to observe the first request bytes.
    const observer = http.createServer((req, res) => {
      req.once("data", () => (firstChunkAt = Date.now()));
      req.on("end", () => res.end("ok"));
      req.resume();
    });
    await new Promise<void>((r) => observer.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => observer.close(r)));
    const { gw, host } = await gateway({ east: (observer.address() as any).port, west: 2 });
    let endedAt = 0;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.url}/`, { method: "POST", headers: { "x-test-cluster": "aoai-east" }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("error", reject);
      req.write("first-chunk");
      setTimeout(() => {
        endedAt = Date.now();
        req.end("second-chunk");
      }, 300);
    });
    expect(status).toBe(200);
    expect(firstChunkAt).toBeGreaterThan(0);
    expect(endedAt - firstChunkAt).toBeGreaterThan(150);
    // Chunked request: the last decodeData carries end_stream (possibly empty, like Envoy's H1 codec).
    expect(host.streams[0].requestHeaders!.find(([k]) => k === "transfer-encoding")).toBeUndefined();
  });
});

describe("local replies and completion", () => {
  it("a filter's local reply never reaches an upstream", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { method: "POST", headers: { "x-test-local-reply": "429", "x-test-cluster": "aoai-east" }, body: "{}" });
    expect([r.status, r.body, r.headers.server]).toEqual([429, "local reply", "envoy"]);
    await sleep(50);
    expect(east.requests).toHaveLength(0);
    expect(host.streams[0].completions).toBe(1);
  });

  it("a client that goes away mid-response completes the stream once and cancels the upstream", async () => {
    let upstreamClosed = false;
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200);
      res.write("partial");
      res.on("close", () => (upstreamClosed = true));
    });
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    await new Promise<void>((resolve) => {
      const req = http.get(`${gw.url}/`, { headers: { "x-test-cluster": "aoai-east" }, agent: false }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
    });
    await until(() => host.streams[0].resets.length === 1 && upstreamClosed, 2000);
    await sleep(50);
    // Reset once, as a downstream abort; never completed as well.
    expect(host.streams[0].resets).toEqual([{ reason: "downstream_remote_disconnect", origin: "downstream" }]);
    expect(host.streams[0].completions).toBe(0);
  });

  it("a response that finished normally completes the stream and never resets it", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    await sleep(50);
    expect(host.streams[0].completions).toBe(1);
    expect(host.streams[0].resets).toEqual([]);
  });
});

describe("workers", () => {
  it("pins each downstream connection to one worker; connections are spread over workers", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const b = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => (a.destroy(), b.destroy()));
    const workersA: string[] = [];
    const workersB: string[] = [];
    for (let i = 0; i < 3; i++) {
      workersA.push(String((await request(gw.url, { agent: a, headers: { "x-test-cluster": "aoai-east" } })).headers["x-fake-worker"]));
      workersB.push(String((await request(gw.url, { agent: b, headers: { "x-test-cluster": "aoai-east" } })).headers["x-fake-worker"]));
    }
    expect(new Set(workersA).size).toBe(1);
    expect(new Set(workersB).size).toBe(1);
    expect(workersA[0]).not.toBe(workersB[0]);
    const conns = new Set(host.streams.map((s) => s.connectionId));
    expect(conns.size).toBe(2);
    for (const s of host.streams) expect(s.properties.get("connection.id")).toBeInstanceOf(Uint8Array);
    // Both connections are alive: the host was not told otherwise.
    expect(host.closedConnections).toEqual([]);
    a.destroy();
    b.destroy();
    await until(() => host.closedConnections.length === 2, 2000);
    expect(new Set(host.closedConnections)).toEqual(conns);
  });

  it("tells the host when each downstream connection closes (with the id its streams used)", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    for (let i = 0; i < 5; i++) await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    await until(() => host.closedConnections.length === 5, 2000);
    expect([...host.closedConnections].sort()).toEqual(host.streams.map((s) => s.connectionId).sort());
  });
});
