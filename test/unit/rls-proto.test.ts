// The filter's ShouldRateLimit messages (assembly/cluster/rls.ts, lib/protobuf.ts) against the
// harness's codec of rls.proto (harness/ratelimit/rls-proto.ts): the same bytes both ways.
import { describe, expect, it } from "vitest";
import { Code, decodeRequest, encodeResponse, Unit } from "../../harness/ratelimit/rls-proto.ts";
import { clusterNameIsProtobuf, rlsDecode, rlsEncode } from "../.build/unit/unit.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

describe("RateLimitRequest from the filter", () => {
  it.each([
    ["ai-failover", "provider=aoai-east-ptu:520", [{ entries: [{ key: "provider", value: "aoai-east-ptu" }], hitsAddend: 520 }]],
    ["d", "consumer=team-a:0", [{ entries: [{ key: "consumer", value: "team-a" }], hitsAddend: 0 }]],
    ["d", "a=1,b=2:300000;c=3:1", [{ entries: [{ key: "a", value: "1" }, { key: "b", value: "2" }], hitsAddend: 300000 },
      { entries: [{ key: "c", value: "3" }], hitsAddend: 1 }]],
    // The cooldown descriptors (plugin/cluster_rls_cooldowns.ts): their own limit, 0 per SECOND (requests_per_unit 0 is not written).
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
  it.each([["h1", true], ["empty", true], ["ratelimit", false], ["rls", false], ["outbound|8081||ratelimit.default.svc.cluster.local", false]])("%s → %s", (name, parses) => {
    expect(clusterNameIsProtobuf(name)).toBe(parses);
  });
});
