// Checklist 4 and 5: argument checks, memory bounds, exact result addresses, allocator use.
import { afterEach, describe, expect, it } from "vitest";
import { recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("memory rules (checklist 4, 5)", () => {
  it("checks enum ranges before memory, bounds-checks every pointer, writes exactly where asked, allocates exactly", async () => {
    t = await fixtureRig({ trace: true });
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("mem"), true);
    const id = s.contextId;
    // out-of-bounds key → InvalidMemoryAccess (6); bad map type with bad pointer → BadArgument (2) first;
    // bad result pointer → 6; bad buffer type → 2. Unaligned result slots written exactly, guards intact.
    expect(t.lines(`${id} mem oob=6 badType=2 badRet=6 badBuf=2 odd=mem n=3 mallocs=1 guard=255,255`)).toHaveLength(1);
    // Zero length: ptr 0, size 0, no allocation.
    expect(t.lines(`${id} empty rc=0 ptr=0 size=0 mallocs=0`)).toHaveLength(1);
    // The allocator grew memory: the host re-read memory.buffer and still wrote the result.
    expect(t.lines(`${id} grow value=mem grew=yes`)).toHaveLength(1);
    // Malformed pairs parse as empty: set-pairs wipes the map and returns Ok (response map unavailable → 2).
    expect(t.lines(`${id} set-garbage resp=2 req=0 pairs-size=0`)).toHaveLength(1);
    expect(t.lines(`${id} foreign=1`)).toHaveLength(1);
    // Every returned value went through malloc with the exact length ("mem" = 3 bytes).
    const mallocs = t.host.traceRecords().filter((r) => r.call === "malloc" && r.args[0] === 3);
    expect(mallocs.length).toBeGreaterThanOrEqual(2);
  });
});
