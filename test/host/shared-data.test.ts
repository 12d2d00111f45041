// Shared data semantics, as proxy-wasm-cpp-host's SharedData::set/get (src/shared_data.cc; the
// same in Higress's fork): one process-wide CAS counter from 1; a set on an absent key succeeds
// whatever its cas; cas 0 overwrites; a mismatched nonzero cas fails. Both of the harness's stores
// (one thread; a SharedArrayBuffer for worker VMs in parallel threads) behave alike.
import { describe, expect, it } from "vitest";
import { SabSharedData, WasmResult } from "../../harness/host/index.ts";
import { SharedData } from "../../harness/host/shared-data.ts";

const v = (s: string) => new Uint8Array(Buffer.from(s));

describe.each([["one thread", () => new SharedData()], ["SharedArrayBuffer", () => new SabSharedData(16)]] as const)("shared data (%s)", (_n, make) => {
  it("follows SharedData::set for absent and present keys, with one CAS counter across keys", () => {
    const d = make();
    expect(d.get("vm", "a")).toBeUndefined();
    expect(d.set("vm", "a", v("1"), 0)).toBe(WasmResult.Ok); // absent, cas 0
    expect(d.get("vm", "a")).toMatchObject({ cas: 1 });
    expect(d.set("vm", "b", v("1"), 0xffffffff)).toBe(WasmResult.Ok); // absent, any cas: created
    expect(d.get("vm", "b")).toMatchObject({ cas: 2 });
    expect(d.set("vm", "a", v("2"), 7)).toBe(WasmResult.CasMismatch); // present, mismatched
    expect(Buffer.from(d.get("vm", "a")!.value).toString()).toBe("1");
    expect(d.set("vm", "a", v("3"), 1)).toBe(WasmResult.Ok); // present, matching
    expect(d.get("vm", "a")).toMatchObject({ cas: 3 });
    expect(d.set("vm", "a", v("4"), 0)).toBe(WasmResult.Ok); // present, cas 0: unconditional
    expect(Buffer.from(d.get("vm", "a")!.value).toString()).toBe("4");
    expect(d.set("vm", "b", v("x"), 0xffffffff)).toBe(WasmResult.CasMismatch); // the create-if-absent the filter relies on
    // Keyed by vm_id.
    expect(d.get("other-vm", "a")).toBeUndefined();
    expect(d.keys("vm").sort()).toEqual(["a", "b"]);
  });
});

it("a SabSharedData view made from the buffer in another thread sees the same data", () => {
  const a = new SabSharedData(8);
  a.set("", "k", v("hello"), 0);
  const b = new SabSharedData(a.buffer);
  expect(Buffer.from(b.get("", "k")!.value).toString()).toBe("hello");
  expect(b.set("", "k", v("x"), 99)).toBe(WasmResult.CasMismatch);
  expect(b.set("", "k", v("again"), b.get("", "k")!.cas)).toBe(WasmResult.Ok);
  expect(a.get("", "k")).toMatchObject({ cas: 2 });
});
