// Robustness: hostile input on every path must yield a clear answer, never a VM trap.
import { afterEach, describe, expect, it } from "vitest";
import type { DispatchResult, HeaderList } from "../../harness/host/index.ts";
import { baseConfig, CHAT_OK, chatBody, reqHeaders, rig, until, type HostRig } from "../../harness/rig/host-rig.ts";

function noTrap(r: HostRig): void {
  const crit = r.traps();
  expect(crit.map((l) => l.message)).toEqual([]);
}

describe("robustness: no traps", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it.each([
    ["non-numeric :status", [[":status", "abc"]]],
    ["negative :status", [[":status", "-1"]]],
    ["huge :status", [[":status", "99999999999999999999"]]],
    ["huge retry-after", [[":status", "429"], ["retry-after", "9".repeat(400)]]],
    ["fractional retry-after-ms", [[":status", "429"], ["retry-after-ms", "1.2.3"]]],
    ["huge remaining tokens", [[":status", "200"], ["x-ratelimit-remaining-tokens", "9".repeat(400)], ["x-ratelimit-remaining-requests", "-5"]]],
  ] as Array<[string, HeaderList]>)("upstream response headers: %s", async (_, headers) => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody());
    f.callOnResponseHeaders([...headers, ["content-type", "application/json"]], false);
    f.callOnResponseBody(Buffer.from(CHAT_OK), true);
    await new Promise((res) => setTimeout(res, 30));
    f.complete();
    noTrap(r);
  });

  it.each([
    ["empty", ""],
    ["lone brace", "{"],
    ["null", "null"],
    ["deep nesting", `{"model":"gpt-4o","messages":${"[".repeat(200000)}${"]".repeat(200000)}}`],
    ["unterminated deep nesting", `{"model":"gpt-4o","messages":${"[{\"a\":".repeat(50000)}`],
    ["invalid utf-8 in model", Buffer.concat([Buffer.from('{"model":"gpt-4o'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","messages":[]}')])],
    ["lone surrogate escapes", `{"model":"\\ud800\\udfff\\ud800","messages":[{"role":"user","content":"\\udc00"}]}`],
    ["escaped key with NUL", `{"mod\\u0000el":"x","model":"gpt-4o","messages":[]}`],
    ["huge max_tokens", `{"model":"gpt-4o","messages":[],"max_tokens":99999999999999999999999999}`],
    ["negative max_tokens", `{"model":"gpt-4o","messages":[],"max_tokens":-1}`],
  ])("request body: %s", async (_, body) => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", body);
    f.complete();
    noTrap(r);
    expect(f.localReply === null || f.localReply < 500, `status ${f.localReply}`).toBe(true);
  });

  it("a 2 MB request body gets a 413, not a trap", async () => {
    r = await rig(baseConfig());
    const big = JSON.stringify(chatBody({ messages: [{ role: "user", content: "x".repeat(2 * 1024 * 1024) }] }));
    const f = r.open();
    const b = Buffer.from(big);
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", b), false);
    for (let i = 0; i < b.length; i += 65536) f.callOnRequestBody(b.subarray(i, i + 65536), i + 65536 >= b.length);
    f.complete();
    noTrap(r);
    expect(f.localReply).toBe(413);
  });

  it("header-only mode: hostile content-length and x-ai-model", async () => {
    r = await rig(baseConfig({ mode: "headers" }), { allowOnHeadersStopIteration: false });
    for (const cl of ["99999999999999999999999", "-5", "1e9", "abc", ""]) {
      const f = r.open();
      f.callOnRequestHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"], ["content-length", cl], ["x-ai-model", "gpt-4o"]], false);
      f.callOnRequestBody(Buffer.from("{}"), true);
      f.complete();
    }
    noTrap(r);
  });

  it("malformed and oversized SSE from the provider", async () => {
    r = await rig(baseConfig());
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    f.callOnResponseBody(Buffer.from("data: {\"usage\":{\"prompt_tokens\":" + "9".repeat(5000) + "}}\r\r\r"), false);
    f.callOnResponseBody(Buffer.from("data: " + "x".repeat(1100 * 1024)), false); // > the 1 MiB carry, no event end
    f.callOnResponseBody(Buffer.from("\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2"), false);
    f.callOnResponseBody(Buffer.from(""), true);
    f.complete();
    noTrap(r);
    expect(f.status).toBe(200);
  });

  it.each([
    ["reset", { kind: "reset" } as DispatchResult],
    ["connect failure", { kind: "connect-failure" } as DispatchResult],
    ["no :status", { kind: "response", headers: [["content-type", "application/json"]], body: Buffer.from("{}"), trailers: [] } as DispatchResult],
    ["empty headers and body", { kind: "response", headers: [], body: new Uint8Array(0), trailers: [] } as DispatchResult],
    ["429 with 1 MB body", { kind: "response", headers: [[":status", "429"], ["retry-after", "x"]], body: Buffer.alloc(1024 * 1024, 0x41), trailers: [] } as DispatchResult],
    ["200 SSE attempt", { kind: "response", headers: [[":status", "200"], ["content-type", "text/event-stream"]], body: Buffer.from("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n"), trailers: [] } as DispatchResult],
  ])("http_call attempt answers with %s", async (_, answer) => {
    r = await rig(baseConfig());
    r.script.answer = () => answer;
    const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
    f.respond(503, "upstream unavailable");
    await until(() => f.responseEnded || f.resetReason !== null);
    f.complete();
    noTrap(r);
    expect(f.status).toBeGreaterThan(0);
  });
});
