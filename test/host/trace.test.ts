// Checklist 11: every host call and every call into the VM is recorded.
import { afterEach, describe, expect, it } from "vitest";
import { recorder, fixtureRequest, fixtureRig, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("trace (checklist 11)", () => {
  it("records host calls (module.name, args, result) and VM calls in order, per VM", async () => {
    t = await fixtureRig({ trace: true, workers: 1 });
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("window"), true);
    const recs = t.host.traceRecords().filter((r) => r.vm === "worker-0");
    const i = recs.findIndex((r) => r.call === "proxy_on_request_headers");
    expect(i).toBeGreaterThan(0);
    expect(recs[i]).toMatchObject({ args: [2, 4, 1], result: 0 });
    const add = recs.find((r) => r.call === "env.proxy_add_header_map_value");
    expect(add).toMatchObject({ result: 0 });
    expect(add!.args[0]).toBe(0);
    expect(recs.some((r) => r.call === "env.proxy_log" && r.result === 0)).toBe(true);
    expect(t.host.traceRecords().some((r) => r.vm === "canary" && r.call === "proxy_on_configure" && r.result === 1)).toBe(true);
  });

  it("records nothing unless enabled", async () => {
    t = await fixtureRig({ workers: 1 });
    t.host.newStream(1, recorder()).decodeHeaders(fixtureRequest("window"), true);
    expect(t.host.traceRecords()).toEqual([]);
  });
});
