// How an answer's transfer ended, in the access log (`stream=`) and the requests metric
// (`status_class`): whole answers keep their HTTP class; a cut one (a stream ended cleanly without
// its finish, a transfer broken after the headers) is "cut" and charged its estimate; a client that
// left is logged client_gone and keeps its class. Envoy's response.code_details tell an upstream
// reset (router.cc onUpstreamReset: upstream_reset_after_response_started{…}) from a client
// disconnect (conn_manager_impl.cc: downstream_remote_disconnect).
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, CHAT_OK, chatBody, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const SSE = [["content-type", "text/event-stream"]] as Array<[string, string]>;
const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const delta = (text: string) => ev({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: text }, finish_reason: null }] });
const finish = ev({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });

describe("metrics and access log: how an answer ended", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  const access = () => r.logs.filter((l) => l.message.startsWith("ai-failover access: ")).map((l) => l.message);
  const requests = (statusClass: string) => r.host.metrics()
    .filter((m) => m.name.startsWith("ai_failover_requests_total") && m.name.includes(`_status_class=.=${statusClass};.;`))
    .reduce((n, m) => n + Number(m.value), 0);

  /** A streamed chat answer: headers, then `chunks`; `end` with end_of_stream on the last. */
  function stream(chunks: string[], end: boolean) {
    const f = r.request("/v1/chat/completions", chatBody({ stream: true, stream_options: { include_usage: false } }));
    f.callOnResponseHeaders([[":status", "200"], ...SSE], false);
    chunks.forEach((c, i) => f.callOnResponseBody(Buffer.from(c), end && i === chunks.length - 1));
    return f;
  }

  it("a stream with its finish and no [DONE]: stream=true, 2xx, nothing appended", async () => {
    r = await rig(baseConfig());
    const f = stream([delta("Hello"), delta(" world"), finish], true);
    f.complete();
    expect(f.body).not.toContain("upstream_stream_incomplete");
    expect(access()[0]).toContain(" status=200 attempts=1 stream=true ");
    expect(requests("2xx")).toBe(1);
    expect(requests("cut")).toBe(0);
  });

  it("a clean end without the finish: the error event, stream=cut, counted as cut, charged its estimate", async () => {
    r = await rig(baseConfig());
    const f = stream([delta("Hello"), delta(" world")], true);
    f.complete();
    expect(f.body).toContain("upstream_stream_incomplete");
    expect(access()[0]).toContain(" status=200 attempts=1 stream=cut ");
    // Two content events, 11 bytes of text: a token per 4 bytes (3) is more than one per event.
    expect(access()[0]).toMatch(/ completion_tokens=3 estimated=true/);
    expect(requests("cut")).toBe(1);
    expect(requests("2xx")).toBe(0);
  });

  it("an upstream reset after the headers: stream=cut, counted as cut, charged what streamed", async () => {
    r = await rig(baseConfig());
    const f = stream([delta("One"), delta(" two"), delta(" three")], false);
    f.reset("upstream_reset_after_response_started{connection_termination}", "upstream");
    expect(access()[0]).toContain(" status=200 attempts=1 stream=cut ");
    // Three events, 13 bytes of text: 4 tokens.
    expect(access()[0]).toMatch(/ completion_tokens=4 estimated=true/);
    expect(requests("cut")).toBe(1);
  });

  it("a client that left mid-stream: stream=client_gone, its 2xx class kept, charged what streamed", async () => {
    r = await rig(baseConfig());
    const f = stream([delta("One"), delta(" two")], false);
    f.reset("downstream_remote_disconnect", "downstream");
    expect(access()[0]).toContain(" stream=client_gone ");
    // Two events, 7 bytes of text: 2 tokens.
    expect(access()[0]).toMatch(/ completion_tokens=2 estimated=true/);
    expect(requests("2xx")).toBe(1);
    expect(requests("cut")).toBe(0);
  });

  it("an answer that ends at its headers (no body) is whole, not cut", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "application/json"]], true);
    f.complete();
    expect(access()[0]).toContain(" status=200 attempts=1 stream=false ");
    expect(requests("2xx")).toBe(1);
    expect(requests("cut")).toBe(0);
  });

  it("a JSON answer cut mid-body is cut too; a whole one is not", async () => {
    r = await rig(baseConfig());
    const whole = r.request("/v1/chat/completions", chatBody());
    whole.respond(200, CHAT_OK);
    whole.complete();
    const cut = r.request("/v1/chat/completions", chatBody());
    cut.respond(200, CHAT_OK.slice(0, 40), [], false);
    cut.reset("upstream_reset_after_response_started{connection_termination}", "upstream");
    expect(access()[0]).toContain(" stream=false ");
    expect(access()[1]).toContain(" stream=cut ");
    expect(requests("2xx")).toBe(1);
    expect(requests("cut")).toBe(1);
  });

  it("a 5xx answer keeps its class whatever its end", async () => {
    r = await rig(baseConfig({ retry: { maxAttempts: 1 } }));
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(500, '{"error":{"message":"boom"}}', [], false);
    f.reset("upstream_reset_after_response_started{connection_termination}", "upstream");
    expect(requests("5xx")).toBe(1);
    expect(requests("cut")).toBe(0);
  });
});
