/**
 * A plain gRPC client for the rate limit service (tests and tools; the filter calls it through
 * proxy_grpc_call instead): one ShouldRateLimit over h2c.
 *
 *   const r = await shouldRateLimit(rls.url, { domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }] }], hitsAddend: 0 });
 *   r.status; r.message; r.response?.overallCode
 */
import http2 from "node:http2";
import { grpcFrame, grpcFrames, grpcStatusOf, GrpcStatus } from "../proto/grpc.ts";
import { decodeResponse, encodeRequest, RLS_PATH, type RateLimitRequest, type RateLimitResponse } from "./rls-proto.ts";

export interface RlsResult {
  status: number;
  message: string;
  response?: RateLimitResponse;
}

export function shouldRateLimit(url: string, request: RateLimitRequest, opts: { timeoutMs?: number; session?: http2.ClientHttp2Session } = {}): Promise<RlsResult> {
  return new Promise((resolve, reject) => {
    const session = opts.session ?? http2.connect(url);
    const own = !opts.session;
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST", ":path": RLS_PATH, "content-type": "application/grpc", te: "trailers",
      ...(opts.timeoutMs ? { "grpc-timeout": `${opts.timeoutMs}m` } : {}),
    });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (h) => (trailers = h));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("close", () => {
      if (own) session.close();
      const end = Object.keys(trailers).length > 0 ? trailers : headers;
      const status = grpcStatusOf(end["grpc-status"] as string | undefined) ?? GrpcStatus.Unknown;
      const frames = grpcFrames(new Uint8Array(Buffer.concat(chunks)));
      resolve({
        status,
        message: decodeURIComponent(String(end["grpc-message"] ?? "")),
        response: status === 0 && frames[0] ? decodeResponse(frames[0].data) : undefined,
      });
    });
    stream.end(grpcFrame(encodeRequest(request)));
  });
}
