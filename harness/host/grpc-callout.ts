/**
 * proxy_grpc_call behind the ABI: a unary call as Envoy makes it, read from envoyproxy/envoy
 * source/extensions/common/wasm/context.cc (Context::grpcCall, onGrpcReceiveWrapper,
 * onGrpcCloseWrapper, grpcCancel/grpcClose), source/common/grpc/async_client_impl.cc
 * (AsyncStreamImpl, AsyncRequestImpl), source/common/grpc/common.cc (prepareHeaders,
 * toGrpcTimeout) and proxy-wasm-cpp-host src/exports.cc (grpc_call):
 *
 *   - `service` is a serialized envoy.config.core.v3.GrpcService if it parses as one, else a
 *     cluster name; an unknown cluster name → ParseFailure, no token, no callback.
 *   - headers: :method POST, :path /<service>/<method>, :authority <cluster> (or envoy_grpc.authority),
 *     :scheme http, te: trailers, grpc-timeout (always: "0m" for a 0 timeout), content-type
 *     application/grpc, then the module's initial metadata; the body is one length-prefixed message.
 *   - timeout 0 = none; otherwise the host's timer ends the call as Envoy's router does:
 *     a 504 local reply, i.e. gRPC UNAVAILABLE (14) "upstream request timeout" (not DEADLINE_EXCEEDED:
 *     Grpc::Utility::httpToGrpcStatus maps 504 to 14; DEADLINE_EXCEEDED only comes from a server).
 *   - connect failure / reset before response headers → 14 with the router's 503 body as message;
 *     reset after headers → INTERNAL (13); non-200 without grpc-status → httpToGrpcStatus(status);
 *     body without trailers → UNKNOWN (2); OK without a message → INTERNAL (13).
 *   - success: proxy_on_grpc_receive(root, token, size) with the message in GrpcReceiveBuffer (5),
 *     and no proxy_on_grpc_close. Failure: proxy_on_grpc_close(root, token, status) with
 *     proxy_get_status answering (status, grpc-message as received, not percent-decoded).
 *   - no healthy host (or, for a GrpcService, an unknown cluster): the failure happens inside the
 *     call, so proxy_grpc_call returns InternalFailure (no token written) and the close callback
 *     (14, "no healthy upstream" / "Cluster not available") still arrives once the current VM call
 *     has returned — for a token the module never saw.
 *   - cancel/close of a pending call: Ok, and no callback ever arrives.
 * Tokens: 5, 9, 13… per VM (WasmBase::nextGrpcCallId). Streams (proxy_grpc_stream) are not implemented.
 */
import { WasmResult } from "./abi.ts";
import { HostTrap } from "./errors.ts";
import { CONNECT_FAILURE_BODY } from "./http-callout.ts";
import type { DispatchResult, HeaderList } from "./types.ts";
import type { WasmVm } from "./vm.ts";
import { GrpcStatus, grpcFrame, grpcFrames, grpcStatusOf, httpToGrpcStatus, toGrpcTimeout } from "../proto/grpc.ts";
import { ProtoError, readFields, RECURSION_LIMIT, text, WIRE } from "../proto/wire.ts";

const resetBody = (reason: string) => `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`;

export interface PendingGrpcCall {
  abort: AbortController;
  timer?: NodeJS.Timeout;
  done: boolean;
}

type GrpcService =
  | { kind: "cluster"; cluster: string }
  | { kind: "envoy"; cluster: string; authority: string; metadata: HeaderList }
  | { kind: "google" }
  | { kind: "unset" };

/**
 * GrpcService.ParseFromArray as protobuf does it (unknown fields kept, known ones checked): unknown
 * groups (wire types 3/4, balanced, nested up to the recursion limit) are accepted, so short
 * printable names such as "cd", "st", "kl", "34", "h1st" parse — as a GrpcService without a target.
 */
export function parseGrpcService(bytes: Uint8Array): GrpcService | null {
  // Known fields' contents are parsed one message level down (ParseMessage costs one of the budget).
  const sub = RECURSION_LIMIT - 1;
  try {
    let envoy: { cluster: string; authority: string } | null = null;
    let google = false;
    const metadata: HeaderList = [];
    for (const f of readFields(bytes)) {
      if (f.wire !== WIRE.LEN) continue;
      if (f.field === 1) {
        const e: { cluster: string; authority: string } = envoy ?? { cluster: "", authority: "" };
        for (const g of readFields(f.data, sub)) {
          if (g.wire !== WIRE.LEN) continue;
          if (g.field === 1) e.cluster = text(g.data);
          else if (g.field === 2) e.authority = text(g.data);
          else if (g.field === 3 || g.field === 4) readFields(g.data, sub - 1);
        }
        envoy = e;
        google = false;
      } else if (f.field === 2) {
        readFields(f.data, sub);
        google = true;
        envoy = null;
      } else if (f.field === 3 || f.field === 6) {
        readFields(f.data, sub);
      } else if (f.field === 5) {
        let k = "";
        let v = "";
        for (const g of readFields(f.data, sub)) {
          if (g.wire !== WIRE.LEN) continue;
          if (g.field === 1) k = text(g.data);
          if (g.field === 2) v = text(g.data);
          if (g.field === 3) v = Buffer.from(g.data).toString("latin1");
        }
        metadata.push([k.toLowerCase(), v]);
      }
    }
    if (envoy) return { kind: "envoy", cluster: envoy.cluster, authority: envoy.authority, metadata };
    return google ? { kind: "google" } : { kind: "unset" };
  } catch (e) {
    if (e instanceof ProtoError) return null;
    throw e;
  }
}

export interface GrpcCallArgs {
  service: Uint8Array;
  serviceName: string;
  method: string;
  metadata: HeaderList;
  message: Uint8Array;
  timeoutMs: number;
}

export function startGrpcCall(vm: WasmVm, a: GrpcCallArgs): { result: number; token: number } {
  const dispatcher = vm.opts.dispatcher;
  const parsed = parseGrpcService(a.service);
  let cluster: string;
  let authority: string;
  let serviceMetadata: HeaderList = [];
  let checked = false;
  if (!parsed) {
    cluster = Buffer.from(a.service).toString("latin1");
    if (!dispatcher?.hasCluster(cluster)) return { result: WasmResult.ParseFailure, token: 0 };
    authority = cluster;
    checked = true;
  } else if (parsed.kind === "envoy") {
    cluster = parsed.cluster;
    authority = parsed.authority || parsed.cluster;
    serviceMetadata = parsed.metadata;
  } else if (parsed.kind === "google") {
    vm.log(4, "proxy_grpc_call: a GrpcService with google_grpc (Google's C++ gRPC client) is not implemented by the harness");
    return { result: WasmResult.Unimplemented, token: 0 };
  } else {
    // AsyncClientManagerImpl::factoryForGrpcService: TARGET_SPECIFIER_NOT_SET → PANIC_DUE_TO_PROTO_UNSET.
    throw new HostTrap(
      "proxy_grpc_call: the service argument parses as a GrpcService with neither envoy_grpc nor google_grpc; Envoy aborts " +
        "(PANIC_DUE_TO_PROTO_UNSET in source/common/grpc/async_client_manager_impl.cc factoryForGrpcService)",
    );
  }

  const token = vm.nextGrpcCallToken();
  const closeLater = (status: number, message: string) =>
    vm.defer(() => deliver(vm, token, { status, message }, { nested: true, force: true }));
  if (!checked && !dispatcher?.hasCluster(cluster)) {
    closeLater(GrpcStatus.Unavailable, "Cluster not available");
    return { result: WasmResult.InternalFailure, token: 0 };
  }
  if (!dispatcher!.hasHealthyHost(cluster)) {
    closeLater(httpToGrpcStatus(503), "no healthy upstream");
    return { result: WasmResult.InternalFailure, token: 0 };
  }
  if (!dispatcher!.sendGrpc) {
    vm.log(4, "proxy_grpc_call: the ClusterDispatcher has no sendGrpc: gRPC callouts need the gateway's dispatcher (or a test's)");
    return { result: WasmResult.Unimplemented, token: 0 };
  }

  const headers: HeaderList = [
    [":method", "POST"], [":path", `/${a.serviceName}/${a.method}`], [":authority", authority], [":scheme", "http"],
    ["te", "trailers"], ["grpc-timeout", toGrpcTimeout(a.timeoutMs)], ["content-type", "application/grpc"],
  ];
  for (const [k, v] of serviceMetadata) {
    const i = headers.findIndex(([h]) => h === k);
    if (i >= 0) headers[i] = [k, v];
    else headers.push([k, v]);
  }
  headers.push(...a.metadata);

  const abort = new AbortController();
  const call: PendingGrpcCall = { abort, done: false };
  vm.grpcCalls.set(token, call);
  if (a.timeoutMs > 0) {
    call.timer = setTimeout(() => {
      if (call.done) return;
      abort.abort();
      deliver(vm, token, { status: httpToGrpcStatus(504), message: "upstream request timeout" });
    }, a.timeoutMs);
  }
  let sent: Promise<DispatchResult>;
  try {
    sent = dispatcher!.sendGrpc(cluster, { headers, body: grpcFrame(a.message) }, abort.signal);
  } catch {
    sent = Promise.resolve({ kind: "reset" });
  }
  sent.then(
    (r) => deliver(vm, token, outcomeOf(r)),
    () => deliver(vm, token, outcomeOf({ kind: "reset" })),
  );
  return { result: WasmResult.Ok, token };
}

type Outcome = { message: Uint8Array } | { status: number; message: string };

function header(list: HeaderList, name: string): string | undefined {
  return list.find(([k]) => k === name)?.[1];
}

/** What AsyncStreamImpl + AsyncRequestImpl make of one HTTP exchange. */
export function outcomeOf(r: DispatchResult): Outcome {
  if (r.kind === "connect-failure") return { status: httpToGrpcStatus(503), message: CONNECT_FAILURE_BODY };
  if (r.kind === "reset") return r.afterHeaders ? { status: GrpcStatus.Internal, message: "" } : { status: httpToGrpcStatus(503), message: resetBody(r.reason ?? "connection termination") };
  const http = Number(header(r.headers, ":status") ?? 0);
  const endAtHeaders = r.body.length === 0 && r.trailers.length === 0;
  const close = (trailers: HeaderList): Outcome => ({
    status: grpcStatusOf(header(trailers, "grpc-status")) ?? GrpcStatus.Unknown,
    message: header(trailers, "grpc-message") ?? "",
  });
  let response: Uint8Array | null = null;
  let closed: Outcome;
  if (http !== 200) {
    if (endAtHeaders && header(r.headers, "grpc-status") !== undefined) closed = close(r.headers);
    else closed = { status: httpToGrpcStatus(http), message: "" };
  } else if (endAtHeaders) {
    closed = close(r.headers);
  } else {
    const frames = grpcFrames(r.body);
    const bad = frames.find((f) => f.data.length > 0 && f.flags !== 0);
    if (bad) return { status: GrpcStatus.Internal, message: "" };
    if (frames.length > 0) response = frames[frames.length - 1]!.data;
    closed = r.trailers.length > 0 ? close(r.trailers) : { status: GrpcStatus.Unknown, message: "" };
  }
  if ("status" in closed && closed.status !== GrpcStatus.Ok) return closed;
  if (!response) return { status: GrpcStatus.Internal, message: "" };
  return { message: response };
}

function deliver(vm: WasmVm, token: number, outcome: Outcome, how: { nested?: boolean; force?: boolean } = {}): void {
  if (!how.force) {
    const call = vm.grpcCalls.get(token);
    if (!call || call.done) return;
    call.done = true;
    if (call.timer) clearTimeout(call.timer);
    vm.grpcCalls.delete(token);
  }
  const root = vm.root;
  if (vm.failed || vm.closed || !root) return;
  if ("status" in outcome) {
    if (!vm.has("proxy_on_grpc_close")) return;
    root.statusCode = outcome.status >>> 0;
    root.statusMessage = outcome.message;
    vm.defer(() => {
      root.statusMessage = "";
    });
    vm.call(root, "proxy_on_grpc_close", [root.id, token, outcome.status >>> 0]);
  } else {
    if (!vm.has("proxy_on_grpc_receive")) return;
    root.grpcReceiveBuffer = outcome.message;
    vm.defer(() => {
      root.grpcReceiveBuffer = null;
    });
    vm.call(root, "proxy_on_grpc_receive", [root.id, token, outcome.message.length]);
  }
  if (!how.nested) vm.afterCall();
}
