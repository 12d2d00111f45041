// What a filter can do from on_tick (set_effective_context to a stream) to a response whose
// headers already went downstream — the gateway's stall limit (streamIdleTimeout) relies on it:
//
// - Upstream Envoy, source/extensions/common/wasm/context.cc Context::closeStream(Response):
//   encoder_callbacks_->resetStream(), deferred after the VM call (the tick's DeferAfterCallActions,
//   proxy-wasm-cpp-host src/context.cc ContextBase::onTick); the stream info's response code
//   details are set to wasm_close_stream only when none are set yet (the router set via_upstream
//   with the upstream's headers: router.cc onUpstreamHeaders).
// - Higress, higress-group/proxy-wasm-cpp-host src/exports.cc inject_encoded_data_to_filter_chain
//   (registered for every ABI version, FOR_ALL_HOST_FUNCTIONS) → the context's
//   injectEncodedDataToFilterChain, posted to the stream's dispatcher → filter_manager.cc
//   ActiveStreamEncoderFilter::injectEncodedDataToFilterChain: the bytes enter the encoder chain
//   after the filter (which never sees them), end_stream ends the response. Upstream Envoy has no
//   such import: a module importing it does not load there.
import binaryen from "binaryen";
import { afterEach, describe, expect, it } from "vitest";
import { PluginHost, PluginLoadError } from "../../harness/host/index.ts";
import type { HostFlavour } from "../../harness/host/types.ts";
import { bytes, recorder } from "../../harness/rig/host-rig.ts";

let host: PluginHost | undefined;
afterEach(async () => { await host?.close(); host = undefined; });

const EVENT = "event: error\\ndata: {}\\n\\n";
const EVENT_LEN = "event: error\ndata: {}\n\n".length;

/**
 * A filter that lets everything through (or holds the response headers: `holdHeaders`),
 * remembers the stream whose response headers it saw, and on its next tick (every 10 ms) acts on
 * that stream: close_stream(Response), or (inject) Higress's inject_encoded_data_to_filter_chain
 * of an error event with end_stream. Each on_response_body logs "body".
 */
function module(action: "close" | "inject", holdHeaders = false): Uint8Array {
  const inject = action === "inject";
  const text = `(module
    (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
    (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
    (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
    (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
    ${inject ? `(import "env" "proxy_inject_encoded_data_to_filter_chain" (func $inject (param i32 i32 i32) (result i32)))` : ""}
    (memory (export "memory") 2)
    (data (i32.const 1024) "${EVENT}")
    (data (i32.const 2048) "body")
    (global $stream (mut i32) (i32.const 0))
    (global $heap (mut i32) (i32.const 4096))
    (func (export "proxy_abi_version_0_2_100"))
    (func (export "proxy_abi_version_0_2_0"))
    (func (export "malloc") (param $n i32) (result i32) (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 15)) (i32.const -16))))
      (local.get $p))
    (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
    (func (export "proxy_on_configure") (param i32 i32) (result i32) (drop (call $tick_period (i32.const 10))) (i32.const 1))
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_response_headers") (param $id i32) (param i32 i32) (result i32)
      (global.set $stream (local.get $id)) (i32.const ${holdHeaders ? 1 : 0}))
    (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
      (drop (call $log (i32.const 2) (i32.const 2048) (i32.const 4))) (i32.const 0))
    (func (export "proxy_on_tick") (param i32)
      (if (i32.eqz (global.get $stream)) (then (return)))
      (drop (call $effective (global.get $stream)))
      ${inject ? `(drop (call $inject (i32.const 1024) (i32.const ${EVENT_LEN}) (i32.const 1)))` : `(drop (call $close (i32.const 1)))`}
      (global.set $stream (i32.const 0)))
    (func (export "proxy_on_log") (param i32))
    (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
    (func (export "proxy_on_delete") (param i32)))`;
  const m = binaryen.parseText(text);
  const out = m.emitBinary();
  m.dispose();
  return out;
}

let logs: string[] = [];

async function load(action: "close" | "inject", flavour: HostFlavour, holdHeaders = false): Promise<PluginHost> {
  logs = [];
  host = await PluginHost.create({
    wasm: module(action, holdHeaders), rootId: "r", configuration: "", workers: 1, flavour, logger: (r) => logs.push(r.message),
  });
  return host;
}

const bodyCalls = () => logs.filter((m) => m === "body").length;

const until = async (cond: () => boolean) => {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A streaming response whose headers and first event went downstream. */
function streaming(h: PluginHost) {
  const cb = recorder();
  const s = h.newStream(1, cb);
  s.decodeHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"]], true);
  s.setResponseCodeDetails?.("via_upstream");
  s.encodeHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
  s.encodeData(bytes("data: {\"n\":1}\n\n"), false);
  return { s, cb };
}

describe("a response that already streams, ended from on_tick", () => {
  it("upstream Envoy: close_stream(Response) from the tick resets the stream after the tick, keeping via_upstream (context.cc closeStream)", async () => {
    const h = await load("close", "envoy");
    const { s, cb } = streaming(h);
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "respData"]);
    await until(() => cb.kinds().includes("reset"));
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "respData", "reset"]);
    expect((s as unknown as { responseCodeDetails: string }).responseCodeDetails).toBe("via_upstream");
    // Nothing the upstream sends afterwards reaches the client.
    s.encodeData(bytes("data: {\"n\":2}\n\n"), false);
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "respData", "reset"]);
    s.complete();
  });

  it("Higress: inject_encoded_data_to_filter_chain from the tick sends the bytes after the filter and ends the response (filter_manager.cc)", async () => {
    const h = await load("inject", "higress");
    const { s, cb } = streaming(h);
    expect(bodyCalls()).toBe(1);
    await until(() => cb.events.some((e) => e.ev === "respData" && e.end));
    // The filter never saw its own injected bytes.
    expect(bodyCalls()).toBe(1);
    expect(cb.events.slice(2)).toEqual([
      { ev: "respData", data: "data: {\"n\":1}\n\n", end: false },
      { ev: "respData", data: "event: error\ndata: {}\n\n", end: true },
    ]);
    expect(cb.kinds()).not.toContain("reset");
    // The upstream's later bytes are past the response's end.
    s.encodeData(bytes("data: {\"n\":2}\n\n"), true);
    expect(cb.events).toHaveLength(4);
    s.complete();
  });

  it("Higress: injected while the filter still holds the response headers, they go first (doHeaders), then the bytes", async () => {
    // StopIteration from on_response_headers passes through on Higress for ABI 0_2_100.
    const h = await load("inject", "higress", true);
    const cb = recorder();
    const s = h.newStream(1, cb);
    s.decodeHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"]], true);
    s.encodeHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
    expect(cb.kinds()).toEqual(["reqHeaders"]);
    await until(() => cb.events.some((e) => e.ev === "respData" && e.end));
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "respData"]);
    expect(cb.events[2]).toEqual({ ev: "respData", data: "event: error\ndata: {}\n\n", end: true });
    s.complete();
  });

  it("upstream Envoy does not load a module importing inject_encoded_data_to_filter_chain", async () => {
    await expect(load("inject", "envoy")).rejects.toThrow(PluginLoadError);
    await expect(load("inject", "envoy")).rejects.toThrow(/missing import: env\.proxy_inject_encoded_data_to_filter_chain/);
  });
});
