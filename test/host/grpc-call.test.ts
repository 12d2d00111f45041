// proxy_grpc_call through the harness host: a real unary call over h2c to a cluster of the
// gateway's cluster manager, with Envoy's headers, timeout, cancel, receive/close callbacks and
// status mapping (harness/host/grpc-callout.ts).
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fixtureRig, fixtureWasm, recorder, sleep, until, type HostRig } from "../../harness/rig/host-rig.ts";
import { testClusters } from "../support/clusters.ts";
import { freePort } from "../../harness/redis/server.ts";
import { grpcFrame, grpcFrames } from "../../harness/proto/grpc.ts";
import { ProtoWriter } from "../../harness/proto/wire.ts";
import type { HeaderList } from "../../harness/host/index.ts";

interface Seen { headers: http2.IncomingHttpHeaders; body: Buffer; cancelled: boolean }
const seen: Seen[] = [];
let server: http2.Http2Server;
let port = 0;
let refusedPort = 0;

/** The test server: the method name says how to answer. */
function answer(stream: http2.ServerHttp2Stream, method: string, body: Buffer): void {
  const msg = grpcFrames(new Uint8Array(body))[0]?.data ?? new Uint8Array(0);
  const ok = (reply: Uint8Array, trailers: http2.OutgoingHttpHeaders = { "grpc-status": "0" }) => {
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    stream.end(grpcFrame(reply));
  };
  switch (method) {
    case "Echo": return ok(Uint8Array.from([...msg].reverse()));
    case "Fail": return ok(new Uint8Array(0), { "grpc-status": "8", "grpc-message": "quota gone%21" });
    case "TrailersOnly": return stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "nope" }, { endStream: true });
    case "Http503": stream.respond({ ":status": 503, "content-type": "text/plain" }); return void stream.end("down");
    case "Http404": stream.respond({ ":status": 404 }); return void stream.end();
    case "NoMessage": return stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
    case "NoTrailers": stream.respond({ ":status": 200, "content-type": "application/grpc" }); return void stream.end(grpcFrame(msg));
    case "BadStatus": return ok(msg, { "grpc-status": "99" });
    case "Slow": return void setTimeout(() => !stream.destroyed && ok(msg), 300);
    case "Reset": return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    case "ResetAfterHeaders":
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(grpcFrame(msg));
      return void setTimeout(() => stream.session?.destroy(), 10);
    default: return stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
  }
}

beforeAll(async () => {
  server = http2.createServer();
  // A gRPC server (grpc-go, and the rate limit stand-in) drops a connection that is not HTTP/2 at once.
  server.on("unknownProtocol", (socket) => socket.destroy());
  server.on("stream", (stream, headers) => {
    const s: Seen = { headers, body: Buffer.alloc(0), cancelled: false };
    seen.push(s);
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    stream.on("close", () => { if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) s.cancelled = true; });
    stream.on("end", () => {
      s.body = Buffer.concat(chunks);
      answer(stream, String(headers[":path"]).split("/")[2] ?? "", s.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  refusedPort = await freePort();
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

let t: HostRig | undefined;
let clusters: ReturnType<typeof testClusters> | undefined;
afterEach(async () => {
  await t?.host.close();
  clusters?.close();
  t = undefined;
  seen.length = 0;
});

async function rig(flavour: "envoy" | "higress" = "envoy"): Promise<HostRig> {
  clusters = testClusters({
    grpc: { port, http2: true },
    refused: { port: refusedPort, http2: true },
    down: { endpoints: [] },
    http1: { port },
    h1: { port },
  });
  t = await fixtureRig({ wasm: fixtureWasm("grpc-call"), workers: 1, dispatcher: clusters.dispatcher, flavour });
  return t;
}

const hex = (b: Uint8Array | Buffer | string) => Buffer.from(b as Uint8Array).toString("hex");

function call(r: HostRig, h: Record<string, string>): string {
  const headers: HeaderList = [[":method", "GET"], [":path", "/"], [":authority", "gw"], ["x-test", "grpc"], ["x-svc", "test.Svc"], ...Object.entries(h)];
  const s = r.host.newStream(1, recorder());
  s.decodeHeaders(headers, true);
  return r.lines(`${s.contextId} grpc_call`)[0] ?? "";
}

async function closed(r: HostRig): Promise<string> {
  await until(() => r.lines("grpc_close").length > 0);
  return r.lines("grpc_close")[0]!;
}

describe("proxy_grpc_call: a unary call over h2c", () => {
  it("sends Envoy's headers and the framed message; the reply arrives in proxy_on_grpc_receive (GrpcReceiveBuffer), no close; tokens 5, 9", async () => {
    const r = await rig();
    expect(call(r, { "x-service": "grpc", "x-method": "Echo", "x-timeout": "1500", "x-body-hex": "0102ff", "x-meta": "x-tenant=a,x-two=b" })).toMatch(/rc=0 token=5$/);
    await until(() => r.lines("grpc_receive").length > 0);
    expect(r.lines("grpc_receive")).toEqual(["grpc_receive root=1 token=5 size=3 body=ff0201"]);
    const h = seen[0]!.headers;
    expect([h[":method"], h[":path"], h[":authority"], h[":scheme"], h["content-type"], h.te, h["grpc-timeout"], h["x-tenant"], h["x-two"]]).toEqual(
      ["POST", "/test.Svc/Echo", "grpc", "http", "application/grpc", "trailers", "1500m", "a", "b"],
    );
    expect(hex(seen[0]!.body)).toBe("00000000030102ff");
    expect(call(r, { "x-service": "grpc", "x-method": "Echo" })).toMatch(/rc=0 token=9$/);
    await until(() => r.lines("grpc_receive").length > 1);
    expect(seen[1]!.headers["grpc-timeout"]).toBe("0m");
    await sleep(20);
    expect(r.lines("grpc_close")).toEqual([]);
  });

  it("a gRPC error: proxy_on_grpc_close with the status, proxy_get_status gives it and grpc-message as sent", async () => {
    const r = await rig();
    call(r, { "x-service": "grpc", "x-method": "Fail" });
    expect(await closed(r)).toBe("grpc_close root=1 token=5 status=8 get_status=8/quota gone%21");
  });

  it.each([
    ["TrailersOnly", "status=5 get_status=5/nope"],
    ["Http503", "status=14 get_status=14/"],
    ["Http404", "status=12 get_status=12/"],
    ["NoMessage", "status=13 get_status=13/"],
    ["NoTrailers", "status=2 get_status=2/"],
    ["BadStatus", "status=4294967295 get_status=4294967295/"],
    ["Reset", "status=14 get_status=14/upstream connect error or disconnect/reset before headers. reset reason: remote reset"],
    ["ResetAfterHeaders", "status=13 get_status=13/"],
    ["Unknown", "status=12 get_status=12/"],
  ])("%s → %s (Envoy's AsyncStreamImpl mapping)", async (method, want) => {
    const r = await rig();
    call(r, { "x-service": "grpc", "x-method": method });
    expect(await closed(r)).toBe(`grpc_close root=1 token=5 ${want}`);
  });

  it("timeout: the router's 504 → UNAVAILABLE (14) 'upstream request timeout', and the stream is cancelled upstream", async () => {
    const r = await rig();
    const t0 = Date.now();
    call(r, { "x-service": "grpc", "x-method": "Slow", "x-timeout": "50" });
    expect(await closed(r)).toBe("grpc_close root=1 token=5 status=14 get_status=14/upstream request timeout");
    expect(Date.now() - t0).toBeLessThan(280);
    await until(() => seen[0]?.cancelled === true);
    await sleep(300);
    expect(r.lines("grpc_receive")).toEqual([]);
  });

  it("connection refused → 14 with the router's connect-failure text", async () => {
    const r = await rig();
    call(r, { "x-service": "refused", "x-method": "Echo" });
    expect(await closed(r)).toBe(
      "grpc_close root=1 token=5 status=14 get_status=14/upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    );
  });

  it("HTTP/1.1 cluster (no http2_protocol_options) against an h2-only server: the connection dies → 14", async () => {
    const r = await rig();
    call(r, { "x-service": "http1", "x-method": "Echo" });
    expect(await closed(r)).toMatch(/^grpc_close root=1 token=5 status=14 get_status=14\/upstream connect error or disconnect\/reset before headers/);
  });

  it("unknown cluster → ParseFailure, no token, no callback; no healthy host → InternalFailure, then a close for the unseen token 5", async () => {
    const r = await rig();
    expect(call(r, { "x-service": "nope", "x-method": "Echo" })).toMatch(/rc=4 token=0$/);
    await sleep(20);
    expect(r.lines("grpc_close")).toEqual([]);
    expect(call(r, { "x-service": "down", "x-method": "Echo" })).toMatch(/rc=10 token=0$/);
    expect(r.lines("grpc_close")).toEqual(["grpc_close root=1 token=5 status=14 get_status=14/no healthy upstream"]);
    expect(seen).toEqual([]);
  });

  it("cancel and close: Ok once, NotFound after; no callback arrives; unknown tokens NotFound (call/stream ids) or BadArgument", async () => {
    const r = await rig();
    expect(call(r, { "x-service": "grpc", "x-method": "Slow", "x-then": "cancel" })).toMatch(/rc=0 token=5$/);
    expect(r.lines("cancel rc=")[0]).toMatch(/cancel rc=0 again=1$/);
    call(r, { "x-service": "grpc", "x-method": "Echo", "x-then": "close" });
    expect(r.lines("close rc=")[0]).toMatch(/close rc=0$/);
    await sleep(400);
    expect(r.lines("grpc_receive").concat(r.lines("grpc_close"))).toEqual([]);
    const s = r.host.newStream(1, recorder());
    s.decodeHeaders([[":method", "GET"], [":path", "/"], [":authority", "gw"], ["x-test", "cancel-unknown"]], true);
    expect(r.lines(`${s.contextId} cancel 5=`)[0]).toMatch(/cancel 5=1 6=1 4=2 close 5=1$/);
  });

  it("a serialized GrpcService: envoy_grpc cluster_name and authority, its initial_metadata; an unknown cluster there → InternalFailure + close 'Cluster not available'", async () => {
    const r = await rig();
    const svc = (cluster: string) => new ProtoWriter()
      .message(1, (e) => e.string(1, cluster).string(2, "rls.example"))
      .message(5, (m) => m.string(1, "x-from-service").string(2, "yes"))
      .bytes();
    call(r, { "x-service-hex": hex(svc("grpc")), "x-method": "Echo", "x-body-hex": "aa" });
    await until(() => r.lines("grpc_receive").length > 0);
    expect([seen[0]!.headers[":authority"], seen[0]!.headers["x-from-service"]]).toEqual(["rls.example", "yes"]);
    expect(call(r, { "x-service-hex": hex(svc("nope")), "x-method": "Echo" })).toMatch(/rc=10 token=0$/);
    expect(r.lines("grpc_close")).toEqual(["grpc_close root=1 token=9 status=14 get_status=14/Cluster not available"]);
  });

  it.each([
    ["an empty service", ""],
    // 'h' = field 13 varint, '1' its value: a valid GrpcService with an unknown field, no cluster name.
    ["the cluster name \"h1\" (it parses as a protobuf)", "h1"],
    // Unknown groups: protobuf skips a balanced start/end group (wire types 3/4) of one field.
    ["the cluster name \"cd\" (a group of field 12)", "cd"],
    ["the cluster name \"st\" (a group of field 14)", "st"],
    ["the cluster name \"kl\" (a group of field 13)", "kl"],
    ["the cluster name \"34\" (a group of field 6)", "34"],
    ["the cluster name \"h1st\" (a field, then a group)", "h1st"],
    ["the cluster name \"ckld\" (nested groups)", "ckld"],
  ])("%s parses as a GrpcService with no target: Envoy aborts (async_client_manager_impl.cc factoryForGrpcService), the VM fails", async (_, service) => {
    const r = await rig();
    call(r, { "x-service": service, "x-method": "Echo" });
    const traps = r.traps().map((l) => l.message).join("\n");
    expect(traps).toContain("PANIC_DUE_TO_PROTO_UNSET");
    expect(traps).toContain("source/common/grpc/async_client_manager_impl.cc");
    expect(seen).toEqual([]);
  });

  it("groups nested beyond protobuf's recursion limit (100) fail the parse: the bytes are a cluster name (unknown → ParseFailure)", async () => {
    const r = await rig();
    // '#' = start group of field 4, '$' its end: 100 levels parse (and abort), 101 do not.
    expect(call(r, { "x-service": "#".repeat(101) + "$".repeat(101), "x-method": "Echo" })).toMatch(/rc=4 token=0$/);
    expect(r.traps()).toEqual([]);
    call(r, { "x-service": "#".repeat(100) + "$".repeat(100), "x-method": "Echo" });
    expect(r.traps().map((l) => l.message).join("\n")).toContain("PANIC_DUE_TO_PROTO_UNSET");
  });

  it("a bad token slot: InvalidMemoryAccess, yet the call was made and its callback arrives", async () => {
    const r = await rig();
    expect(call(r, { "x-service": "grpc", "x-method": "Echo", "x-bad-token": "1" })).toMatch(/rc=6 token=0$/);
    await until(() => r.lines("grpc_receive").length > 0);
    expect(r.lines("grpc_receive")[0]).toMatch(/^grpc_receive root=1 token=5 /);
  });

  it("buffer type 9 (Higress RedisCallResponse): BadArgument on Envoy, empty and Ok on Higress", async () => {
    for (const [flavour, rc] of [["envoy", 2], ["higress", 0]] as const) {
      const r = await rig(flavour);
      const s = r.host.newStream(1, recorder());
      s.decodeHeaders([[":method", "GET"], [":path", "/"], [":authority", "gw"], ["x-test", "buffer9"]], true);
      expect(r.lines(`${s.contextId} buffer9`)).toEqual([`${s.contextId} buffer9 rc=${rc}`]);
      await r.host.close();
      clusters!.close();
    }
    t = undefined;
  });
});
