// Cluster-wide windows and cooldowns kept in Redis directly (the Higress build): one Lua script,
// run atomically by Redis, that checks and reserves tokens (and, per request, one request) in a
// provider's or consumer's fixed window and reads or publishes the provider's cooldown — one key
// per pool, so it runs on a single Redis or a Redis Cluster alike. Pure: the command's RESP bytes
// and the reply's reading; plugin/cluster/redis_engine.ts sends them.
//
// The key `<prefix>:provider:<name>` (or `:consumer:<name>`) is a hash:
//   w  the window's start (ms, Redis's clock: every replica counts in the same windows whatever
//      its own clock says), t tokens counted in it, r requests counted in it,
//   c  the cooldown's end (ms, Redis's clock), cr its reason (health/state.ts Reason).
// It expires a second after the window ends, or when the cooldown ends if that is later.
//
// ARGV: 1 window ms, 2 token limit, 3 request limit (0: none), 4 tokens wanted (0: only look),
//   5 the fewest tokens worth granting (the waiting request's estimate), 6 tokens used but not
//   counted yet (always added), 7 requests to count, 8 cooldown to publish (ms from now; 0: none),
//   9 its reason.
// Reply: { code (1 granted / 2 over the limit), tokens granted, tokens left in the window,
//   ms until the window ends, ms of cooldown left (0: none), the cooldown's reason }.
//
// Unlike envoyproxy/ratelimit (which counts a refused hit and never gives back), a refused
// reservation is not counted and a lease larger than what is left is cut to what is left, so the
// window can be used to its last request's estimate.

import { ByteBuilder } from "../lib/bytes";

const SCRIPT_BODY = `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[1])
local tl = tonumber(ARGV[2])
local rl = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local need = tonumber(ARGV[5])
local req = tonumber(ARGV[7])
local start = now - now % win
local h = redis.call('HMGET', KEYS[1], 'w', 't', 'r', 'c', 'cr')
local used, reqs = 0, 0
if tonumber(h[1]) == start then used = tonumber(h[2]) or 0; reqs = tonumber(h[3]) or 0 end
used = used + tonumber(ARGV[6])
local code, grant = 1, 0
if want > 0 then
  if (tl > 0 and tl - used < need) or (rl > 0 and reqs + req > rl) then code = 2
  else
    grant = want
    if tl > 0 and tl - used < grant then grant = tl - used end
    reqs = reqs + req
  end
elseif tl > 0 and used >= tl then code = 2 end
used = used + grant
local cu = tonumber(h[4]) or 0
local cr = tonumber(h[5]) or 0
local pub = tonumber(ARGV[8])
if pub > 0 and now + pub > cu then cu = now + pub; cr = tonumber(ARGV[9]) end
redis.call('HSET', KEYS[1], 'w', start, 't', used, 'r', reqs, 'c', cu, 'cr', cr)
local keep = start + win + 1000
if cu > keep then keep = cu end
redis.call('PEXPIREAT', KEYS[1], keep)
local cd = 0
if cu > now then cd = cu - now end
return {code, grant, tl - used, start + win - now, cd, cr}
`;

/**
 * The script, at least 1 KiB (it is 1.3 KiB; a comment pads it should it shrink): Higress's Redis
 * client holds commands up to 3 ms or until 1,024 bytes are buffered (higress-group/envoy
 * raw_client_impl.cc makeRawRequest, envoy/redis/async_client.h AsyncClientConfig), so a command of
 * 1 KiB or more is written at once (test/host/redis-buffering.test.ts shows the harness doing the same).
 */
function padded(body: string): string {
  let s = body + "-- ";
  while (s.length < 1030) s += "-";
  return s + "\n";
}

export const RESERVE_SCRIPT: string = padded(SCRIPT_BODY);

/** `*13 $4 EVAL $n <script> $1 1`: the fixed head of every command. */
let HEAD: Uint8Array | null = null;

function head(): Uint8Array {
  if (HEAD !== null) return HEAD!;
  const script = String.UTF8.encode(RESERVE_SCRIPT);
  const b = new ByteBuilder(script.byteLength + 64);
  b.ascii("*13\r\n$4\r\nEVAL\r\n$").dec(script.byteLength).ascii("\r\n").bytes(Uint8Array.wrap(script)).ascii("\r\n$1\r\n1\r\n");
  const h = b.finish();
  HEAD = h;
  return h;
}

function bulk(b: ByteBuilder, s: string): void {
  b.byte(0x24).dec(String.UTF8.byteLength(s)).ascii("\r\n").str(s).ascii("\r\n");
}

function bulkInt(b: ByteBuilder, v: i64): void {
  const digits = v.toString();
  b.byte(0x24).dec(digits.length).ascii("\r\n").ascii(digits).ascii("\r\n");
}

/** What one call asks of a pool. */
export class ReserveArgs {
  windowMs: i64 = 60000;
  tokenLimit: i64 = 0;
  requestLimit: i64 = 0;
  want: i64 = 0;
  need: i64 = 0;
  reported: i64 = 0;
  requests: i64 = 0;
  publishMs: i64 = 0;
  publishReason: i32 = 0;
}

/** The EVAL command (RESP array of bulk strings, as Higress's wasm-go respString sends them). */
export function reserveCommand(key: string, a: ReserveArgs): Uint8Array {
  const h = head();
  const b = new ByteBuilder(h.length + key.length * 3 + 160);
  b.bytes(h);
  bulk(b, key);
  bulkInt(b, a.windowMs);
  bulkInt(b, a.tokenLimit);
  bulkInt(b, a.requestLimit);
  bulkInt(b, a.want);
  bulkInt(b, a.need);
  bulkInt(b, a.reported);
  bulkInt(b, a.requests);
  bulkInt(b, a.publishMs);
  bulkInt(b, <i64>a.publishReason);
  return b.finish();
}

export class ReserveReply {
  /** False: not the script's reply (`error` says what Redis answered instead, when it was an error). */
  ok: bool = false;
  error: string = "";
  code: i32 = 0;
  granted: i64 = 0;
  remaining: i64 = 0;
  resetMs: i64 = 0;
  cooldownMs: i64 = 0;
  cooldownReason: i32 = 0;
}

class Cursor {
  at: i32 = 0;
  constructor(public b: Uint8Array) {}
  /** The line from `at` to CRLF (exclusive), or -1 when there is none; moves past the CRLF. */
  lineEnd(): i32 {
    const b = this.b;
    for (let i = this.at; i + 1 < b.length; i++) {
      if (unchecked(b[i]) == 0x0d && unchecked(b[i + 1]) == 0x0a) return i;
    }
    return -1;
  }
  /** `:<int>\r\n` → the value; sets `bad` otherwise. */
  int(): i64 {
    const b = this.b;
    if (this.at >= b.length || unchecked(b[this.at]) != 0x3a) return i64.MIN_VALUE;
    const end = this.lineEnd();
    if (end < 0) return i64.MIN_VALUE;
    let i = this.at + 1;
    let neg = false;
    if (i < end && unchecked(b[i]) == 0x2d) { neg = true; i++; }
    if (i >= end || end - i > 18) return i64.MIN_VALUE;
    let v: i64 = 0;
    for (; i < end; i++) {
      const c = unchecked(b[i]);
      if (c < 0x30 || c > 0x39) return i64.MIN_VALUE;
      v = v * 10 + <i64>(c - 0x30);
    }
    this.at = end + 2;
    return neg ? -v : v;
  }
}

/** Reads the script's reply (`*6` of integers); a Redis error reply (`-ERR …`) keeps its first 200 bytes. */
export function readReserveReply(bytes: Uint8Array): ReserveReply {
  const out = new ReserveReply();
  const c = new Cursor(bytes);
  if (bytes.length == 0) return out;
  const type = unchecked(bytes[0]);
  if (type == 0x2d) {
    const end = c.lineEnd();
    const n: i32 = end < 0 ? bytes.length : end;
    const len: i32 = n - 1 < 200 ? n - 1 : 200;
    out.error = String.UTF8.decode(bytes.slice(1, 1 + len).buffer);
    return out;
  }
  if (type != 0x2a) return out;
  const end = c.lineEnd();
  if (end != 2 || unchecked(bytes[1]) != 0x36) return out;
  c.at = 4;
  const v = new StaticArray<i64>(6);
  for (let i = 0; i < 6; i++) {
    const x = c.int();
    if (x == i64.MIN_VALUE) return out;
    unchecked((v[i] = x));
  }
  out.code = <i32>unchecked(v[0]);
  out.granted = unchecked(v[1]);
  out.remaining = unchecked(v[2]);
  out.resetMs = unchecked(v[3]);
  out.cooldownMs = unchecked(v[4]);
  out.cooldownReason = <i32>unchecked(v[5]);
  out.ok = out.code == 1 || out.code == 2;
  return out;
}
