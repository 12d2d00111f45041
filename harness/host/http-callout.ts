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
import { ROUTER_TIMEOUT_HEADERS, routerTimeouts } from "./router-timeouts.ts";
import type { DispatchResult, HeaderList } from "./types.ts";
import type { PendingHttpCall, WasmVm } from "./vm.ts";

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
  const call: PendingHttpCall = { abort, done: false };
  vm.httpCalls.set(token, call);
  // Envoy's async client runs the router filter on the call: the call's timeout is the route's,
  // the router's timeout headers override it and are consumed (router-timeouts.ts).
  const t = routerTimeouts(map.toList(), timeoutMs);
  for (const name of ROUTER_TIMEOUT_HEADERS) map.remove(name);
  const expire = () => {
    if (call.done) return;
    abort.abort();
    deliver(vm, token, localResponse(504, TIMEOUT_BODY));
  };
  if (t.globalMs > 0) call.timer = setTimeout(expire, t.globalMs);
  if (t.perTryMs > 0) call.perTry = setTimeout(expire, t.perTryMs);
  const request = { headers: map.toList(), body, trailers: new HeaderMap(trailers).toList() };
  let sent: Promise<DispatchResult>;
  try {
    sent = dispatcher.send(cluster, request, abort.signal, () => clearTimeout(call.perTry));
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
  if (call.perTry) clearTimeout(call.perTry);
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
