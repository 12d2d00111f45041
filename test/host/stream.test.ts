// Checklist 6 and 7: header/body windows, status conversions, buffering, deferred effects.
import { afterEach, describe, expect, it } from "vitest";
import { bytes, header, recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("HTTP stream semantics (checklist 6, 7)", () => {
  it("creates the context lazily, lower-cases keys, get returns the first value, replace moves to the end", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("window", [["x-dup", "a"], ["x-dup", "b"], ["x-replace", "old"], ["x-keep", "k"]]), true);
    const id = s.contextId;
    expect(t.lines(`${id} create root=1`)).toHaveLength(1);
    expect(t.lines(`${id} first-dup=a`)).toHaveLength(1);
    // Response headers are not available while the request is decoded.
    expect(t.lines(`${id} response-map=<rc:2>`)).toHaveLength(1);
    const sent = (cb.events[0] as { headers: Array<[string, string]> }).headers;
    expect(cb.kinds()).toEqual(["reqHeaders"]);
    expect(sent.slice(-2)).toEqual([["x-added", "1"], ["x-replace", "new"]]);
    // byte size of all keys + values after the mutations
    const size = sent.reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(t.lines(`${id} size=${size}`)).toHaveLength(1);
    s.complete();
  });

  it("closes the request-header window after Continue: reads BadArgument, pairs empty", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("window"), false);
    s.decodeData(bytes("hello"), true);
    expect(t.lines(`${s.contextId} request_body size=5 eos=1 headers=<rc:2> body=hello`)).toHaveLength(1);
    s.complete();
  });

  it("StopIteration becomes StopAllIterationAndWatermark by default: the body is held back", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("stop"), false);
    s.decodeData(bytes("abc"), true);
    expect(t.lines(`${s.contextId} request_body`)).toEqual([]);
    expect(cb.events).toEqual([]);
    s.complete();
  });

  it("with allow_on_headers_stop_iteration, body callbacks arrive and headers stay mutable until continue", async () => {
    t = await fixtureRig({ allowOnHeadersStopIteration: true });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("stop"), false);
    expect(cb.events).toEqual([]);
    s.decodeData(bytes("abc"), true);
    expect(t.lines(`${s.contextId} request_body size=3 eos=1 headers=/v1/chat body=abc`)).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders", "reqData"]);
    expect(header((cb.events[0] as { headers: Array<[string, string]> }).headers, "x-from-body")).toBe("yes");
    expect(cb.events[1]).toEqual({ ev: "reqData", data: "abc", end: true });
    s.complete();
  });

  it("ContinueAndEndStream acts as Continue", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("continue-and-end"), false);
    s.decodeData(bytes("x"), true);
    expect(cb.kinds()).toEqual(["reqHeaders", "reqData"]);
    s.complete();
  });

  it("after StopIterationAndBuffer the next callback sees the total size and the whole buffer; set_buffer_bytes rewrites it", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("buffer", [["content-length", "10"]]), false);
    s.decodeData(bytes("hello"), false);
    s.decodeData(bytes("world"), true);
    const id = s.contextId;
    expect(t.lines(`${id} request_body`)).toEqual([
      `${id} request_body size=5 eos=0 headers=<rc:2> body=hello`,
      `${id} request_body size=10 eos=1 headers=<rc:2> body=helloworld`,
    ]);
    expect(t.lines(`${id} status len=10`)).toHaveLength(1);
    // 0 < start < size → BadArgument
    expect(t.lines(`${id} set-middle rc=2`)).toHaveLength(1);
    expect(cb.events[1]).toEqual({ ev: "reqData", data: "REPLACED", end: true });
    // Envoy never recomputes content-length (and the window is closed: remove failed silently).
    expect(header((cb.events[0] as { headers: Array<[string, string]> }).headers, "content-length")).toBe("10");
    s.complete();
  });

  it("set_buffer_bytes with start 0/length 0 prepends and start ≥ size appends", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("buffer-prepend"), false);
    s.decodeData(bytes("mid"), true);
    expect(cb.events[1]).toEqual({ ev: "reqData", data: "<<mid>>", end: true });
    s.complete();
  });

  it("a request buffer over the limit gets a 413 local reply through the encoder path", async () => {
    t = await fixtureRig({ bufferLimitBytes: 8 });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("buffer"), false);
    s.decodeData(bytes("12345"), false);
    s.decodeData(bytes("67890"), true);
    expect(cb.kinds()).toEqual(["reqHeaders", "localReply", "respHeaders", "respData"]);
    expect(header((cb.events[2] as { headers: Array<[string, string]> }).headers, ":status")).toBe("413");
    expect(t.lines(`${s.contextId} response_headers status=413`)).toHaveLength(1);
    s.complete();
  });

  it("a response buffer over the limit after the headers went downstream resets the stream", async () => {
    t = await fixtureRig({ bufferLimitBytes: 4 });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("buffer-resp"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.encodeData(bytes("abc"), false);
    s.encodeData(bytes("defgh"), true);
    // "abc" was buffered (StopIterationAndBuffer), the next chunk overflowed.
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "reset"]);
    expect(cb.events[2]).toMatchObject({ ev: "reset" });
    s.complete();
  });

  it("send_local_response before any response runs through the filter's own response callbacks", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("local"), true);
    expect(cb.kinds()).toEqual(["localReply", "respHeaders", "respData"]);
    const h = (cb.events[1] as { headers: Array<[string, string]> }).headers;
    expect(header(h, ":status")).toBe("403");
    expect(header(h, "x-why")).toBe("test");
    expect(header(h, "content-length")).toBe("4");
    expect(header(h, "content-type")).toBe("text/plain");
    expect(header(h, "x-resp-seen")).toBe("1");
    expect(cb.events[2]).toEqual({ ev: "respData", data: "nope", end: true });
    expect(t.lines(`${s.contextId} response_headers status=403`)).toHaveLength(1);
    expect((s as unknown as { responseCodeDetails: string }).responseCodeDetails).toBe("denied_by_test");
    // Upstream input after a local reply is ignored.
    s.encodeHeaders([[":status", "200"]], true);
    expect(cb.kinds()).toEqual(["localReply", "respHeaders", "respData"]);
    s.complete();
  });

  it("an empty local-reply body removes content-length and content-type", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("local-empty"), true);
    const h = (cb.events[1] as { headers: Array<[string, string]>; end: boolean });
    expect(header(h.headers, "content-length")).toBeUndefined();
    expect(header(h.headers, "content-type")).toBeUndefined();
    expect(h.end).toBe(true);
    s.complete();
  });

  it("a local reply during on_response_headers is a direct reply; after headers were sent it resets", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("local-in-resp"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.encodeData(bytes("upstream"), true);
    expect(cb.kinds()).toEqual(["reqHeaders", "localReply", "respHeaders", "respData"]);
    expect(header((cb.events[2] as { headers: Array<[string, string]> }).headers, ":status")).toBe("502");
    expect(t.lines(`${s.contextId} response_headers`)).toHaveLength(1);
    expect(t.lines(`${s.contextId} response_body`)).toEqual([]);
    s.complete();
  });

  it("continue_stream clears the header window immediately and resumes only after the callback returns", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("continue-window"), true);
    expect(t.lines(`${s.contextId} continue rc=0`)).toHaveLength(1);
    expect(t.lines(`${s.contextId} add-after-continue rc=2`)).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders"]);
    expect(header((cb.events[0] as { headers: Array<[string, string]> }).headers, "x-late")).toBeUndefined();
    s.complete();
  });

  it("close_stream resets the stream after the callback", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("close"), true);
    expect(cb.kinds()).toEqual(["reset"]);
    s.complete();
  });

  it("ends with on_log (headers readable, not writable) before on_done and on_delete, exactly once", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("plain"), true);
    s.encodeHeaders([[":status", "201"]], true);
    s.complete();
    s.complete();
    const id = s.contextId;
    expect(t.lines(`${id} on_`).concat(t.lines(`${id} on_delete`)).length).toBeGreaterThan(0);
    const tail = t.logs.map((l) => l.message).filter((m) => m.startsWith(`${id} on_`));
    expect(tail).toEqual([`${id} on_log req=/v1/chat status=201 add=2`, `${id} on_done`, `${id} on_delete`]);
  });

  it("request trailers are readable in on_request_trailers and passed on", async () => {
    t = await fixtureRig();
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("plain"), false);
    s.decodeData(bytes("b"), false);
    s.decodeTrailers([["x-t", "tv"]]);
    expect(t.lines(`${s.contextId} request_trailers n=1 t=tv`)).toHaveLength(1);
    expect(cb.kinds()).toEqual(["reqHeaders", "reqData", "reqTrailers"]);
    s.complete();
  });
});
