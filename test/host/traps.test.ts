// Checklist 10: a trap fails the VM, the stream gets 503, later callbacks are skipped, policy applies.
import { afterEach, describe, expect, it } from "vitest";
import { header, recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("traps and failure policy (checklist 10)", () => {
  it("FAIL_RELOAD (default): 503 for the trapping stream, skipped callbacks, a fresh VM for the next stream", async () => {
    t = await fixtureRig({ workers: 1 });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("trap"), true);
    expect(cb.kinds()).toEqual(["localReply", "respHeaders"]);
    expect(header((cb.events[1] as { headers: Array<[string, string]> }).headers, ":status")).toBe("503");
    expect((s as unknown as { responseCodeDetails: string }).responseCodeDetails).toBe("wasm_fail_stream");
    s.complete();
    expect(t.lines(`${s.contextId} on_log`)).toEqual([]);
    // New stream: reloaded VM (full start sequence, in-VM state lost).
    const before = t.lines("configure size=2").length;
    const cb2 = recorder();
    const s2 = t.host.newStream(1, cb2);
    expect(t.lines("configure size=2").length).toBe(before + 1);
    s2.decodeHeaders(fixtureRequest("plain"), true);
    expect(cb2.kinds()).toEqual(["reqHeaders"]);
    expect(s2.contextId).toBe(2);
  });

  it("FAIL_CLOSED: every new stream on the failed worker gets 503", async () => {
    t = await fixtureRig({ workers: 1, failurePolicy: "FAIL_CLOSED" });
    t.host.newStream(1, recorder()).decodeHeaders(fixtureRequest("trap"), true);
    const cb = recorder();
    t.host.newStream(1, cb).decodeHeaders(fixtureRequest("plain"), true);
    expect(cb.kinds()).toEqual(["localReply", "respHeaders"]);
    expect(cb.events[0]).toEqual({ ev: "localReply", status: 503 });
  });

  it("FAIL_OPEN: the trapping stream continues unfiltered, and so do later ones", async () => {
    t = await fixtureRig({ workers: 1, failurePolicy: "FAIL_OPEN" });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("trap"), false);
    s.decodeData(new Uint8Array([1]), true);
    expect(cb.kinds()).toEqual(["reqHeaders", "reqData"]);
    const cb2 = recorder();
    const s2 = t.host.newStream(1, cb2);
    s2.decodeHeaders(fixtureRequest("window"), true);
    expect(cb2.kinds()).toEqual(["reqHeaders"]);
    expect(header((cb2.events[0] as { headers: Array<[string, string]> }).headers, "x-added")).toBeUndefined();
  });

  it("a trap after the response headers went downstream resets the stream", async () => {
    t = await fixtureRig({ workers: 1 });
    const cb = recorder();
    const s = t.host.newStream(1, cb);
    s.decodeHeaders(fixtureRequest("trap-resp-body"), true);
    s.encodeHeaders([[":status", "200"]], false);
    s.encodeData(new Uint8Array([65]), true);
    expect(cb.kinds()).toEqual(["reqHeaders", "respHeaders", "reset"]);
  });
});
