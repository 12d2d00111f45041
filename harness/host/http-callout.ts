/**
 * proxy_http_call behind the ABI: cluster lookup through the ClusterDispatcher, Envoy's checks,
 * host-enforced timeout, and delivery of the outcome to the root context of the calling VM:
 *   no healthy host → InternalFailure, no callback; connect failure → 503 response;
 *   timeout → 504 "upstream request timeout"; reset → (0, 0, 0) with proxy_get_status = 11.
 */
import { WasmResult } from "./abi.ts";
import { EMPTY } from "./bytes.ts";
import type { HttpCallResponse } from "./context.ts";
import { HeaderMap } from "./header-map.ts";
import type { DispatchResult, HeaderList } from "./types.ts";
import type { WasmVm } from "./vm.ts";

export const CONNECT_FAILURE_BODY = "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
const TIMEOUT_BODY = "upstream request timeout";

function localResponse(status: number, text: string): Extract<DispatchResult, { kind: "response" }> {
  const body = new Uint8Array(Buffer.from(text, "utf8"));
  return {
    kind: "response",
    headers: [[":status", String(status)], ["content-length", String(body.length)], ["content-type", "text/plain"]],
    body,
    trailers: [],
  };
}

export function startHttpCall(
  vm: WasmVm,
  cluster: string,
  headers: HeaderList,
  body: Uint8Array,
  trailers: HeaderList,
  timeoutMs: number,
): { result: number; token: number } {
  if ((timeoutMs | 0) < 0) return { result: WasmResult.BadArgument, token: 0 };
  const dispatcher = vm.opts.dispatcher;
  if (!dispatcher || !dispatcher.hasCluster(cluster)) return { result: WasmResult.BadArgument, token: 0 };
  const map = new HeaderMap(headers);
  if (map.get(":path") === undefined || map.get(":method") === undefined || map.get(":authority") === undefined) {
    return { result: WasmResult.BadArgument, token: 0 };
  }
  if (body.length > 0) map.replace("content-length", String(body.length));
  if (!dispatcher.hasHealthyHost(cluster)) return { result: WasmResult.InternalFailure, token: 0 };

  const token = vm.nextHttpCallToken();
  const abort = new AbortController();
  const call: { abort: AbortController; timer?: NodeJS.Timeout; done: boolean } = { abort, done: false };
  vm.httpCalls.set(token, call);
  if (timeoutMs > 0) {
    call.timer = setTimeout(() => {
      if (call.done) return;
      abort.abort();
      deliver(vm, token, localResponse(504, TIMEOUT_BODY));
    }, timeoutMs);
  }
  const request = { headers: map.toList(), body, trailers: new HeaderMap(trailers).toList() };
  let sent: Promise<DispatchResult>;
  try {
    sent = dispatcher.send(cluster, request, abort.signal);
  } catch {
    sent = Promise.resolve({ kind: "reset" });
  }
  sent.then(
    (r) => deliver(vm, token, r),
    () => deliver(vm, token, { kind: "reset" }),
  );
  return { result: WasmResult.Ok, token };
}

function deliver(vm: WasmVm, token: number, outcome: DispatchResult): void {
  const call = vm.httpCalls.get(token);
  if (!call || call.done) return;
  call.done = true;
  if (call.timer) clearTimeout(call.timer);
  vm.httpCalls.delete(token);
  const root = vm.root;
  if (vm.failed || vm.closed || !root) return;
  const result = outcome.kind === "connect-failure" ? localResponse(503, CONNECT_FAILURE_BODY) : outcome;
  let args: number[];
  if (result.kind === "reset") {
    root.statusCode = WasmResult.BrokenConnection;
    root.statusMessage = "reset";
    vm.defer(() => {
      root.statusMessage = "";
    });
    args = [0, 0, 0];
  } else {
    const response: HttpCallResponse = {
      headers: new HeaderMap(result.headers),
      body: result.body ?? EMPTY,
      trailers: result.trailers.length > 0 ? new HeaderMap(result.trailers) : null,
    };
    root.httpCallResponse = response;
    vm.defer(() => {
      root.httpCallResponse = null;
    });
    args = [response.headers.size, response.body.length, response.trailers?.size ?? 0];
  }
  if (vm.has("proxy_on_http_call_response")) {
    vm.call(root, "proxy_on_http_call_response", [root.id, token, ...args]);
  }
  vm.afterCall();
}
