// Ending a response that already streams to the client, from outside its callbacks (the tick),
// not as a clean end. What a filter can do there depends on the host (read from their sources):
//
// - Upstream Envoy (source/extensions/common/wasm/context.cc): proxy_close_stream(Response) is
//   Context::closeStream → encoder_callbacks_->resetStream() (deferred after the VM call): the
//   client sees a broken transfer (HTTP/1.1: the connection closes before the last chunk;
//   HTTP/2: RST_STREAM). No data can be added: set_buffer_bytes on the response body outside a
//   body callback reaches no buffer the client gets (getBuffer: response_body_buffer_ is cleared
//   when a body callback continues, and nothing would push it downstream), and
//   send_local_response after the headers went downstream resets the stream too
//   (source/common/http/filter_manager.cc DownstreamFilterManager::sendLocalReply: "Prior headers
//   have already been sent").
// - Higress's fork adds proxy_inject_encoded_data_to_filter_chain(data, size, end_stream)
//   (higress-group/proxy-wasm-cpp-host src/exports.cc → Context::injectEncodedDataToFilterChain,
//   registered for every ABI version): the data enters the encoder chain after this filter
//   (filter_manager.cc ActiveStreamEncoderFilter::injectEncodedDataToFilterChain), end_stream
//   ends the response, and the router's upstream request is reset with the stream. Only the
//   Higress build imports it (host/higress_inject.ts, registered by assembly/entry_higress.ts): a
//   module importing it does not load in upstream Envoy.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";

/** Sends bytes after the filter, into the response a client is getting (null: the host cannot). */
export abstract class ResponseInjector {
  /** `data` goes to the client after everything sent so far; `endStream` ends the response. True when the host took it. */
  abstract inject(data: Uint8Array, endStream: bool): bool;
}

let injector: ResponseInjector | null = null;

/** The Higress build's entry registers Higress's injection (start section: no host call). */
export function registerResponseInjector(i: ResponseInjector): void {
  injector = i;
}

/**
 * Ends the current (effective) stream's response, never as a clean end: with `event` and the end
 * where the host can inject data (the Higress build), else by a reset (close_stream). True when
 * the event went.
 */
export function endResponseWith(event: Uint8Array): bool {
  const i = injector;
  if (i !== null && i.inject(event, true)) return true;
  imp.proxy_close_stream(1);
  return false;
}
