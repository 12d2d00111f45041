// The filter's ShouldRateLimit messages (assembly/cluster/rls.ts, lib/protobuf.ts) against the
// harness's codec of rls.proto (harness/ratelimit/rls-proto.ts): the same bytes both ways.
import { describe, expect, it } from "vitest";
import { Code, decodeRequest, encodeResponse, Unit } from "../../harness/ratelimit/rls-proto.ts";
import { parseGrpcService } from "../../harness/host/grpc-callout.ts";
import { clusterNameIsProtobuf, rlsDecode, rlsEncode } from "../.build/unit/unit.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

describe("RateLimitRequest from the filter", () => {
  it.each([
    ["ai-failover", "provider=aoai-east-ptu:520", [{ entries: [{ key: "provider", value: "aoai-east-ptu" }], hitsAddend: 520 }]],
    ["d", "consumer=team-a:0", [{ entries: [{ key: "consumer", value: "team-a" }], hitsAddend: 0 }]],
    ["d", "a=1,b=2:300000;c=3:1", [{ entries: [{ key: "a", value: "1" }, { key: "b", value: "2" }], hitsAddend: 300000 },
      { entries: [{ key: "c", value: "3" }], hitsAddend: 1 }]],
    // The cooldown descriptors (plugin/cluster/rls_cooldowns.ts): their own limit, 0 per SECOND (requests_per_unit 0 is not written).
    ["ai-failover", "cooldown=aoai-east-ptu:1@0/1;cooldown=aoai-west-payg:0@0/1", [
      { entries: [{ key: "cooldown", value: "aoai-east-ptu" }], limit: { requestsPerUnit: 0, unit: Unit.SECOND }, hitsAddend: 1 },
      { entries: [{ key: "cooldown", value: "aoai-west-payg" }], limit: { requestsPerUnit: 0, unit: Unit.SECOND }, hitsAddend: 0 }]],
    ["d", "k=v:5@100/2", [{ entries: [{ key: "k", value: "v" }], limit: { requestsPerUnit: 100, unit: Unit.MINUTE }, hitsAddend: 5 }]],
  ])("%s %s decodes as the harness reads rls.proto (hits_addend a UInt64Value, 0 present)", (domain, spec, descriptors) => {
    expect(decodeRequest(bytes(rlsEncode(domain, spec)))).toEqual({ domain, descriptors, hitsAddend: 0 });
  });
});

describe("RateLimitResponse read by the filter", () => {
  it("OK and OVER_LIMIT statuses with current_limit, remaining and duration_until_reset; a status without a limit", () => {
    const wire = encodeResponse({
      overallCode: Code.OVER_LIMIT, responseHeadersToAdd: [["x-a", "b"]], requestHeadersToAdd: [], rawBody: new Uint8Array([1, 2]),
      statuses: [
        { code: Code.OK, currentLimit: { requestsPerUnit: 10000, unit: Unit.MINUTE, name: "ptu" }, limitRemaining: 4488, durationUntilResetMs: 59000 },
        { code: Code.OVER_LIMIT, currentLimit: { requestsPerUnit: 3000, unit: Unit.MINUTE, name: "" }, limitRemaining: 0, durationUntilResetMs: 1500 },
        { code: Code.OK, limitRemaining: 0 },
      ],
    });
    expect(rlsDecode(hex(wire))).toBe("1|2|1,1,10000,2,4488,59000;2,1,3000,2,0,1500;1,0,0,0,0,-1");
  });
  it("malformed bytes are a failed answer, never a trap", () => {
    for (const h of ["", "0a", "12ff01", "08", "ffffffffffffffffffff01", "1205088080"]) expect(rlsDecode(h).startsWith(h === "" ? "1|0|" : "0|")).toBe(true);
  });
});

describe("cluster names Envoy would read as a serialized GrpcService", () => {
  it.each([
    ["h1", true], ["empty", true], ["ratelimit", false], ["rls", false], ["outbound|8081||ratelimit.default.svc.cluster.local", false],
    // Unknown groups, which protobuf accepts (wire type 3 … 4 of the same field): 'c' 'd' = start/end group of field 12.
    ["cd", true], ["st", true], ["kl", true], ["34", true], ["h1st", true],
    // Nested groups, and a group around other fields ('c' [ 'k' 'l' ] 'd'; 'c' 'h1' 'd').
    ["ckld", true], ["ch1d", true],
    // Unbalanced: an end group of another field, an end group outside any group, an unclosed group.
    ["cl", false], ["d", false], ["c", false], ["ckd", false],
  ])("%s → %s", (name, parses) => {
    expect(clusterNameIsProtobuf(name)).toBe(parses);
  });

  it("agrees with the harness's GrpcService parse (protobuf's rule) on every printable name of up to 3 characters and random longer ones", () => {
    const chars = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));
    const names: string[] = [...chars];
    for (const a of chars) for (const b of chars) names.push(a + b);
    for (const a of "cdklst34h1*+,#$") for (const b of chars) for (const c of "cdklst34h1*+,#$") names.push(a + b + c);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 20000; i++) names.push(Array.from({ length: 4 + Math.floor(rnd() * 8) }, () => "cdklst34h1#$*+,"[Math.floor(rnd() * 15)]).join(""));
    const disagree: string[] = [];
    for (const n of names) {
      const harness = parseGrpcService(new Uint8Array(Buffer.from(n, "latin1"))) !== null;
      if (clusterNameIsProtobuf(n) !== harness) disagree.push(n);
    }
    expect(disagree.slice(0, 10)).toEqual([]);
    expect(names.filter((n) => clusterNameIsProtobuf(n)).length).toBeGreaterThan(1000);
  });
});
