// envoy.service.ratelimit.v3 ShouldRateLimit messages, written from rls.proto and ratelimit.proto
// (envoyproxy/data-plane-api): what the filter sends to envoyproxy/ratelimit and reads back.
//
//   RateLimitRequest   { string domain = 1; repeated RateLimitDescriptor descriptors = 2; uint32 hits_addend = 3; }
//   RateLimitDescriptor { repeated Entry entries = 1; RateLimitOverride limit = 2; google.protobuf.UInt64Value hits_addend = 3; }
//     Entry { string key = 1; string value = 2; }   RateLimitOverride { uint32 requests_per_unit = 1; RateLimitUnit unit = 2; }
//   RateLimitResponse  { Code overall_code = 1; repeated DescriptorStatus statuses = 2; … }
//     DescriptorStatus { Code code = 1; RateLimit current_limit = 2; uint32 limit_remaining = 3;
//                        google.protobuf.Duration duration_until_reset = 4; }
// Pure: the bytes only (test/unit/rls-proto.test.ts checks them against harness/ratelimit's codec).

import { ProtoReader, ProtoWriter, WIRE_LEN, WIRE_VARINT } from "../lib/protobuf";

export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const RLS_METHOD = "ShouldRateLimit";

export const enum RlsCode { Unknown = 0, Ok = 1, OverLimit = 2 }

/** envoy.type.v3.RateLimitUnit (the service casts it to RateLimitResponse.RateLimit.Unit: same numbers). */
export const RLS_UNIT_SECOND: u32 = 1;

/**
 * The length of a RateLimitResponse.RateLimit.Unit's window in ms (envoyproxy/ratelimit
 * src/utils/utilities.go UnitToDivider: SECOND 1, MINUTE 2, HOUR 3, DAY 4, MONTH 5 = 30 days,
 * YEAR 6 = 365 days, WEEK 7); 0 for UNKNOWN or a number it does not know.
 */
export function unitMs(unit: i32): i64 {
  switch (unit) {
    case 1: return 1000;
    case 2: return 60_000;
    case 3: return 3_600_000;
    case 4: return 86_400_000;
    case 5: return 2_592_000_000;
    case 6: return 31_536_000_000;
    case 7: return 604_800_000;
  }
  return 0;
}

/** One descriptor: its entries (key, value pairs), the hits it adds and, optionally, its own limit. */
export class RlsDescriptor {
  keys: string[] = [];
  values: string[] = [];
  /** RateLimitOverride: the limit the service applies instead of its YAML's (unit 0: none sent). */
  overrideUnit: u32 = 0;
  overridePerUnit: u32 = 0;
  constructor(public hits: u64) {}
  entry(key: string, value: string): RlsDescriptor {
    this.keys.push(key);
    this.values.push(value);
    return this;
  }
  /** Sends the limit with the descriptor (envoyproxy/ratelimit GetLimit uses it when the domain is known). */
  limit(perUnit: u32, unit: u32): RlsDescriptor {
    this.overridePerUnit = perUnit;
    this.overrideUnit = unit;
    return this;
  }
}

/**
 * RateLimitRequest bytes. Each descriptor carries its own hits_addend (a UInt64Value, so 0 is
 * "check only" rather than the request's default of 1).
 */
export function encodeRateLimitRequest(domain: string, descriptors: RlsDescriptor[]): Uint8Array {
  const w = new ProtoWriter().string(1, domain);
  for (let i = 0; i < descriptors.length; i++) {
    const d = unchecked(descriptors[i]);
    const dw = new ProtoWriter();
    for (let k = 0; k < d.keys.length; k++) {
      dw.message(1, new ProtoWriter().string(1, unchecked(d.keys[k])).string(2, unchecked(d.values[k])));
    }
    if (d.overrideUnit != 0) dw.message(2, new ProtoWriter().uint(1, <u64>d.overridePerUnit).uint(2, <u64>d.overrideUnit));
    dw.message(3, new ProtoWriter().uint(1, d.hits));
    w.message(2, dw);
  }
  return w.finish();
}

export class RlsStatus {
  code: i32 = 0;
  /** The descriptor has a limit (current_limit present); without one it is not limited. */
  limited: bool = false;
  limit: u32 = 0;
  unit: i32 = 0;
  remaining: u32 = 0;
  /** duration_until_reset in ms (-1: absent). */
  resetMs: i64 = -1;
}

export class RlsResponse {
  /** False when the bytes are not a RateLimitResponse. */
  ok: bool = false;
  overall: i32 = 0;
  statuses: RlsStatus[] = [];
}

function readDuration(r: ProtoReader): i64 {
  let s: i64 = 0;
  let ns: i64 = 0;
  while (r.next()) {
    if (r.wire != WIRE_VARINT) continue;
    if (r.field == 1) s = <i64>r.value;
    else if (r.field == 2) ns = <i64>(<i32>r.value);
  }
  return s * 1000 + ns / 1000000;
}

function readStatus(r: ProtoReader): RlsStatus | null {
  const s = new RlsStatus();
  while (r.next()) {
    if (r.field == 1 && r.wire == WIRE_VARINT) s.code = <i32>r.value;
    else if (r.field == 2 && r.wire == WIRE_LEN) {
      s.limited = true;
      const l = r.sub();
      while (l.next()) {
        if (l.wire != WIRE_VARINT) continue;
        if (l.field == 1) s.limit = <u32>l.value;
        else if (l.field == 2) s.unit = <i32>l.value;
      }
      if (!l.ok) return null;
    } else if (r.field == 3 && r.wire == WIRE_VARINT) s.remaining = <u32>r.value;
    else if (r.field == 4 && r.wire == WIRE_LEN) {
      const d = r.sub();
      s.resetMs = readDuration(d);
      if (!d.ok) return null;
    }
  }
  return r.ok ? s : null;
}

/** Reads a RateLimitResponse; fields the filter does not use (headers, body, metadata, quota) are skipped. */
export function decodeRateLimitResponse(bytes: Uint8Array): RlsResponse {
  const out = new RlsResponse();
  const r = new ProtoReader(bytes);
  while (r.next()) {
    if (r.field == 1 && r.wire == WIRE_VARINT) out.overall = <i32>r.value;
    else if (r.field == 2 && r.wire == WIRE_LEN) {
      const s = readStatus(r.sub());
      if (s === null) return out;
      out.statuses.push(s);
    }
  }
  out.ok = r.ok;
  return out;
}
