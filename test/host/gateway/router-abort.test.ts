// The router's own reply once the response began (DownstreamFilterManager::sendLocalReply,
// source/common/http/filter_manager.cc): while a filter holds the response headers
// (StopIteration in on_response_headers), Envoy replies directly — its plain 503/504, bypassing
// the filters, which never see it; once the headers went downstream it resets the stream.
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../../../harness/gateway/index.ts";
import { bootstrapWith, request, ROOT, startUpstream, type Upstream } from "../../support/stack.ts";

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => { while (closers.length) await closers.pop()!(); });

async function gatewayWith(east: Upstream, west: Upstream, edit: (cfg: any) => any, timeout?: string) {
  let text = bootstrapWith({ east: east.port, west: west.port }, edit);
  if (timeout) text = text.replace("timeout: 300s", `timeout: ${timeout}`);
  const gw = await startGateway({ bootstrapText: text, baseDir: ROOT, workers: 1, logLevel: 3 });
  closers.push(() => gw.close());
  return gw;
}

const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 10 });
const single = (cfg: any) => ({ ...cfg, healthCheck: { enabled: false }, retry: { maxAttempts: 1 } });

describe("router aborts while the filter holds the response headers", () => {
  it("an upstream reset in the middle of a 429 body the filter is reading: Envoy's plain 503, not a reset", async () => {
    // The filter holds a 429's headers to read its body (quota error or rate limit?).
    const east = await startUpstream("east", (_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "content-length": "200", "retry-after": "1" });
      res.write('{"error":{"code":"429",');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const west = await startUpstream("west");
    closers.push(() => east.close(), () => west.close());
    const gw = await gatewayWith(east, west, single);
    const r = await request(gw.url, { method: "POST", path: "/v1/chat/completions", body, headers: { "content-type": "application/json" } });
    expect(r.status).toBe(503);
    expect(r.headers["content-type"]).toBe("text/plain");
    expect(r.body).toContain("upstream connect error or disconnect/reset before headers");
    // The filter never saw this reply: no decision headers.
    expect(r.headers["x-ai-failover-provider"]).toBeUndefined();
  });

  it("the route timeout while the filter holds a 429's headers: Envoy's plain 504", async () => {
    const east = await startUpstream("east", (_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "content-length": "200" });
      res.write('{"error":'); // and nothing more: the route timeout fires
    });
    const west = await startUpstream("west");
    closers.push(() => east.close(), () => west.close());
    const gw = await gatewayWith(east, west, single, "0.3s");
    const r = await request(gw.url, { method: "POST", path: "/v1/chat/completions", body, headers: { "content-type": "application/json" } });
    expect(r.status).toBe(504);
    expect(r.body).toBe("upstream request timeout");
    expect(r.headers["x-ai-failover-provider"]).toBeUndefined();
  });

  it("once the headers went downstream, the same abort resets the stream", async () => {
    const east = await startUpstream("east", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "200" });
      res.write('{"id":"chatcmpl-1",');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const west = await startUpstream("west");
    closers.push(() => east.close(), () => west.close());
    const gw = await gatewayWith(east, west, single);
    const outcome = await request(gw.url, { method: "POST", path: "/v1/chat/completions", body, headers: { "content-type": "application/json" } }).then(
      (x) => `status ${x.status}: ${x.body}`, (e: Error) => `error: ${e.message}`);
    // The 200's headers reached the client: the stream is reset (the client's request fails
    // mid-body); no router reply replaces what was already sent.
    expect(outcome).toMatch(/^error: /);
  });
});
