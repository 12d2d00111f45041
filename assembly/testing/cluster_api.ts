// Test-facing view of the rate limit service messages (cluster/rls.ts) and the Redis script
// (cluster/redis_script.ts). Compiled only into the
// unit-test module.

import { decodeRateLimitResponse, encodeRateLimitRequest, RlsDescriptor } from "../cluster/rls";
import { parsesAsProtobuf } from "../config/cluster_limits";
import { readReserveReply, ReserveArgs, reserveCommand } from "../cluster/redis_script";

/** RateLimitRequest bytes as hex: descriptors "k=v,k=v:hits[@perUnit/unit];…" (@: the descriptor's own limit). */
export function rlsEncode(domain: string, spec: string): string {
  const ds: RlsDescriptor[] = [];
  const parts = spec.split(";");
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i];
    let perUnit: u32 = 0;
    let unit: u32 = 0;
    const lim = part.indexOf("@");
    if (lim >= 0) {
      const l = part.substring(lim + 1).split("/");
      perUnit = U32.parseInt(l[0]);
      unit = U32.parseInt(l[1]);
      part = part.substring(0, lim);
    }
    const at = part.lastIndexOf(":");
    const d = new RlsDescriptor(U64.parseInt(part.substring(at + 1)));
    if (unit != 0) d.limit(perUnit, unit);
    const entries = part.substring(0, at).split(",");
    for (let k = 0; k < entries.length; k++) {
      const eq = entries[k].indexOf("=");
      d.entry(entries[k].substring(0, eq), entries[k].substring(eq + 1));
    }
    ds.push(d);
  }
  const b = encodeRateLimitRequest(domain, ds);
  let out = "";
  for (let i = 0; i < b.length; i++) out += (b[i] < 16 ? "0" : "") + (<u32>b[i]).toString(16);
  return out;
}

/** A RateLimitResponse (hex) read back: "ok|overall|code,limited,limit,unit,remaining,resetMs;…". */
export function rlsDecode(hex: string): string {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = <u8>U32.parseInt(hex.substr(i * 2, 2), 16);
  const r = decodeRateLimitResponse(b);
  const parts: string[] = [];
  for (let i = 0; i < r.statuses.length; i++) {
    const s = r.statuses[i];
    parts.push(s.code.toString() + "," + (s.limited ? "1" : "0") + "," + s.limit.toString() + "," + s.unit.toString() + "," +
      s.remaining.toString() + "," + s.resetMs.toString());
  }
  return (r.ok ? "1" : "0") + "|" + r.overall.toString() + "|" + parts.join(";");
}

export function clusterNameIsProtobuf(name: string): bool {
  return parsesAsProtobuf(name);
}

/** The Redis engine's EVAL command (cluster/redis_script.ts) as hex, for `args` "window,tokens,requests,want,need,reported,count,publishMs,reason". */
export function redisCommand(key: string, args: string): string {
  const v = args.split(",");
  const a = new ReserveArgs();
  a.windowMs = I64.parseInt(v[0]);
  a.tokenLimit = I64.parseInt(v[1]);
  a.requestLimit = I64.parseInt(v[2]);
  a.want = I64.parseInt(v[3]);
  a.need = I64.parseInt(v[4]);
  a.reported = I64.parseInt(v[5]);
  a.requests = I64.parseInt(v[6]);
  a.publishMs = I64.parseInt(v[7]);
  a.publishReason = I32.parseInt(v[8]);
  const b = reserveCommand(key, a);
  let out = "";
  for (let i = 0; i < b.length; i++) out += (b[i] < 16 ? "0" : "") + (<u32>b[i]).toString(16);
  return out;
}

/** The script's reply (hex of the raw RESP) read back: "ok|error|code,granted,remaining,resetMs,cooldownMs,reason". */
export function redisReply(hex: string): string {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = <u8>U32.parseInt(hex.substr(i * 2, 2), 16);
  const r = readReserveReply(b);
  return (r.ok ? "1" : "0") + "|" + r.error + "|" + r.code.toString() + "," + r.granted.toString() + "," + r.remaining.toString() + "," +
    r.resetMs.toString() + "," + r.cooldownMs.toString() + "," + r.cooldownReason.toString();
}
