// The cluster's upstream HTTP filters (HttpProtocolOptions.http_filters) run per attempt, as
// Envoy's router runs them (envoyproxy/envoy):
//   source/common/router/upstream_request.cc   UpstreamRequest (host set before createFilterChain;
//                                              a fresh chain per attempt), acceptHeadersFromRouter
//                                              (decodeHeaders(*parent_.downstreamHeaders()): the
//                                              router's one header map), decodeHeaders (the router
//                                              sees response headers after the upstream filters),
//                                              UpstreamFilterManager::sendLocalReply (to the
//                                              downstream filter manager, never retried)
//   source/common/router/router.cc             continueDoRetry (setEnvoyAttemptCount on that map,
//                                              Buffer::OwnedImpl copy of the body per attempt)
//   source/common/upstream/upstream_impl.cc    "The codec filter is the only valid terminal upstream HTTP filter"
//   source/common/config/utility.h             validateTerminalFilters ("must be the last filter")
//   source/extensions/filters/http/wasm/config.cc  UpstreamWasmFilterConfig (wasm as an upstream filter)
//   source/extensions/filters/common/expr/context.cc  xds.upstream_host_metadata, xds.cluster_name,
//                                              upstream.request_attempt_count, upstream.address
// Through the gateway, with test/fixtures/gateway/upstream-filter.ts as the upstream filter and
// mock providers that record what they saw.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { BootstrapError, loadBootstrap, TYPE, HTTP_PROTOCOL_OPTIONS_KEY } from "../../../harness/gateway/bootstrap.ts";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { buildFixture, buildGatewayFixture, fixturePlugin, listenerBootstrap } from "./fixture.ts";
import { refusedPort, request, ROOT, type ClientResponse } from "../../support/stack.ts";

const KEY_A = "sk-upstream-a";
const KEY_B = "sk-upstream-b";
const CLIENT_KEY = "sk-client-not-a-provider-key";
let listenerWasm = "";
let upstreamWasm = "";
beforeAll(async () => {
  [listenerWasm, upstreamWasm] = await Promise.all([buildFixture(), buildGatewayFixture("upstream-filter")]);
}, 180_000);

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});
afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

async function mock(name: string, key: string): Promise<MockProvider> {
  const p = await startMockProvider({ kind: "openai", name, keys: [key], clock: () => performance.now() });
  closers.push(() => p.close());
  return p;
}

interface Ep {
  port: number;
  meta: Record<string, string>;
}

interface Setup {
  endpoints: Ep[];
  retryPolicy?: Record<string, unknown>;
  /** The cluster's http_filters; default: the upstream fixture, then the codec. */
  httpFilters?: unknown[];
  /** The listener's wasm filter config; default: the route-by-header fixture. */
  listenerConfig?: Record<string, unknown>;
}

function wasmFilter(config: Record<string, unknown>): unknown {
  return { name: "envoy.filters.http.wasm", typed_config: { "@type": TYPE.wasm, config } };
}

const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": TYPE.upstreamCodec } };

function upstreamConfig(vmId = "upstream"): Record<string, unknown> {
  return { name: "upstream-fixture", root_id: "upstream", vm_config: { vm_id: vmId, runtime: "envoy.wasm.runtime.v8", code: { local: { filename: upstreamWasm } } } };
}

function bootstrapDoc(s: Setup): unknown {
  return listenerBootstrap({
    include_request_attempt_count: true,
    routes: [{ match: { prefix: "/" }, route: { cluster: "llm", timeout: "10s", ...(s.retryPolicy ? { retry_policy: s.retryPolicy } : {}) } }],
  }, s.listenerConfig ?? fixturePlugin(listenerWasm), [{
    name: "llm",
    type: "STATIC",
    connect_timeout: "1s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: {
      cluster_name: "llm",
      endpoints: [{
        lb_endpoints: s.endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: e.port } } },
          metadata: { filter_metadata: { test: e.meta } },
        })),
      }],
    },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS_KEY]: {
        "@type": TYPE.httpProtocolOptions,
        explicit_http_config: { http_protocol_options: {} },
        http_filters: s.httpFilters ?? [wasmFilter(upstreamConfig()), CODEC],
      },
    },
  }]);
}

async function gateway(s: Setup): Promise<Gateway> {
  const gw = await startGateway({ bootstrapText: stringify(bootstrapDoc(s)), baseDir: ROOT, workers: 1, logLevel: 4, random: () => 0 });
  closers.push(() => gw.close());
  return gw;
}

const CHAT = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Say hello" }], max_tokens: 20 });

function chat(gw: Gateway, headers: Record<string, string> = {}): Promise<ClientResponse> {
  return request(gw.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(CHAT)), authorization: `Bearer ${CLIENT_KEY}`, ...headers },
    body: CHAT,
    timeoutMs: 15_000,
  });
}

/** The fields of one x-upstream-seen value (several values are joined with ", "). */
function seen(value: string | undefined): Array<Record<string, string>> {
  return (value ?? "").split(", ").filter(Boolean).map((v) => Object.fromEntries(v.split(";").map((kv) => kv.split("=") as [string, string])));
}

function header(r: ClientResponse, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

describe("upstream filters per attempt (upstream_request.cc, router.cc continueDoRetry)", () => {
  it("each attempt gets a fresh filter context that sees its own host's metadata; its credential, :authority and body edits reach only that host", async () => {
    const a = await mock("a", KEY_A);
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [
        { port: a.port, meta: { provider: "a", key: KEY_A, authority: "a.example" } },
        { port: b.port, meta: { provider: "b", key: KEY_B, authority: "b.example" } },
      ],
      retryPolicy: { retry_on: "5xx", num_retries: 1 },
    });
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-status": "503", "x-remove-me": "1" });
    expect(r.status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    const [ra, rb] = [a.records[0]!, b.records[0]!];
    // Attempt 1 on a, attempt 2 on b: each filter context read its attempt's host metadata, the
    // cluster, the attempt count and the chosen host's address (expr/context.cc reads the host's,
    // set before the filter chain exists); the legacy top-level upstream_host_metadata is gone
    // (Envoy >= 1.33, envoyproxy/envoy#36619 "wasm: remove redundant xds attributes").
    const sa = seen(ra.headers["x-upstream-seen"]);
    expect(sa).toHaveLength(1);
    expect(sa[0]).toMatchObject({ provider: "a", cluster: "llm", attempt: "1", address: `127.0.0.1:${a.port}`, legacy: "none" });
    // The router's header map is shared by the attempts: b's request still carries what the
    // filter wrote on attempt 1 (it must overwrite or remove what it does not want).
    const sb = seen(rb.headers["x-upstream-seen"]);
    expect(sb.map((x) => [x.provider, x.attempt, x.address])).toEqual([["a", "1", `127.0.0.1:${a.port}`], ["b", "2", `127.0.0.1:${b.port}`]]);
    expect(sb[1]!.context_id).not.toBe(sa[0]!.context_id);
    expect(rb.headers["x-set-by-attempt-1"]).toBe("a");
    expect(rb.headers["x-set-by-attempt-2"]).toBe("b");
    expect(ra.headers["x-set-by-attempt-2"]).toBeUndefined();
    expect([ra.headers["x-envoy-attempt-count"], rb.headers["x-envoy-attempt-count"]]).toEqual(["1", "2"]);
    // Credential and :authority: each host saw its own, never the client's or the other's.
    expect(ra.credentials.map((c) => c.value)).toEqual([KEY_A]);
    expect(rb.credentials.map((c) => c.value)).toEqual([KEY_B]);
    expect([ra.headers.host, rb.headers.host]).toEqual(["a.example", "b.example"]);
    expect([ra.headers["x-remove-me"], rb.headers["x-remove-me"]]).toEqual([undefined, undefined]);
    // The body: a fresh copy of the client's per attempt, edited by that attempt's filter only.
    expect(JSON.parse(ra.body).via).toBe("a");
    expect(JSON.parse(rb.body)).toEqual({ ...JSON.parse(CHAT), via: "b" });
    // The answer passed b's filter and then the listener's.
    expect(header(r, "x-upstream-filter")).toBe("b");
    expect(header(r, "x-upstream-address")).toBe(`127.0.0.1:${b.port}`);
    expect(header(r, "x-fixture")).toBe("1");
  });

  it("a connect failure is retried: the next attempt's filter runs with the next host's metadata", async () => {
    const dead = await refusedPort();
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [{ port: dead, meta: { provider: "dead", key: "sk-dead" } }, { port: b.port, meta: { provider: "b", key: KEY_B } }],
      retryPolicy: { retry_on: "connect-failure", num_retries: 1 },
    });
    const r = await chat(gw);
    expect(r.status).toBe(200);
    expect(b.records).toHaveLength(1);
    // The failed attempt's filter ran (its tag is in the shared header map); b's credential replaced its.
    expect(seen(b.records[0]!.headers["x-upstream-seen"]).map((x) => [x.provider, x.attempt])).toEqual([["dead", "1"], ["b", "2"]]);
    expect(b.records[0]!.credentials.map((c) => c.value)).toEqual([KEY_B]);
  });

  it("several upstream wasm filters run in order, each with its own context", async () => {
    const a = await mock("a", KEY_A);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A } }],
      httpFilters: [wasmFilter(upstreamConfig("first")), wasmFilter(upstreamConfig("second")), CODEC],
    });
    const r = await chat(gw);
    expect(r.status).toBe(200);
    expect(seen(a.records[0]!.headers["x-upstream-seen"]).map((x) => [x.provider, x.contexts])).toEqual([["a", "1"], ["a", "1"]]);
    // Each filter added its member to the body in turn (the second saw the first's edit).
    expect(a.records[0]!.body.endsWith(`"via":"a","via":"a"}`)).toBe(true);
    expect(header(r, "x-upstream-filter")).toBe("a, a");
  });

  it("without a retry the one attempt's filter still runs: credential from the chosen host, answer tagged", async () => {
    const a = await mock("a", KEY_A);
    const gw = await gateway({ endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A } }] });
    const r = await chat(gw);
    expect(r.status).toBe(200);
    expect(a.records[0]!.credentials.map((c) => c.value)).toEqual([KEY_A]);
    expect(seen(a.records[0]!.headers["x-upstream-seen"])[0]).toMatchObject({ provider: "a", attempt: "1" });
    expect(header(r, "x-upstream-filter")).toBe("a");
  });
});

describe("the router's retry decision comes after the upstream filters' response headers (upstream_request.cc decodeHeaders → router.cc onUpstreamHeaders)", () => {
  it("a 200 the filter turns into 503 is retried on the next host", async () => {
    const a = await mock("a", KEY_A);
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A, make_503: "yes" } }, { port: b.port, meta: { provider: "b", key: KEY_B } }],
      retryPolicy: { retry_on: "5xx", num_retries: 1 },
    });
    const r = await chat(gw);
    expect(r.status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    expect(a.records[0]!.status).toBe(200);
    expect(header(r, "x-upstream-filter")).toBe("b");
  });

  it("a 503 the filter turns into 200 is not retried and reaches the client", async () => {
    const a = await mock("a", KEY_A);
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A, rescue: "yes" } }, { port: b.port, meta: { provider: "b", key: KEY_B } }],
      retryPolicy: { retry_on: "5xx", num_retries: 1 },
    });
    const r = await chat(gw, { "x-mock-status": "503" });
    expect(r.status).toBe(200);
    expect(header(r, "x-rescued")).toBe("1");
    expect([a.records.length, b.records.length]).toEqual([1, 0]);
  });

  it("a header the filter adds matches retriable_headers", async () => {
    const a = await mock("a", KEY_A);
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A, retry_header: "yes" } }, { port: b.port, meta: { provider: "b", key: KEY_B } }],
      retryPolicy: { retry_on: "retriable-headers", retriable_headers: [{ name: "x-retry-me", present_match: true }], num_retries: 1 },
    });
    const r = await chat(gw);
    expect(r.status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    expect(header(r, "x-upstream-filter")).toBe("b");
  });
});

describe("a local reply from an upstream filter (UpstreamFilterManager::sendLocalReply)", () => {
  it("answers the request through the downstream filters, unseen by the upstream filter, and is not retried", async () => {
    const a = await mock("a", KEY_A);
    const b = await mock("b", KEY_B);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", local_reply: "503" } }, { port: b.port, meta: { provider: "b", key: KEY_B } }],
      retryPolicy: { retry_on: "5xx", num_retries: 1 },
    });
    const r = await chat(gw);
    expect(r.status).toBe(503);
    expect(r.body).toBe("local reply from upstream filter a");
    expect([a.records.length, b.records.length]).toEqual([0, 0]);
    // The listener's filter saw it; the upstream filter's own response callback did not.
    expect(header(r, "x-fixture")).toBe("1");
    expect(header(r, "x-upstream-filter")).toBeUndefined();
  });
  it("in a chain of upstream filters, neither the replying filter nor the ones before it see the reply", async () => {
    const a = await mock("a", KEY_A);
    const gw = await gateway({
      endpoints: [{ port: a.port, meta: { provider: "a", local_reply: "429" } }],
      httpFilters: [wasmFilter(upstreamConfig("first")), wasmFilter(upstreamConfig("second")), CODEC],
    });
    const r = await chat(gw);
    expect(r.status).toBe(429);
    expect(a.records).toHaveLength(0);
    expect(header(r, "x-upstream-filter")).toBeUndefined();
    expect(header(r, "x-fixture")).toBe("1");
  });
});

describe("upstream filters and the listener's filter: one VM per vm_id (wasm.cc VM key; shared data by vm_id)", () => {
  it("the same plugin as the listener's shares its VM and shared data; another vm_id does not", async () => {
    const a = await mock("a", KEY_A);
    // The listener runs the upstream fixture too, with the same vm_id and plugin: its context and
    // the attempt's count in the same shared data.
    const gw = await gateway({ endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A } }], listenerConfig: upstreamConfig("one") ,
      httpFilters: [wasmFilter(upstreamConfig("one")), CODEC] });
    expect((await chat(gw)).status).toBe(200);
    const both = seen(a.records[0]!.headers["x-upstream-seen"]);
    expect(both.map((x) => [x.provider, x.contexts])).toEqual([["", "1"], ["a", "2"]]);
    await gw.close();

    const gw2 = await gateway({ endpoints: [{ port: a.port, meta: { provider: "a", key: KEY_A } }], listenerConfig: upstreamConfig("one"),
      httpFilters: [wasmFilter(upstreamConfig("two")), CODEC] });
    expect((await chat(gw2)).status).toBe(200);
    const apart = seen(a.records[1]!.headers["x-upstream-seen"]);
    expect(apart.map((x) => [x.provider, x.contexts])).toEqual([["", "1"], ["a", "1"]]);
  });
});

describe("bootstrap: HttpProtocolOptions.http_filters (upstream_impl.cc, config/utility.h validateTerminalFilters)", () => {
  function problemsOf(s: Setup): string[] {
    try {
      loadBootstrap(stringify(bootstrapDoc(s)), { baseDir: ROOT });
      return [];
    } catch (e) {
      if (e instanceof BootstrapError) return e.problems;
      throw e;
    }
  }
  const at = `static_resources.clusters[0].typed_extension_protocol_options.${HTTP_PROTOCOL_OPTIONS_KEY}`;

  it("accepts wasm filters then the codec, and an empty list (the codec alone)", () => {
    expect(problemsOf({ endpoints: [{ port: 1, meta: {} }] })).toEqual([]);
    const c = loadBootstrap(stringify(bootstrapDoc({ endpoints: [{ port: 1, meta: {} }] })), { baseDir: ROOT }).clusters.get("llm")!;
    expect(c.http2).toBe(false);
    expect(c.upstreamFilters!.map((f) => [f.vmId, f.rootId])).toEqual([["upstream", "upstream"]]);
    expect(problemsOf({ endpoints: [{ port: 1, meta: {} }], httpFilters: [] })).toEqual([]);
  });

  it("refuses a chain without the codec last, the codec elsewhere, and the router as an upstream filter", () => {
    expect(problemsOf({ endpoints: [{ port: 1, meta: {} }], httpFilters: [wasmFilter(upstreamConfig())] })).toEqual([
      `${at}.http_filters[0].typed_config.@type: The codec filter is the only valid terminal upstream HTTP filter, use 'envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec'`,
    ]);
    expect(problemsOf({ endpoints: [{ port: 1, meta: {} }], httpFilters: [CODEC, wasmFilter(upstreamConfig())] })).toEqual([
      `${at}.http_filters[1].typed_config.@type: The codec filter is the only valid terminal upstream HTTP filter, use 'envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec'`,
      `${at}.http_filters[0]: Error: terminal filter named envoy.filters.http.upstream_codec of type envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec must be the last filter in a upstream http filter chain.`,
    ]);
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": TYPE.router } };
    expect(problemsOf({ endpoints: [{ port: 1, meta: {} }], httpFilters: [router, CODEC] }).join("\n")).toMatch(/http_filters\[0\]\.typed_config\.@type: unsupported type/);
  });

  it("refuses explicit_http_config without exactly one protocol, and upstream filters on an HTTP/2 cluster", () => {
    const doc = bootstrapDoc({ endpoints: [{ port: 1, meta: {} }] }) as any;
    const hpo = doc.static_resources.clusters[0].typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS_KEY];
    hpo.explicit_http_config = { http_protocol_options: {}, http2_protocol_options: {} };
    const problems = (() => {
      try {
        loadBootstrap(stringify(doc), { baseDir: ROOT });
        return [];
      } catch (e) {
        return (e as BootstrapError).problems;
      }
    })();
    expect(problems.join("\n")).toMatch(/explicit_http_config: exactly one of http_protocol_options or http2_protocol_options/);
    expect(problems.join("\n")).toMatch(/http_filters: the gateway runs upstream HTTP filters on routed HTTP\/1\.1 requests only/);
  });
});
