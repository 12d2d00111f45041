// What an answer says as it passes: usage, streamed content events (for an estimate when no
// usage comes), whether a stream completed, and the usage-only event the gateway asked for and
// the client did not. Pure: bytes in, bytes out.

import { concat, utf8 } from "../lib/bytes";
import { Needle } from "../lib/needle";
import { SseLine, SseStripper } from "../lib/sse";
import { UsageScanner } from "../lib/usage";
import { ApiKind } from "../provider/api";

const STREAM_INCOMPLETE = utf8("event: error\ndata: {\"error\":{\"message\":\"the provider's stream ended before the response was complete\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_incomplete\"}}\n\n");

function contentEvents(api: ApiKind): Needle {
  return new Needle(api == ApiKind.Responses ? "response.output_text.delta" : "\"delta\":{\"content\":\"");
}

/** Media types are case-insensitive (RFC 9110): `Text/Event-Stream` is an event stream too. */
function isEventStream(contentType: string | null): bool {
  if (contentType === null) return false;
  const t = contentType.trimStart();
  return t.length >= 17 && t.substring(0, 17).toLowerCase() == "text/event-stream";
}

export class ResponseScan {
  readonly usage: UsageScanner = new UsageScanner();
  /** Streamed content events (null: the answer is not a stream). */
  events: Needle | null = null;
  bytes: i64 = 0;
  /** A stream's terminal events: completed, and (Responses API) incomplete / failed. */
  private done: SseLine | null = null;
  private doneIncomplete: SseLine | null = null;
  private doneFailed: SseLine | null = null;
  private stripper: SseStripper | null = null;
  /** Set when a stream ended cleanly but unfinished (the client got an error event instead). */
  cutShort: bool = false;

  /**
   * An answer starts streaming to the client. Returns true when its bytes will be changed
   * (the usage event is stripped), so its content-length must go.
   */
  start(api: ApiKind, status: i32, contentType: string | null, stripUsage: bool): bool {
    if (!isEventStream(contentType) || status != 200) return false;
    // Anchored at a line start: a raw line break cannot occur inside the JSON of an event, so
    // generated text that mentions these words never counts as the end.
    this.done = api == ApiKind.Responses ? new SseLine("event", "response.completed") : new SseLine("data", "[DONE]");
    if (api == ApiKind.Responses) {
      this.doneIncomplete = new SseLine("event", "response.incomplete");
      this.doneFailed = new SseLine("event", "response.failed");
    }
    this.events = contentEvents(api);
    if (stripUsage) this.stripper = new SseStripper();
    return stripUsage;
  }

  /** One chunk on its way to the client; returns what to send instead (the chunk itself when unchanged). */
  chunk(chunk: Uint8Array, endOfStream: bool): Uint8Array {
    this.bytes += chunk.length;
    this.usage.feed(chunk);
    const events = this.events;
    if (events !== null) events.feed(chunk);
    const done = this.done;
    if (done !== null) done.feed(chunk);
    const stripper = this.stripper;
    let out = chunk;
    if (stripper !== null) out = stripper.feed(chunk, endOfStream);
    const di = this.doneIncomplete;
    const df = this.doneFailed;
    if (di !== null) di.feed(chunk);
    if (df !== null) df.feed(chunk);
    const ended = (done !== null && done.found) || (di !== null && di.found) || (df !== null && df.found);
    if (endOfStream && done !== null && !ended) {
      // The provider ended the stream cleanly but unfinished: say so instead of a silent end.
      out = concat(out, STREAM_INCOMPLETE);
      this.cutShort = true;
    }
    return out;
  }

  /**
   * A whole answer at once (a failover attempt's, through http_call): accounted like a streamed
   * one; returns the body for the client (the usage event stripped when `stripUsage`, in place:
   * a view of `body`'s first bytes).
   */
  whole(api: ApiKind, body: Uint8Array, contentType: string | null, stripUsage: bool): Uint8Array {
    this.usage.feed(body);
    this.bytes += body.length;
    if (!isEventStream(contentType)) return body;
    const ev = contentEvents(api);
    ev.feed(body);
    this.events = ev;
    return stripUsage ? body.subarray(0, new SseStripper().stripWhole(body)) : body;
  }

  /**
   * One window of a whole answer read in pieces, only to be accounted (an answer not passed on):
   * `first` starts it. Nothing is stripped or returned.
   */
  window(api: ApiKind, chunk: Uint8Array, contentType: string | null, first: bool): void {
    this.usage.feed(chunk);
    this.bytes += chunk.length;
    if (first) this.events = isEventStream(contentType) ? contentEvents(api) : null;
    const ev = this.events;
    if (ev !== null) ev.feed(chunk);
  }

  /**
   * The stream carried more than a content-free preamble (a role delta, Azure's
   * prompt_filter_results frame): a content event, its end ([DONE], a terminal event) or its
   * usage. What a stream's first token is (plugin/response.ts holds a stream until then).
   */
  get pastPreamble(): bool {
    if (this.eventCount > 0 || this.usage.found) return true;
    const done = this.done;
    const di = this.doneIncomplete;
    const df = this.doneFailed;
    return (done !== null && done.found) || (di !== null && di.found) || (df !== null && df.found);
  }

  /** Content events counted, or -1 when the answer was not a stream. */
  get eventCount(): i64 {
    const ev = this.events;
    return ev !== null ? <i64>ev.count : -1;
  }
}
