// What an answer says as it passes: usage, what a stream carried (content events and text, for
// an estimate when no usage comes), whether it completed, how its transfer ended, and the
// usage-only event the gateway asked for and the client did not. Pure: bytes in, bytes out.

import { concat, utf8 } from "../lib/bytes";
import { SseStripper } from "../lib/sse";
import { SHAPE_CHOICES, SHAPE_TYPED, StreamEvents } from "../lib/stream_events";
import { Usage, UsageScanner } from "../lib/usage";
import { ApiKind } from "../provider/api";

const STREAM_INCOMPLETE = utf8("event: error\ndata: {\"error\":{\"message\":\"the provider's stream ended before the response was complete\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_incomplete\"}}\n\n");

/**
 * How an answer's transfer to the client ended, as the access log (`stream=`) and the requests
 * metric (`status_class`) tell it.
 */
export const enum StreamEnd {
  /** It ended as it should (a stream carried its finish, or an answer that is not a stream ended). */
  Whole = 0,
  /**
   * Cut short: a stream that ended cleanly without its finish (the client got the
   * upstream_stream_incomplete event), or a success answer whose transfer broke after its
   * headers (the upstream reset, a timeout): the client saw a broken transfer.
   */
  Cut = 1,
  /** Given up by the gateway because the provider stopped sending (markStalled). */
  Stalled = 2,
  /** The client went away before the answer ended (Envoy: downstream_remote_disconnect). */
  ClientGone = 3,
}

/** Envoy's response code details when the client closed its connection (conn_manager_impl.cc). */
const CLIENT_DISCONNECT = "downstream_remote_disconnect";

/** Chat Completions and Completions read their choices; the other APIs their events' types. */
function shapeOf(api: ApiKind): i32 {
  return api == ApiKind.ChatCompletions || api == ApiKind.Completions ? SHAPE_CHOICES : SHAPE_TYPED;
}

/** Media types are case-insensitive (RFC 9110): `Text/Event-Stream` is an event stream too. */
function isEventStream(contentType: string | null): bool {
  if (contentType === null) return false;
  const t = contentType.trimStart();
  return t.length >= 17 && t.substring(0, 17).toLowerCase() == "text/event-stream";
}

export class ResponseScan {
  /** The usage of an answer that is not an event stream (a stream's: its StreamEvents'). */
  private scanner: UsageScanner = new UsageScanner();
  /** What the stream carried (null: the answer is not a stream). */
  events: StreamEvents | null = null;
  bytes: i64 = 0;
  private stripper: SseStripper | null = null;
  /** Set when a stream ended cleanly but unfinished (the client got an error event after it). */
  cutShort: bool = false;
  /** The answer went on to the client in-band (start), with this status. */
  private started: bool = false;
  private status: i32 = 0;
  /** The answer reached its end_of_stream (or had no body). */
  ended: bool = false;
  private stalled: bool = false;

  /**
   * An answer starts streaming to the client. Returns true when its bytes will be changed
   * (the usage event is stripped), so its content-length must go.
   */
  start(api: ApiKind, status: i32, contentType: string | null, stripUsage: bool): bool {
    this.started = true;
    this.status = status;
    if (!isEventStream(contentType) || status != 200) return false;
    this.events = new StreamEvents(shapeOf(api));
    if (stripUsage) this.stripper = new SseStripper();
    return stripUsage;
  }

  /** One chunk on its way to the client; returns what to send instead (the chunk itself when unchanged). */
  chunk(chunk: Uint8Array, endOfStream: bool): Uint8Array {
    this.bytes += chunk.length;
    const events = this.events;
    if (events !== null) events.feed(chunk);
    else this.scanner.feed(chunk);
    const stripper = this.stripper;
    let out = chunk;
    if (stripper !== null) out = stripper.feed(chunk, endOfStream);
    if (endOfStream) {
      this.ended = true;
      if (events !== null && !events.complete) {
        // The provider ended the stream cleanly but unfinished: say so instead of a silent end.
        out = concat(out, STREAM_INCOMPLETE);
        this.cutShort = true;
      }
    }
    return out;
  }

  /**
   * A whole answer at once (a failover attempt's, through http_call): accounted like a streamed
   * one; returns the body for the client (the usage event stripped when `stripUsage`, in place:
   * a view of `body`'s first bytes; the error event appended to a stream that did not finish).
   */
  whole(api: ApiKind, body: Uint8Array, contentType: string | null, stripUsage: bool): Uint8Array {
    this.bytes += body.length;
    this.ended = true;
    if (!isEventStream(contentType)) {
      this.scanner.feed(body);
      return body;
    }
    const ev = new StreamEvents(shapeOf(api));
    ev.feed(body);
    this.events = ev;
    const out = stripUsage ? body.subarray(0, new SseStripper().stripWhole(body)) : body;
    if (ev.complete) return out;
    this.cutShort = true;
    return concat(out, STREAM_INCOMPLETE);
  }

  /**
   * One window of a whole answer read in pieces, only to be accounted (an answer not passed on):
   * `first` starts it. Nothing is stripped or returned.
   */
  window(api: ApiKind, chunk: Uint8Array, contentType: string | null, first: bool): void {
    this.bytes += chunk.length;
    if (first) this.events = isEventStream(contentType) ? new StreamEvents(shapeOf(api)) : null;
    const ev = this.events;
    if (ev !== null) ev.feed(chunk);
    else this.scanner.feed(chunk);
  }

  /**
   * The stream carried more than a content-free preamble (a role delta, Azure's
   * prompt_filter_results frame, the Responses API's response.created): a content event, its
   * end or its usage. What a stream's first token is (plugin/request/response.ts holds a stream until then).
   */
  get pastPreamble(): bool {
    const ev = this.events;
    return ev !== null && (ev.events > 0 || ev.complete || ev.usage.found);
  }

  /** The usage the provider reported (found: false when none). */
  get usage(): Usage {
    const ev = this.events;
    return ev !== null ? ev.usage : this.scanner;
  }

  /**
   * The gateway gave the answer up because the provider stopped sending (the stall timeout):
   * recorded as StreamEnd.Stalled, charged like a cut answer.
   */
  markStalled(): void {
    this.stalled = true;
  }

  /**
   * Would this answer's end need the host's response code details to be told (a success answer
   * that went to the client and never reached its end)? Then `end(details)`; else `end("")`.
   */
  get needsDetails(): bool {
    return this.started && !this.ended && !this.stalled && !this.cutShort && this.status >= 200 && this.status < 300;
  }

  /** How the answer's transfer ended (at on_log). `details`: Envoy's response.code_details when needsDetails. */
  end(details: string): StreamEnd {
    if (this.stalled) return StreamEnd.Stalled;
    if (this.cutShort) return StreamEnd.Cut;
    if (!this.needsDetails) return StreamEnd.Whole;
    return details == CLIENT_DISCONNECT ? StreamEnd.ClientGone : StreamEnd.Cut;
  }

  /**
   * The output a stream carried, estimated (-1: not a stream): a token per content event, or a
   * token per 4 bytes of content text when that is more (a provider that sends several tokens
   * an event).
   */
  get streamedOutput(): i64 {
    const ev = this.events;
    if (ev === null) return -1;
    const byBytes = (ev.contentBytes + 3) / 4;
    return byBytes > <i64>ev.events ? byBytes : <i64>ev.events;
  }
}
