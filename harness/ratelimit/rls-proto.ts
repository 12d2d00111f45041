/**
 * envoy.service.ratelimit.v3 messages on the wire, written by hand from the .proto files
 * (envoyproxy/data-plane-api envoy/service/ratelimit/v3/rls.proto and
 * envoy/extensions/common/ratelimit/v3/ratelimit.proto): same package, service and field numbers,
 * so the bytes are what Envoy's ratelimit filter and envoyproxy/ratelimit exchange.
 *
 *   RateLimitRequest   { string domain = 1; repeated RateLimitDescriptor descriptors = 2; uint32 hits_addend = 3; }
 *   RateLimitDescriptor { repeated Entry entries = 1; RateLimitOverride limit = 2;
 *                         google.protobuf.UInt64Value hits_addend = 3; }
 *     Entry { string key = 1; string value = 2; }   RateLimitOverride { uint32 requests_per_unit = 1; Unit unit = 2; }
 *   RateLimitResponse  { Code overall_code = 1; repeated DescriptorStatus statuses = 2;
 *                        repeated HeaderValue response_headers_to_add = 3; repeated HeaderValue request_headers_to_add = 4;
 *                        bytes raw_body = 5; … }
 *     DescriptorStatus { Code code = 1; RateLimit current_limit = 2; uint32 limit_remaining = 3;
 *                        google.protobuf.Duration duration_until_reset = 4; }
 *     RateLimit { uint32 requests_per_unit = 1; Unit unit = 2; string name = 3; }
 *     HeaderValue { string key = 1; string value = 2; }
 * Fields the harness does not use (quota, dynamic_metadata) are skipped when reading, never written.
 */
import { durationMs, ProtoWriter, readFields, text, WIRE, writeDuration } from "../proto/wire.ts";

export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const RLS_METHOD = "ShouldRateLimit";
export const RLS_PATH = `/${RLS_SERVICE}/${RLS_METHOD}`;

export const Code = { UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 } as const;
export type CodeName = keyof typeof Code;

/** RateLimitResponse.RateLimit.Unit (WEEK = 7 was added after YEAR = 6). */
export const Unit = { UNKNOWN: 0, SECOND: 1, MINUTE: 2, HOUR: 3, DAY: 4, MONTH: 5, YEAR: 6, WEEK: 7 } as const;
export type UnitName = keyof typeof Unit;

export interface Descriptor {
  entries: Array<{ key: string; value: string }>;
  limit?: { requestsPerUnit: number; unit: number };
  /** The per-descriptor google.protobuf.UInt64Value: present (even 0) overrides the request's. */
  hitsAddend?: number;
}

export interface RateLimitRequest {
  domain: string;
  descriptors: Descriptor[];
  /** 0 (unset) counts as 1. */
  hitsAddend: number;
}

export interface DescriptorStatus {
  code: number;
  currentLimit?: { requestsPerUnit: number; unit: number; name: string };
  limitRemaining: number;
  /** duration_until_reset in ms (whole seconds from envoyproxy/ratelimit). */
  durationUntilResetMs?: number;
}

export interface RateLimitResponse {
  overallCode: number;
  statuses: DescriptorStatus[];
  responseHeadersToAdd: Array<[string, string]>;
  requestHeadersToAdd: Array<[string, string]>;
  rawBody: Uint8Array;
}

const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

export function encodeRequest(r: RateLimitRequest): Uint8Array {
  const w = new ProtoWriter().string(1, r.domain);
  for (const d of r.descriptors) {
    w.message(2, (dw) => {
      for (const e of d.entries) dw.message(1, (ew) => ew.string(1, e.key).string(2, e.value));
      if (d.limit) dw.message(2, (lw) => lw.uint(1, d.limit!.requestsPerUnit).uint(2, d.limit!.unit));
      if (d.hitsAddend !== undefined) dw.message(3, (hw) => hw.uint(1, d.hitsAddend!));
    });
  }
  return w.uint(3, r.hitsAddend).bytes();
}

function decodeDescriptor(data: Uint8Array): Descriptor {
  const d: Descriptor = { entries: [] };
  for (const f of readFields(data)) {
    if (f.field === 1 && f.wire === WIRE.LEN) {
      const e = { key: "", value: "" };
      for (const g of readFields(f.data)) {
        if (g.field === 1 && g.wire === WIRE.LEN) e.key = text(g.data);
        if (g.field === 2 && g.wire === WIRE.LEN) e.value = text(g.data);
      }
      d.entries.push(e);
    } else if (f.field === 2 && f.wire === WIRE.LEN) {
      const l = { requestsPerUnit: 0, unit: 0 };
      for (const g of readFields(f.data)) {
        if (g.field === 1 && g.wire === WIRE.VARINT) l.requestsPerUnit = u32(g.value);
        if (g.field === 2 && g.wire === WIRE.VARINT) l.unit = u32(g.value);
      }
      d.limit = l;
    } else if (f.field === 3 && f.wire === WIRE.LEN) {
      let v = 0n;
      for (const g of readFields(f.data)) if (g.field === 1 && g.wire === WIRE.VARINT) v = g.value;
      d.hitsAddend = Number(v);
    }
  }
  return d;
}

export function decodeRequest(bytes: Uint8Array): RateLimitRequest {
  const r: RateLimitRequest = { domain: "", descriptors: [], hitsAddend: 0 };
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === WIRE.LEN) r.domain = text(f.data);
    else if (f.field === 2 && f.wire === WIRE.LEN) r.descriptors.push(decodeDescriptor(f.data));
    else if (f.field === 3 && f.wire === WIRE.VARINT) r.hitsAddend = u32(f.value);
  }
  return r;
}

function writeHeaderValues(w: ProtoWriter, field: number, headers: Array<[string, string]>): void {
  for (const [k, v] of headers) w.message(field, (hw) => hw.string(1, k).string(2, v));
}

export function encodeResponse(r: RateLimitResponse): Uint8Array {
  const w = new ProtoWriter().uint(1, r.overallCode);
  for (const s of r.statuses) {
    w.message(2, (sw) => {
      sw.uint(1, s.code);
      if (s.currentLimit) {
        const l = s.currentLimit;
        sw.message(2, (lw) => lw.uint(1, l.requestsPerUnit).uint(2, l.unit).string(3, l.name));
      }
      sw.uint(3, s.limitRemaining);
      if (s.durationUntilResetMs !== undefined) {
        const ms = s.durationUntilResetMs;
        writeDuration(sw, 4, Math.floor(ms / 1000), (ms % 1000) * 1e6);
      }
    });
  }
  writeHeaderValues(w, 3, r.responseHeadersToAdd);
  writeHeaderValues(w, 4, r.requestHeadersToAdd);
  return w.raw(5, r.rawBody).bytes();
}

function decodeHeaderValue(data: Uint8Array): [string, string] {
  let k = "";
  let v = "";
  for (const g of readFields(data)) {
    if (g.field === 1 && g.wire === WIRE.LEN) k = text(g.data);
    if (g.field === 2 && g.wire === WIRE.LEN) v = text(g.data);
  }
  return [k, v];
}

export function decodeResponse(bytes: Uint8Array): RateLimitResponse {
  const r: RateLimitResponse = { overallCode: 0, statuses: [], responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: new Uint8Array(0) };
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === WIRE.VARINT) r.overallCode = u32(f.value);
    else if (f.field === 2 && f.wire === WIRE.LEN) {
      const s: DescriptorStatus = { code: 0, limitRemaining: 0 };
      for (const g of readFields(f.data)) {
        if (g.field === 1 && g.wire === WIRE.VARINT) s.code = u32(g.value);
        else if (g.field === 2 && g.wire === WIRE.LEN) {
          const l = { requestsPerUnit: 0, unit: 0, name: "" };
          for (const h of readFields(g.data)) {
            if (h.field === 1 && h.wire === WIRE.VARINT) l.requestsPerUnit = u32(h.value);
            if (h.field === 2 && h.wire === WIRE.VARINT) l.unit = u32(h.value);
            if (h.field === 3 && h.wire === WIRE.LEN) l.name = text(h.data);
          }
          s.currentLimit = l;
        } else if (g.field === 3 && g.wire === WIRE.VARINT) s.limitRemaining = u32(g.value);
        else if (g.field === 4 && g.wire === WIRE.LEN) s.durationUntilResetMs = durationMs(g.data);
      }
      r.statuses.push(s);
    } else if (f.field === 3 && f.wire === WIRE.LEN) r.responseHeadersToAdd.push(decodeHeaderValue(f.data));
    else if (f.field === 4 && f.wire === WIRE.LEN) r.requestHeadersToAdd.push(decodeHeaderValue(f.data));
    else if (f.field === 5 && f.wire === WIRE.LEN) r.rawBody = f.data;
  }
  return r;
}
