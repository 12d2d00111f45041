/**
 * Behaviour a client, an upstream or the filter can observe, checked against Envoy's HTTP
 * connection manager + router + HTTP/1 codec (sources cited next to each case and in
 * harness/gateway): header sanitizing before the filter, router timeout headers, upstream framing,
 * hop-by-hop response headers seen by the filter, HEAD, Expect.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { FakeHost } from "./fake-host.ts";
import { localBootstrap, request, startUpstream, type LocalPorts } from "../../support/stack.ts";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(ports: LocalPorts, text?: string): Promise<{ gw: Gateway; host: FakeHost }> {
  const sink: { host?: FakeHost } = {};
  const gw = await startGateway({ bootstrapText: text ?? localBootstrap(ports), hostFactory: FakeHost.factory(sink), workers: 1 });
  cleanups.push(() => gw.close());
  return { gw, host: sink.host! };
}

async function upstream(...args: Parameters<typeof startUpstream>) {
  const u = await startUpstream(...args);
  cleanups.push(() => u.close());
  return u;
}

const names = (h: Array<[string, string]> | undefined) => (h ?? []).map(([k]) => k);

describe("request headers as the connection manager leaves them (conn_manager_utility.cc)", () => {
  it("removes x-envoy-* internal headers from an external client; the router sets one expected timeout", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, {
      headers: {
        "x-test-cluster": "aoai-east",
        "x-envoy-expected-rq-timeout-ms": "1",
        "x-envoy-upstream-rq-timeout-ms": "1",
        "x-envoy-retry-on": "5xx",
        "x-envoy-max-retries": "9",
        "x-envoy-internal": "true",
        "x-envoy-original-url": "http://evil/",
        "x-envoy-custom": "kept",
      },
    });
    expect(r.status).toBe(200);
    const seenByFilter = names(host.streams[0].requestHeaders);
    for (const h of ["x-envoy-expected-rq-timeout-ms", "x-envoy-upstream-rq-timeout-ms", "x-envoy-retry-on", "x-envoy-max-retries", "x-envoy-internal", "x-envoy-original-url"])
      expect(seenByFilter).not.toContain(h);
    expect(seenByFilter).toContain("x-envoy-custom"); // not one of Envoy's internal headers
    const up = east.requests[0].headers;
    expect(up["x-envoy-expected-rq-timeout-ms"]).toBe("300000"); // one value, the router's
    expect(up["x-envoy-retry-on"]).toBeUndefined();
    expect(up["x-envoy-internal"]).toBeUndefined();
  });

  it("te survives only as `trailers`; :scheme follows a valid x-forwarded-proto; expect: 100-continue is answered, not forwarded", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    await request(gw.url, { headers: { "x-test-cluster": "aoai-east", te: "deflate, trailers", "x-forwarded-proto": "https" } });
    await request(gw.url, { headers: { "x-test-cluster": "aoai-east", te: "gzip" } });
    expect(east.requests[0].headers.te).toBe("trailers");
    expect(east.requests[1].headers.te).toBeUndefined();
    expect(host.streams[0].requestHeaders).toContainEqual([":scheme", "https"]);
    expect(host.streams[1].requestHeaders).toContainEqual([":scheme", "http"]);

    // 100-continue: the client gets its 100 from the gateway; neither filter nor upstream sees expect.
    let continued = false;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.url}/`, { method: "POST", agent: false, headers: { "x-test-cluster": "aoai-east", expect: "100-continue", "content-length": "2" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("continue", () => ((continued = true), req.end("hi")));
      req.on("error", reject);
    });
    expect([status, continued]).toEqual([200, true]);
    expect(names(host.streams[2].requestHeaders)).not.toContain("expect");
    expect(east.requests[2].headers.expect).toBeUndefined();
    expect(east.requests[2].body).toBe("hi");
  });

  it("any other Expect is proxied like a plain header (Node alone would answer 417)", async () => {
    const east = await upstream("east");
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", expect: "something-else" } });
    // The filter saw it and the upstream (a Node server, which refuses unknown expectations) answered.
    expect(host.streams[0].requestHeaders).toContainEqual(["expect", "something-else"]);
    expect(r.status).toBe(417);
    expect(r.headers["x-envoy-upstream-service-time"]).toBeDefined();
  });
});

describe("router timeout headers (router.cc FilterUtility::finalTimeout)", () => {
  it("a filter's x-envoy-upstream-rq-timeout-ms sets the route timeout and is consumed", async () => {
    const east = await upstream("east", () => {}); // never answers
    const { gw } = await gateway({ east: east.port, west: 2 });
    const t0 = Date.now();
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", "x-test-set": "x-envoy-upstream-rq-timeout-ms=250" } });
    expect([r.status, r.body]).toEqual([504, "upstream request timeout"]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(east.requests[0].headers["x-envoy-expected-rq-timeout-ms"]).toBe("250");
    expect(east.requests[0].headers["x-envoy-upstream-rq-timeout-ms"]).toBeUndefined();
  });

  // router/upstream_request.cc onPerTryTimeout: the per-try timer runs from the end of the request
  // and is ignored once the upstream's response headers came (downstream_response_started_).
  it("x-envoy-upstream-rq-per-try-timeout-ms: 504 when no response headers came in time, consumed, sent as the expected timeout", async () => {
    const east = await upstream("east", () => {}); // never answers
    const { gw } = await gateway({ east: east.port, west: 2 });
    const t0 = Date.now();
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", "x-test-set": "x-envoy-upstream-rq-per-try-timeout-ms=200" } });
    expect([r.status, r.body]).toEqual([504, "upstream request timeout"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(Date.now() - t0).toBeLessThan(5000); // the route's own timeout is 300 s
    expect(east.requests[0].headers["x-envoy-expected-rq-timeout-ms"]).toBe("200");
    expect(east.requests[0].headers["x-envoy-upstream-rq-per-try-timeout-ms"]).toBeUndefined();
  });

  it("the per-try timeout does not cut an answer whose headers came in time, however slow its body", async () => {
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.flushHeaders();
      setTimeout(() => res.write("data: one\n\n"), 400);
      setTimeout(() => res.end("data: two\n\n"), 600);
    });
    const { gw } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", "x-test-set": "x-envoy-upstream-rq-per-try-timeout-ms=150" } });
    expect([r.status, r.body]).toEqual([200, "data: one\n\ndata: two\n\n"]);
  });

  it("a per-try timeout not shorter than the whole timeout is dropped (finalTimeout)", async () => {
    const east = await upstream("east");
    const { gw } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", "x-test-set": "x-envoy-upstream-rq-per-try-timeout-ms=300000" } });
    expect(r.status).toBe(200);
    expect(east.requests[0].headers["x-envoy-expected-rq-timeout-ms"]).toBe("300000");
  });
});

describe("upstream framing (http1/codec_impl.cc encodeHeadersBase)", () => {
  it("a chunked body on GET/DELETE is sent chunked, not unframed", async () => {
    const east = await upstream("east", (req, res, body) => res.end(`${req.method} ${req.headers["transfer-encoding"]} ${body}`));
    const { gw } = await gateway({ east: east.port, west: 2 });
    for (const method of ["GET", "DELETE"]) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request(`${gw.url}/`, { method, agent: false, headers: { "x-test-cluster": "aoai-east", "transfer-encoding": "chunked" } }, (res) => {
          let b = "";
          res.on("data", (c) => (b += c));
          res.on("end", () => resolve(b));
        });
        req.on("error", reject);
        req.write("hel");
        req.end("lo");
      });
      expect(body).toBe(`${method} chunked hello`);
    }
  });

  it("a header-only OPTIONS gets content-length: 0; a header-only GET none", async () => {
    const east = await upstream("east");
    const { gw } = await gateway({ east: east.port, west: 2 });
    await request(gw.url, { method: "OPTIONS", headers: { "x-test-cluster": "aoai-east" } });
    await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect(east.requests[0].headers["content-length"]).toBe("0");
    expect(east.requests[1].headers["content-length"]).toBeUndefined();
    expect(east.requests[1].headers["transfer-encoding"]).toBeUndefined();
  });
});

describe("response headers", () => {
  it("the filter sees the upstream's hop-by-hop headers (stripped only after the filter chain); the client does not", async () => {
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "keep-alive": "timeout=5" });
      res.write("a");
      res.end("b");
    });
    const { gw, host } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect(r.body).toBe("ab");
    const seen = host.streams[0].responseHeaders!;
    expect(seen).toContainEqual(["transfer-encoding", "chunked"]);
    expect(seen).toContainEqual(["keep-alive", "timeout=5"]);
    // The client's framing is the gateway's own (one transfer-encoding), not the upstream's copy.
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(r.headers["keep-alive"]).not.toBe("timeout=5");
  });
});

describe("HEAD", () => {
  it("a router reply to HEAD keeps content-length, ends at the headers (the filter sees no body)", async () => {
    const doc = parse(localBootstrap({ east: 1, west: 2 }));
    doc.static_resources.clusters[1].load_assignment.endpoints = [];
    const { gw, host } = await gateway({ east: 1, west: 2 }, stringify(doc));
    const r = await request(gw.url, { method: "HEAD", headers: { "x-test-cluster": "aoai-west" } });
    expect([r.status, r.body, r.headers["content-length"]]).toEqual([503, "", String("no healthy upstream".length)]);
    expect(host.streams[0].responseHeadersEnd).toBe(true);
    expect(host.streams[0].responseBodyBytes).toBe(0);
  });

  it("an upstream HEAD answer without content-length is not given content-length: 0", async () => {
    const east = await upstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
      res.end();
    });
    const { gw } = await gateway({ east: east.port, west: 2 });
    const r = await request(gw.url, { method: "HEAD", headers: { "x-test-cluster": "aoai-east" } });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBeUndefined();
  });
});
