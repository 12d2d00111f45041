/**
 * gRPC over HTTP/2 details shared by the host's proxy_grpc_call and the harness's gRPC servers
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md; Envoy's source/common/grpc/common.cc
 * and status.cc for the parts Envoy decides).
 */

/** google.rpc.Code / grpc-status values. InvalidCode is what Envoy reports for an unparsable grpc-status. */
export const GrpcStatus = {
  Ok: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, AlreadyExists: 6,
  PermissionDenied: 7, ResourceExhausted: 8, FailedPrecondition: 9, Aborted: 10, OutOfRange: 11,
  Unimplemented: 12, Internal: 13, Unavailable: 14, DataLoss: 15, Unauthenticated: 16,
  /** Envoy's WellKnownGrpcStatus::InvalidCode (-1), seen by a module as 0xffffffff. */
  InvalidCode: -1,
} as const;

/** One length-prefixed message: flags 0 (uncompressed), 4-byte big-endian length (Common::prependGrpcFrameHeader). */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

export interface GrpcFrame {
  flags: number;
  data: Uint8Array;
}

/** Complete frames in `body` (a trailing partial frame is left out, as Envoy's decoder holds it). */
export function grpcFrames(body: Uint8Array): GrpcFrame[] {
  const frames: GrpcFrame[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (at + 5 + len > body.length) break;
    frames.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return frames;
}

/** Envoy's Grpc::Common::toGrpcTimeout: milliseconds, then S/M/H once over 8 digits. */
export function toGrpcTimeout(ms: number): string {
  const MAX = 99_999_999;
  let time = ms;
  const units = "mSMH";
  let u = 0;
  if (time > MAX) {
    time = Math.floor(time / 1000);
    u++;
  }
  while (time > MAX) {
    if (units[u] === "H") time = MAX;
    else {
      time = Math.floor(time / 60);
      u++;
    }
  }
  return `${time}${units[u]}`;
}

/** grpc-timeout → ms (n, S, M, H, m, u units); undefined if absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  const m = value?.match(/^(\d{1,8})([HMSmun])$/);
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return n * scale[m[2]!]!;
}

/** Envoy's Grpc::Utility::httpToGrpcStatus (source/common/grpc/status.cc). */
export function httpToGrpcStatus(http: number): number {
  switch (http) {
    case 400: return GrpcStatus.Internal;
    case 401: return GrpcStatus.Unauthenticated;
    case 403: return GrpcStatus.PermissionDenied;
    case 404: return GrpcStatus.Unimplemented;
    case 429: case 502: case 503: case 504: return GrpcStatus.Unavailable;
    default: return GrpcStatus.Unknown;
  }
}

/** Envoy's Grpc::Common::getGrpcStatus: absent → undefined; not a number or over 16 → InvalidCode. */
export function grpcStatusOf(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) return GrpcStatus.InvalidCode;
  const n = Number(value);
  return n > GrpcStatus.Unauthenticated ? GrpcStatus.InvalidCode : n;
}

/** gRPC's percent-encoding of grpc-message (bytes outside 0x20–0x7e, and '%'). */
export function percentEncode(message: string): string {
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  }
  return out;
}
