// The harness gateway's router retries, as Envoy's router does them. Each test names the Envoy
// source it follows (envoyproxy/envoy):
//   source/common/router/router.cc            decodeData (retry buffer), onUpstreamHeaders,
//                                             onUpstreamReset/maybeRetryReset, onPerTryTimeoutCommon, doRetry
//   source/common/router/upstream_request.cc  onPerTryTimeout (ignored once the response started)
//   source/common/router/retry_state_impl.cc  shouldRetry, wouldRetryFromHeaders, wouldRetryFromReset
//   source/common/router/retry_policy_impl.cc RetryPolicyImpl (defaults, back-off validation)
//   source/common/common/backoff_strategy.cc  JitteredExponentialBackOffStrategy
//   source/extensions/retry/host/previous_hosts/previous_hosts.h
//   source/extensions/retry/priority/previous_priorities/previous_priorities.cc
//   source/common/upstream/load_balancer_impl.cc chooseHost (hostSelectionRetryCount() + 1 picks)
// Through the gateway, with the gateway's pass-through test filter and mock providers (faults by
// x-mock-* headers or setFault).
import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { BootstrapError, loadBootstrap, TYPE } from "../../../harness/gateway/bootstrap.ts";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { buildFixture, fixturePlugin, listenerBootstrap } from "./fixture.ts";
import { refusedPort, request, ROOT, type ClientResponse } from "../../support/stack.ts";

const KEY = "sk-retry-test-key";
let wasm = "";
beforeAll(async () => {
  wasm = await buildFixture();
}, 120_000);

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});
afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

async function mock(name: string): Promise<MockProvider> {
  const p = await startMockProvider({ kind: "openai", name, keys: [KEY], clock: () => performance.now() });
  closers.push(() => p.close());
  return p;
}

interface Ep {
  port: number;
  priority?: number;
}

interface Setup {
  endpoints: Ep[];
  retryPolicy?: Record<string, unknown>;
  vhostRetryPolicy?: Record<string, unknown>;
  attemptCount?: boolean;
  routeBufferLimit?: number;
  lbPolicy?: "ROUND_ROBIN" | "RANDOM";
  maxRetries?: number;
  timeout?: string;
}

function bootstrapDoc(s: Setup): unknown {
  const levels = [...new Set(s.endpoints.map((e) => e.priority ?? 0))];
  const localities = levels.map((p) => ({
    ...(p ? { priority: p } : {}),
    lb_endpoints: s.endpoints.filter((e) => (e.priority ?? 0) === p)
      .map((e) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: e.port } } } })),
  }));
  return listenerBootstrap({
    ...(s.vhostRetryPolicy ? { retry_policy: s.vhostRetryPolicy } : {}),
    ...(s.attemptCount ? { include_request_attempt_count: true } : {}),
    routes: [{
      match: { prefix: "/" },
      ...(s.routeBufferLimit !== undefined ? { per_request_buffer_limit_bytes: s.routeBufferLimit } : {}),
      route: { cluster: "llm", timeout: s.timeout ?? "10s", ...(s.retryPolicy ? { retry_policy: s.retryPolicy } : {}) },
    }],
  }, fixturePlugin(wasm), [{
    name: "llm",
    type: "STATIC",
    connect_timeout: "1s",
    lb_policy: s.lbPolicy ?? "ROUND_ROBIN",
    ...(s.maxRetries !== undefined ? { circuit_breakers: { thresholds: [{ max_retries: s.maxRetries }] } } : {}),
    load_assignment: { cluster_name: "llm", endpoints: localities },
  }]);
}

async function gateway(s: Setup, random?: () => number): Promise<Gateway> {
  const gw = await startGateway({ bootstrapText: stringify(bootstrapDoc(s)), baseDir: ROOT, workers: 1, logLevel: 4, random });
  closers.push(() => gw.close());
  return gw;
}

const CHAT = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Say hello" }], max_tokens: 20 });

function chat(gw: Gateway, headers: Record<string, string> = {}, body = CHAT): Promise<ClientResponse> {
  return request(gw.url, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), authorization: `Bearer ${KEY}`, ...headers },
    body,
    timeoutMs: 15_000,
  });
}

async function stats(gw: Gateway): Promise<string> {
  return (await request(gw.adminUrl!, { path: "/stats" })).body;
}

function stat(text: string, name: string): number {
  const m = new RegExp(`^cluster\\.llm\\.${name}: (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

describe("router retries on the upstream's answer (router.cc onUpstreamHeaders, retry_state_impl.cc wouldRetryFromHeaders)", () => {
  it("503 then success on another host: the body is replayed, x-envoy-attempt-count counts, the 503 never reaches the client", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "5xx" }, attemptCount: true });
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-status": "503" });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).choices[0].message.content).toBeTruthy();
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    expect(a.records[0]!.outcome).toMatch(/503|status/);
    // The same body reached both attempts (a fresh copy per attempt).
    expect(b.records[0]!.body).toBe(a.records[0]!.body);
    expect(a.records[0]!.headers["x-envoy-attempt-count"]).toBe("1");
    expect(b.records[0]!.headers["x-envoy-attempt-count"]).toBe("2");
    // Each mock saw only the client's own key.
    expect([a.records[0]!.headers.authorization, b.records[0]!.headers.authorization]).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
    const s = await stats(gw);
    expect([stat(s, "upstream_rq_retry"), stat(s, "upstream_rq_retry_success"), stat(s, "upstream_rq_retry_overflow")]).toEqual([1, 1, 0]);
    const prom = (await request(gw.adminUrl!, { path: "/stats/prometheus" })).body;
    expect(prom).toContain('# TYPE envoy_cluster_upstream_rq_retry counter\nenvoy_cluster_upstream_rq_retry{envoy_cluster_name="llm"} 1\n');
  });

  it("without include_request_attempt_count no x-envoy-attempt-count; with retries exhausted the last 503 goes to the client", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "gateway-error", num_retries: 1 } });
    const r = await chat(gw, { "x-mock-status": "503" });
    expect(r.status).toBe(503);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    expect(a.records[0]!.headers["x-envoy-attempt-count"]).toBeUndefined();
    const s = await stats(gw);
    expect([stat(s, "upstream_rq_retry"), stat(s, "upstream_rq_retry_limit_exceeded")]).toEqual([1, 1]);
  });

  it("429 is retried with retriable-status-codes [429], and passes through under 5xx alone", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({
      endpoints: [{ port: a.port }, { port: b.port }],
      retryPolicy: { retry_on: "retriable-status-codes", retriable_status_codes: [429] },
    });
    expect((await chat(gw, { "x-mock-target": "a", "x-mock-fault": "rate-limit" })).status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);

    const c = await mock("c");
    const d = await mock("d");
    const gw2 = await gateway({ endpoints: [{ port: c.port }, { port: d.port }], retryPolicy: { retry_on: "5xx" } });
    expect((await chat(gw2, { "x-mock-target": "c", "x-mock-fault": "rate-limit" })).status).toBe(429);
    expect([c.records.length, d.records.length]).toEqual([1, 0]);
  });

  it("retriable-headers: an answer carrying a matching header is retried, one without it is not", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({
      endpoints: [{ port: a.port }, { port: b.port }],
      retryPolicy: { retry_on: "retriable-headers", retriable_headers: [{ name: "Retry-After", present_match: true }] },
    });
    // The mock's rate-limit answer carries retry-after; the 200 does not.
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "2000" });
    expect(r.status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);

    const c = await mock("c");
    const d = await mock("d");
    const gw2 = await gateway({
      endpoints: [{ port: c.port }, { port: d.port }],
      retryPolicy: { retry_on: "retriable-headers", retriable_headers: [{ name: "x-never-sent" }] },
    });
    expect((await chat(gw2, { "x-mock-target": "c", "x-mock-status": "503" })).status).toBe(503);
    expect([c.records.length, d.records.length]).toEqual([1, 0]);
  });
});

describe("router retries on resets and connect failures (router.cc onUpstreamReset → maybeRetryReset, retry_state_impl.cc wouldRetryFromReset)", () => {
  it("a reset before headers is retried under reset; under connect-failure alone it is Envoy's 503", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "reset" } });
    expect((await chat(gw, { "x-mock-target": "a", "x-mock-fault": "reset" })).status).toBe(200);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);

    const c = await mock("c");
    const d = await mock("d");
    const gw2 = await gateway({ endpoints: [{ port: c.port }, { port: d.port }], retryPolicy: { retry_on: "connect-failure" } });
    const r = await chat(gw2, { "x-mock-target": "c", "x-mock-fault": "reset" });
    expect(r.status).toBe(503);
    expect(r.body).toContain("upstream connect error or disconnect/reset before headers. reset reason:");
    expect([c.records.length, d.records.length]).toEqual([1, 0]);
  });

  it("a refused connection is retried under connect-failure", async () => {
    const dead = await refusedPort();
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: dead }, { port: b.port }], retryPolicy: { retry_on: "connect-failure" } });
    expect((await chat(gw)).status).toBe(200);
    expect(b.records).toHaveLength(1);
  });

  it("reset-before-request: a refused connection (nothing sent) is retried, a reset after the request went out is not", async () => {
    const dead = await refusedPort();
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: dead }, { port: b.port }], retryPolicy: { retry_on: "reset-before-request" } });
    expect((await chat(gw)).status).toBe(200);
    expect(b.records).toHaveLength(1);

    const c = await mock("c");
    const d = await mock("d");
    const gw2 = await gateway({ endpoints: [{ port: c.port }, { port: d.port }], retryPolicy: { retry_on: "reset-before-request" } });
    expect((await chat(gw2, { "x-mock-target": "c", "x-mock-fault": "reset" })).status).toBe(503);
    expect([c.records.length, d.records.length]).toEqual([1, 0]);
  });

  it("when every attempt fails to connect, the body says the latest attempt was a retry", async () => {
    const dead1 = await refusedPort();
    const dead2 = await refusedPort();
    const gw = await gateway({ endpoints: [{ port: dead1 }, { port: dead2 }], retryPolicy: { retry_on: "connect-failure" } });
    const r = await chat(gw);
    expect(r.status).toBe(503);
    expect(r.body).toContain("upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure");
  });
});

describe("per-try timeout (upstream_request.cc onPerTryTimeout, router.cc onPerTryTimeoutCommon)", () => {
  it("retried under 5xx: the hanging host is abandoned after per_try_timeout and another answers", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "5xx", per_try_timeout: "0.3s" } });
    const t0 = performance.now();
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-fault": "hang" });
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    expect([a.records.length, b.records.length]).toEqual([1, 1]);
    // x-envoy-expected-rq-timeout-ms carries the per-try timeout.
    expect(a.records[0]!.headers["x-envoy-expected-rq-timeout-ms"]).toBe("300");
    expect(stat(await stats(gw), "upstream_rq_per_try_timeout")).toBe(1);
  });

  it("not retried under connect-failure or retriable-status-codes [504]: Envoy's 504 upstream request timeout", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({
      endpoints: [{ port: a.port }, { port: b.port }],
      retryPolicy: { retry_on: "connect-failure,retriable-status-codes", retriable_status_codes: [504], per_try_timeout: "0.3s" },
    });
    const t0 = performance.now();
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-fault": "hang" });
    expect([r.status, r.body]).toEqual([504, "upstream request timeout"]);
    // The per-try timeout's 504, not the route's (10 s).
    expect(performance.now() - t0).toBeLessThan(5000);
    expect([a.records.length, b.records.length]).toEqual([1, 0]);
  });
});

describe("no retry once the response started (router.cc downstream_response_started_)", () => {
  it("a stream that breaks after its first chunks is not retried: the client's stream breaks", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "5xx,reset,gateway-error" } });
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 20, stream: true });
    const outcome = await chat(gw, { "x-mock-target": "a", "x-mock-fault": "cut-stream:2" }, body).then(
      (r) => ({ status: r.status, body: r.body }),
      (e: Error) => ({ status: 0, body: e.message }),
    );
    // Either the client saw the broken stream end early or its socket reset; never a retried answer.
    if (outcome.status === 200) expect(outcome.body).not.toContain("[DONE]");
    else expect(outcome.status).toBe(0);
    expect([a.records.length, b.records.length]).toEqual([1, 0]);
  });
});

describe("the retry buffer (router.cc decodeData: retry_shadow_buffer_limit_)", () => {
  it("a body over the route's per_request_buffer_limit_bytes gives up retrying: the 503 goes to the client", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "5xx" }, routeBufferLimit: 1024 });
    const big = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(4096) }], max_tokens: 20 });
    const r = await chat(gw, { "x-mock-target": "a", "x-mock-status": "503" }, big);
    expect(r.status).toBe(503);
    expect([a.records.length, b.records.length]).toEqual([1, 0]);
    // The whole body still went upstream on the first attempt.
    expect(a.records[0]!.body).toBe(big);
    const s = await stats(gw);
    expect([stat(s, "retry_or_shadow_abandoned"), stat(s, "upstream_rq_retry")]).toEqual([1, 0]);

    // Under the limit the same request is retried.
    const small = await chat(gw, { "x-mock-target": "a", "x-mock-status": "503" });
    expect(small.status).toBe(200);
  });
});

describe("the retry buffer while a retry waits (router.cc decodeData: 507 with no attempt in flight)", () => {
  it("the body outgrows the limit during the back-off: Envoy's 507, and the retry never starts", async () => {
    const dead = await refusedPort();
    const b = await mock("b");
    const gw = await gateway(
      {
        endpoints: [{ port: dead }, { port: b.port }],
        routeBufferLimit: 100,
        retryPolicy: { retry_on: "connect-failure", retry_back_off: { base_interval: "1s" } },
      },
      () => 999, // the retry waits 999 ms
    );
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(gw.url + "/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", "transfer-encoding": "chunked", authorization: `Bearer ${KEY}` },
      }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      req.write('{"model":"gpt-4o","messages":[');
      // After the first attempt failed to connect, more than the limit arrives.
      setTimeout(() => req.end(`{"role":"user","content":"${"x".repeat(200)}"}]}`), 300);
    });
    expect(r).toEqual({ status: 507, body: "exceeded request buffer limit while retrying upstream" });
    await new Promise((res) => setTimeout(res, 900));
    expect(b.records).toHaveLength(0);
  });
});

describe("host choice on retries", () => {
  it("previous_hosts never re-picks a tried host (previous_hosts.h, load_balancer_impl.cc chooseHost)", async () => {
    const ps = [await mock("a"), await mock("b"), await mock("c")];
    const gw = await gateway({
      endpoints: ps.map((p) => ({ port: p.port })),
      lbPolicy: "RANDOM",
      retryPolicy: {
        retry_on: "5xx",
        num_retries: 2,
        retry_host_predicate: [{
          name: "envoy.retry_host_predicates.previous_hosts",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" },
        }],
        host_selection_retry_max_attempts: 50,
      },
    });
    for (let i = 0; i < 5; i++) {
      const r = await chat(gw, { "x-mock-status": "503", "x-request-n": String(i) });
      expect(r.status).toBe(503);
      // Three attempts, one on each host.
      expect(ps.map((p) => p.records.length)).toEqual([i + 1, i + 1, i + 1]);
    }
  });

  it("previous_priorities moves the retry from P0 to P1 (previous_priorities.cc); without it the retry stays in P0", async () => {
    const policy = (withPriority: boolean) => ({
      retry_on: "5xx",
      ...(withPriority
        ? {
          retry_priority: {
            name: "envoy.retry_priorities.previous_priorities",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
              update_frequency: 1,
            },
          },
        }
        : {}),
    });
    for (const withPriority of [true, false]) {
      // Two P0 hosts that both fail (named alike for x-mock-target), one P1 host.
      const p0a = await mock("p0");
      const p0b = await mock("p0");
      const p1 = await mock("p1");
      const gw = await gateway({
        endpoints: [{ port: p0a.port }, { port: p0b.port }, { port: p1.port, priority: 1 }],
        retryPolicy: policy(withPriority),
      });
      const r = await chat(gw, { "x-mock-target": "p0", "x-mock-status": "503" });
      expect(p0a.records.length + p0b.records.length).toBe(withPriority ? 1 : 2);
      expect(p1.records.length).toBe(withPriority ? 1 : 0);
      expect(r.status).toBe(withPriority ? 200 : 503);
    }
  });
});

describe("back-off (backoff_strategy.cc JitteredExponentialBackOffStrategy, retry_state_impl.cc enableBackoffTimer)", () => {
  // random() % interval: the random generator pinned so the jitter is known.
  async function gaps(backOff: Record<string, string>, random: number): Promise<number[]> {
    const ps = [await mock("a"), await mock("b"), await mock("c")];
    ps[0]!.setFault({ type: "status", status: 503 });
    ps[1]!.setFault({ type: "status", status: 503 });
    const gw = await gateway({ endpoints: ps.map((p) => ({ port: p.port })), retryPolicy: { retry_on: "5xx", num_retries: 2, retry_back_off: backOff } }, () => random);
    expect((await chat(gw)).status).toBe(200);
    const t = ps.map((p) => p.records[0]!.time);
    return [t[1]! - t[0]!, t[2]! - t[1]!];
  }

  it("the interval doubles from base_interval: 399 % 200 = 199 ms, then 399 % 400 = 399 ms", async () => {
    const [g1, g2] = await gaps({ base_interval: "0.2s" }, 399);
    expect(g1).toBeGreaterThanOrEqual(190);
    expect(g1).toBeLessThan(199 + 300);
    expect(g2).toBeGreaterThanOrEqual(390);
    expect(g2).toBeLessThan(399 + 300);
  });

  it("max_interval caps the interval: 349 % 200 = 149 ms, then 349 % 300 = 49 ms (not 349 % 400)", async () => {
    const [g1, g2] = await gaps({ base_interval: "0.2s", max_interval: "0.3s" }, 349);
    expect(g1).toBeGreaterThanOrEqual(140);
    expect(g1).toBeLessThan(149 + 300);
    expect(g2).toBeGreaterThanOrEqual(40);
    expect(g2).toBeLessThan(340);
  });
});

describe("the max_retries circuit breaker (retry_state_impl.cc shouldRetry: retries().canCreate())", () => {
  it("with one retry in its back-off and max_retries 1, another request's retry is skipped: its 503 goes straight to the client", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway(
      {
        endpoints: [{ port: a.port }, { port: b.port }],
        maxRetries: 1,
        retryPolicy: {
          retry_on: "5xx",
          retry_back_off: { base_interval: "1s" },
          retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }],
        },
      },
      () => 999, // back-off 999 % 1000 ms
    );
    const first = chat(gw, { "x-mock-target": "a", "x-mock-status": "503" });
    await new Promise((r) => setTimeout(r, 200)); // the first request waits in its back-off
    const t0 = performance.now();
    const second = await chat(gw, { "x-mock-status": "503" });
    expect(second.status).toBe(503);
    expect(performance.now() - t0).toBeLessThan(700);
    // Overflow is not the connection pool's: no x-envoy-overloaded (router.cc adds it for an Overflow reset only).
    expect(second.headers["x-envoy-overloaded"]).toBeUndefined();
    expect((await first).status).toBe(200);
    const s = await stats(gw);
    expect([stat(s, "upstream_rq_retry"), stat(s, "upstream_rq_retry_overflow"), stat(s, "upstream_rq_retry_success")]).toEqual([1, 1, 1]);
  });
});

describe("max_retries defaults to 3 (circuit_breakers Thresholds.max_retries)", () => {
  it("four requests whose retries all wait in their back-off: the fourth retry overflows", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway(
      { endpoints: [{ port: a.port }, { port: b.port }], retryPolicy: { retry_on: "5xx", retry_back_off: { base_interval: "1s" } } },
      () => 999,
    );
    const rs = await Promise.all([0, 1, 2, 3].map((i) => chat(gw, { "x-mock-status": "503", "x-request-n": String(i) })));
    expect(rs.map((r) => r.status)).toEqual([503, 503, 503, 503]);
    const s = await stats(gw);
    expect([stat(s, "upstream_rq_retry"), stat(s, "upstream_rq_retry_overflow")]).toEqual([3, 1]);
    expect(a.records.length + b.records.length).toBe(7);
  });
});

describe("the policy in the bootstrap (retry_policy_impl.cc, config_impl.cc)", () => {
  it("the virtual host's policy applies to a route without one; a route's own policy replaces it whole", async () => {
    const a = await mock("a");
    const b = await mock("b");
    const gw = await gateway({ endpoints: [{ port: a.port }, { port: b.port }], vhostRetryPolicy: { retry_on: "5xx" } });
    expect((await chat(gw, { "x-mock-target": "a", "x-mock-status": "503" })).status).toBe(200);

    const c = await mock("c");
    const d = await mock("d");
    const gw2 = await gateway({
      endpoints: [{ port: c.port }, { port: d.port }],
      vhostRetryPolicy: { retry_on: "5xx" },
      retryPolicy: { retry_on: "connect-failure" },
    });
    expect((await chat(gw2, { "x-mock-target": "c", "x-mock-status": "503" })).status).toBe(503);
    expect(d.records).toHaveLength(0);
  });

  it("refuses an unknown retry_on value, one the gateway does not model, and max_interval below base_interval, each by its path", () => {
    const doc = bootstrapDoc({
      endpoints: [{ port: 1 }],
      retryPolicy: { retry_on: "5xx,retriable_status_codes,unavailable", retry_back_off: { base_interval: "0.5s", max_interval: "0.1s" } },
    });
    let err: unknown;
    try {
      loadBootstrap(stringify(doc));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BootstrapError);
    const problems = (err as BootstrapError).problems;
    const at = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.retry_policy";
    expect(problems).toContain(`${at}.retry_on: unknown retry_on value "retriable_status_codes" (Envoy would ignore it silently and never retry on it; supported: 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers)`);
    expect(problems.some((p) => p.startsWith(`${at}.retry_on: "unavailable" is not modelled by the gateway`))).toBe(true);
    expect(problems).toContain(`${at}.retry_back_off.max_interval: retry_policy.max_interval must greater than or equal to the base_interval`);
    expect(problems).toHaveLength(3);
  });

  it("parses endpoint priority and filter_metadata, num_retries default 1, previous_priorities update_frequency > 0", () => {
    const doc = bootstrapDoc({ endpoints: [{ port: 1 }, { port: 2, priority: 1 }], retryPolicy: { retry_on: "5xx" } }) as any;
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata = { filter_metadata: { "ai-failover": { provider: "aoai-east" } } };
    const c = loadBootstrap(stringify(doc));
    const eps = c.clusters.get("llm")!.endpoints;
    expect(eps[0]!.metadata).toEqual({ "ai-failover": { provider: "aoai-east" } });
    expect(eps[1]!.priority).toBe(1);
    const route = c.virtualHosts[0]!.routes[0]!;
    expect(route.retryPolicy!.numRetries).toBe(1);
    expect(route.retryPolicy!.hostSelectionMaxAttempts).toBe(1);

    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_priority = {
      name: "envoy.retry_priorities.previous_priorities",
      typed_config: { "@type": TYPE.previousPriorities, update_frequency: 0 },
    };
    expect(() => loadBootstrap(stringify(doc))).toThrow(/update_frequency: must be greater than 0/);
  });
});
