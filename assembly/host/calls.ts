// Thin, non-aborting adapters over the proxy-wasm imports. Every function returns the
// host's result instead of trapping: a header read outside its window is a normal case.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";
import { ByteBuilder } from "../lib/bytes";

export const enum Result {
  Ok = 0, NotFound = 1, BadArgument = 2, InvalidMemoryAccess = 6, Empty = 7, CasMismatch = 8, InternalFailure = 10,
}
export const enum MapType {
  RequestHeaders = 0, RequestTrailers = 1, ResponseHeaders = 2, ResponseTrailers = 3,
  HttpCallResponseHeaders = 6, HttpCallResponseTrailers = 7,
}
export const enum BufferType {
  RequestBody = 0, ResponseBody = 1, HttpCallResponseBody = 4, GrpcReceiveBuffer = 5, VmConfiguration = 6, PluginConfiguration = 7,
  /** Higress only: a redis call's reply (proxy_on_redis_call_response). */
  RedisCallResponse = 9,
}

// Return slots the host writes into: pointer, size, cas/u64.
const RET = memory.data(24);
const RET_PTR: usize = RET;
const RET_SIZE: usize = RET + 4;
const RET_AUX: usize = RET + 8;

/** Takes ownership of the buffer the host allocated through malloc (pinned) and unpins it. */
function takeReturned(): ArrayBuffer {
  const ptr = load<u32>(RET_PTR);
  const size = load<u32>(RET_SIZE);
  if (ptr == 0 || size == 0) return new ArrayBuffer(0);
  const buf = changetype<ArrayBuffer>(<usize>ptr);
  __unpin(<usize>ptr);
  return buf;
}

// Strings passed to the host are encoded into one reused buffer (the host copies what it needs
// during the call): no allocation per header name, value or shared-data key.
let SCRATCH = new ArrayBuffer(512);
/** The UTF-8 lengths of the strings the last encodeScratch wrote. */
let scratchA: usize = 0;
let scratchB: usize = 0;

/** `a`'s UTF-8 then `b`'s, back to back, in the scratch buffer; returns where `a` starts. */
function encodeScratch(a: string, b: string | null = null): usize {
  const na = <usize>String.UTF8.byteLength(a);
  const nb = b !== null ? <usize>String.UTF8.byteLength(b) : 0;
  if (<usize>SCRATCH.byteLength < na + nb) {
    let cap = <usize>SCRATCH.byteLength * 2;
    if (cap < na + nb) cap = na + nb;
    SCRATCH = new ArrayBuffer(<i32>cap);
  }
  const p = changetype<usize>(SCRATCH);
  String.UTF8.encodeUnsafe(changetype<usize>(a), a.length, p);
  if (b !== null) String.UTF8.encodeUnsafe(changetype<usize>(b), b.length, p + na);
  scratchA = na;
  scratchB = nb;
  return p;
}

function clearRet(): void {
  store<u64>(RET_PTR, 0);
  store<u64>(RET_AUX, 0);
}

// ---- headers

export function getHeader(map: MapType, name: string): string | null {
  const k = encodeScratch(name);
  clearRet();
  const r = imp.proxy_get_header_map_value(map, k, scratchA, RET_PTR, RET_SIZE);
  if (r != Result.Ok) return null;
  return String.UTF8.decode(takeReturned());
}

export function replaceHeader(map: MapType, name: string, value: string): u32 {
  const k = encodeScratch(name, value);
  return imp.proxy_replace_header_map_value(map, k, scratchA, k + scratchA, scratchB);
}

export function removeHeader(map: MapType, name: string): u32 {
  const k = encodeScratch(name);
  return imp.proxy_remove_header_map_value(map, k, scratchA);
}

/**
 * All pairs of a map in the proxy-wasm pairs format (u32 count, count × (u32 name size, u32 value
 * size), then each name and value NUL-terminated); null when unavailable or malformed. Walk it
 * with PairsReader.
 */
export function getHeaderPairsRaw(map: MapType): ArrayBuffer | null {
  clearRet();
  const r = imp.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE);
  if (r != Result.Ok) return null;
  const buf = takeReturned();
  const n = buf.byteLength;
  if (n < 4) return null;
  const count = load<u32>(changetype<usize>(buf));
  if (<u64>4 + <u64>count * 8 > <u64>n) return null;
  return buf;
}

/** Walks a pairs buffer (getHeaderPairsRaw) without decoding: name and value as pointer + size. */
export class PairsReader {
  private p: usize;
  private end: usize;
  private data: usize;
  private i: u32 = 0;
  private count: u32;
  name: usize = 0;
  nameLen: i32 = 0;
  value: usize = 0;
  valueLen: i32 = 0;
  constructor(buf: ArrayBuffer) {
    this.p = changetype<usize>(buf);
    this.end = this.p + <usize>buf.byteLength;
    this.count = load<u32>(this.p);
    this.data = this.p + 4 + <usize>this.count * 8;
  }
  /** The next pair; false at the end (or where the buffer is short). */
  next(): bool {
    if (this.i >= this.count) return false;
    const ks = load<u32>(this.p + 4 + <usize>this.i * 8);
    const vs = load<u32>(this.p + 8 + <usize>this.i * 8);
    if (this.data + <usize>ks + <usize>vs + 2 > this.end) {
      this.i = this.count;
      return false;
    }
    this.name = this.data;
    this.nameLen = <i32>ks;
    this.value = this.data + <usize>ks + 1;
    this.valueLen = <i32>vs;
    this.data += <usize>ks + <usize>vs + 2;
    this.i++;
    return true;
  }
  /** Is the current name `lower` (given in lower case), ASCII case-insensitively? */
  nameIs(lower: Uint8Array): bool {
    // Raw loads: a Uint8Array's length and index accessors are calls in this runtime.
    const n = lower.byteLength;
    if (n != this.nameLen) return false;
    const l = lower.dataStart;
    // Envoy's header maps keep names in lower case: an exact match first.
    if (memory.compare(this.name, l, <usize>n) == 0) return true;
    for (let k = 0; k < n; k++) {
      let c = load<u8>(this.name + <usize>k);
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c != load<u8>(l + <usize>k)) return false;
    }
    return true;
  }
  valueString(): string {
    return String.UTF8.decodeUnsafe(this.value, <usize>this.valueLen);
  }
  /** The value as one of `list` when its bytes are exactly `bytes[i]` (no decoding), else decoded. */
  valueOneOf(list: string[], bytes: Uint8Array[]): string {
    for (let i = 0; i < bytes.length; i++) {
      const b = unchecked(bytes[i]);
      if (b.length == this.valueLen && memory.compare(this.value, b.dataStart, <usize>b.length) == 0) return unchecked(list[i]);
    }
    return this.valueString();
  }
}

/** All pairs of a map as [name, value, name, value, …]; empty when unavailable. */
export function getHeaderPairs(map: MapType): string[] {
  const out = new Array<string>();
  const buf = getHeaderPairsRaw(map);
  if (buf === null) return out;
  const n = buf.byteLength;
  const p = changetype<usize>(buf);
  const count = load<u32>(p);
  let data = p + 4 + <usize>count * 8;
  const end = p + <usize>n;
  for (let i: u32 = 0; i < count; i++) {
    const ks = load<u32>(p + 4 + <usize>i * 8);
    const vs = load<u32>(p + 8 + <usize>i * 8);
    if (data + <usize>ks + <usize>vs + 2 > end) break;
    out.push(String.UTF8.decodeUnsafe(data, ks));
    data += <usize>ks + 1;
    out.push(String.UTF8.decodeUnsafe(data, vs));
    data += <usize>vs + 1;
  }
  return out;
}

/** Serializes [name, value, …] into the proxy-wasm pairs format. */
function serializePairs(kv: string[]): ArrayBuffer {
  const count = kv.length / 2;
  const b = new ByteBuilder(64 + kv.length * 16);
  b.u32le(<u32>count);
  for (let i = 0; i < count; i++) {
    b.u32le(<u32>String.UTF8.byteLength(unchecked(kv[2 * i])));
    b.u32le(<u32>String.UTF8.byteLength(unchecked(kv[2 * i + 1])));
  }
  for (let i = 0; i < count; i++) {
    b.str(unchecked(kv[2 * i])).byte(0);
    b.str(unchecked(kv[2 * i + 1])).byte(0);
  }
  return b.finish().buffer;
}

// ---- buffers

export function getBuffer(type: BufferType, start: u32, length: u32): ArrayBuffer | null {
  clearRet();
  const r = imp.proxy_get_buffer_bytes(type, start, length, RET_PTR, RET_SIZE);
  if (r != Result.Ok) return null;
  return takeReturned();
}

/** start 0: drain `length` then prepend (length ≥ size replaces the whole buffer). */
export function setBuffer(type: BufferType, start: u32, length: u32, data: ArrayBuffer): u32 {
  return imp.proxy_set_buffer_bytes(type, start, length, changetype<usize>(data), data.byteLength);
}

// ---- stream control

export function sendLocalResponse(status: u32, details: string, body: ArrayBuffer, headerKv: string[]): u32 {
  return sendLocalResponseBytes(status, details, Uint8Array.wrap(body), headerKv);
}

/** The same with the body as bytes (a view into a larger buffer is sent as the view). */
export function sendLocalResponseBytes(status: u32, details: string, body: Uint8Array, headerKv: string[]): u32 {
  const d = String.UTF8.encode(details);
  const h = serializePairs(headerKv);
  return imp.proxy_send_local_response(status, changetype<usize>(d), d.byteLength, body.dataStart, body.length,
    changetype<usize>(h), h.byteLength, -1 as u32);
}

/** Lets a held response go on (proxy_continue_stream(Response)). */
export function continueResponse(): u32 {
  return imp.proxy_continue_stream(1);
}

export function setEffectiveContext(id: u32): u32 {
  return imp.proxy_set_effective_context(id);
}

// ---- time, ticks

export function nowMs(): i64 {
  store<u64>(RET_AUX, 0);
  imp.proxy_get_current_time_nanoseconds(RET_AUX);
  return <i64>(load<u64>(RET_AUX) / 1_000_000);
}

export function setTickPeriod(ms: u32): u32 {
  return imp.proxy_set_tick_period_milliseconds(ms);
}

// ---- shared data

export class SharedValue {
  result: u32 = 0;
  value: ArrayBuffer = new ArrayBuffer(0);
  cas: u32 = 0;
}

export function getShared(key: string): SharedValue {
  const out = new SharedValue();
  const k = encodeScratch(key);
  clearRet();
  out.result = imp.proxy_get_shared_data(k, scratchA, RET_PTR, RET_SIZE, RET_AUX);
  if (out.result == Result.Ok) {
    out.cas = load<u32>(RET_AUX);
    out.value = takeReturned();
  }
  return out;
}

/**
 * The cas to create a key that was absent. The ABI has no create-if-absent: a set on an absent
 * key succeeds whatever its cas, and a set with cas 0 overwrites unconditionally
 * (SharedData::set, src/shared_data.cc of proxy-wasm-cpp-host and Higress's fork). With a
 * nonzero cas, a key that another worker created since our read fails with CasMismatch — unless
 * its cas is this value: CAS values are one process-wide counter from 1 that skips 0, so that
 * takes the 2^32-1st write of the process to land exactly in that window.
 */
export const CREATE_CAS: u32 = 0xffffffff;

export function setShared(key: string, value: ArrayBuffer, cas: u32): u32 {
  const k = encodeScratch(key);
  return imp.proxy_set_shared_data(k, scratchA, changetype<usize>(value), value.byteLength, cas);
}

// ---- http_call

export class CallResult {
  result: u32 = 0;
  token: u32 = 0;
}

export function httpCall(cluster: string, headerKv: string[], body: ArrayBuffer, timeoutMs: u32): CallResult {
  const c = String.UTF8.encode(cluster);
  const h = serializePairs(headerKv);
  const t = serializePairs([]);
  store<u32>(RET_AUX, 0);
  const out = new CallResult();
  out.result = imp.proxy_http_call(changetype<usize>(c), c.byteLength, changetype<usize>(h), h.byteLength,
    changetype<usize>(body), body.byteLength, changetype<usize>(t), t.byteLength, timeoutMs, RET_AUX);
  out.token = load<u32>(RET_AUX);
  return out;
}

// ---- metrics

export function defineMetric(type: i32, name: string): u32 {
  const n = String.UTF8.encode(name);
  store<u32>(RET_AUX, 0);
  const r = imp.proxy_define_metric(type, changetype<usize>(n), n.byteLength, RET_AUX);
  if (r != Result.Ok) return 0xffffffff;
  return load<u32>(RET_AUX);
}

export function incrementMetric(id: u32, delta: i64): void {
  if (id == 0xffffffff || delta == 0) return;
  imp.proxy_increment_metric(id, delta);
}

export function recordMetric(id: u32, value: u64): void {
  if (id == 0xffffffff) return;
  imp.proxy_record_metric(id, value);
}

// ---- properties

/** Property path segments joined by NUL, as the ABI spells a path. */
function propertyPath(path: string[]): Uint8Array {
  const b = new ByteBuilder(64);
  for (let i = 0; i < path.length; i++) {
    if (i > 0) b.byte(0);
    b.str(unchecked(path[i]));
  }
  return b.finish();
}

/** A property path as the ABI spells it (segments joined by NUL), encoded once for a constant path. */
export function propertyPathBytes(path: string[]): Uint8Array {
  return propertyPath(path);
}

export function getProperty(path: string[]): ArrayBuffer | null {
  return getPropertyAt(propertyPath(path));
}

/** getProperty with the path already encoded (propertyPathBytes). */
export function getPropertyAt(bytes: Uint8Array): ArrayBuffer | null {
  clearRet();
  const r = imp.proxy_get_property(bytes.dataStart, bytes.length, RET_PTR, RET_SIZE);
  if (r != Result.Ok) return null;
  return takeReturned();
}

export function setProperty(path: string[], value: string): u32 {
  return setPropertyAt(propertyPath(path), value);
}

/** setProperty with the path already encoded (propertyPathBytes). */
export function setPropertyAt(bytes: Uint8Array, value: string): u32 {
  const v = String.UTF8.encode(value);
  return imp.proxy_set_property(bytes.dataStart, bytes.length, changetype<usize>(v), v.byteLength);
}
