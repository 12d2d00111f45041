/** Per-direction filter-manager state of one stream (request = decoder, response = encoder). */
import { EMPTY } from "./bytes.ts";
import { BodyBuffer, type HostBuffer } from "./context.ts";
import type { HeaderMap } from "./header-map.ts";

export interface DirectionSpec {
  kind: "request" | "response";
  headersFn: string;
  bodyFn: string;
  trailersFn: string;
  headersMap: number;
  trailersMap: number;
  bodyType: number;
}

export const REQUEST: DirectionSpec = {
  kind: "request",
  headersFn: "proxy_on_request_headers",
  bodyFn: "proxy_on_request_body",
  trailersFn: "proxy_on_request_trailers",
  headersMap: 0,
  trailersMap: 1,
  bodyType: 0,
};

export const RESPONSE: DirectionSpec = {
  kind: "response",
  headersFn: "proxy_on_response_headers",
  bodyFn: "proxy_on_response_body",
  trailersFn: "proxy_on_response_trailers",
  headersMap: 2,
  trailersMap: 3,
  bodyType: 1,
};

export class Direction {
  /** The header map (kept until passed downstream). */
  headers: HeaderMap | null = null;
  /** Header window: the filter may read/write `headers`. */
  headersOpen = false;
  headersEos = false;
  headersPassed = false;
  /** Headers returned a stop (StopIteration or StopAll*) and were not continued yet. */
  headersStopped = false;
  /** StopAllIteration*: body/trailers are held back from the filter until continue. */
  stoppedAll = false;
  stopAllBuffer = false;
  held: Uint8Array = EMPTY;
  heldEos = false;
  heldTrailers: HeaderMap | null = null;
  /** Data the filter has seen and the filter manager buffers (StopIterationAndBuffer/Watermark). */
  readonly fm = new BodyBuffer();
  /** The previous body callback returned StopIterationAndBuffer. */
  bufferingBody = false;
  dataStopped = false;
  /** Body window (request_body_buffer_ / response_body_buffer_). */
  body: HostBuffer | null = null;
  trailers: HeaderMap | null = null;
  trailersOpen = false;
  trailersStopped = false;
  /** In a body callback with end_stream and no trailers: trailers may be added (Envoy addDecodedTrailers). */
  mayAddTrailers = false;
  eosIn = false;
  ended = false;
  /** No more filter processing in this direction (local reply, reset). */
  aborted = false;

  constructor(readonly spec: DirectionSpec) {}

  paused(): boolean {
    return !this.ended && !this.aborted && (this.headersStopped || this.dataStopped || this.trailersStopped);
  }

  closeWindows(): void {
    this.headersOpen = false;
    this.body = null;
    this.trailersOpen = false;
  }
}
