// Two builds (issue 11): build/ai-failover.wasm for upstream Envoy and Higress, and
// build/ai-failover-higress.wasm, the same filter plus Higress's Redis calls for
// clusterLimits.redis and its response injection (a stalled stream ends with an SSE error event).
// Upstream Envoy registers no proxy_redis_* nor proxy_inject_encoded_data_to_filter_chain (they are
// higress-group/proxy-wasm-cpp-host's own, exports.h FOR_ALL_HOST_FUNCTIONS): a module importing
// them fails to load there, so the Envoy build must not import them — AssemblyScript drops imports
// nothing calls, and only assembly/entry_higress.ts reaches them. Read from the modules' import
// sections.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkModule, parseWasm } from "../../harness/host/index.ts";

const envoyBuild = new Uint8Array(readFileSync(new URL("../../build/ai-failover.wasm", import.meta.url)));
const higressBuild = new Uint8Array(readFileSync(new URL("../../build/ai-failover-higress.wasm", import.meta.url)));
const importsOf = (b: Uint8Array) => parseWasm(b).imports.map((i) => `${i.module}.${i.name}`);
const exportsOf = (b: Uint8Array) => parseWasm(b).exports.map((e) => e.name);

describe("the Envoy build and the Higress build", () => {
  it("the Envoy build imports no proxy_redis_* nor Higress's injection, and exports no Redis callback", () => {
    expect(importsOf(envoyBuild).filter((n) => /redis|inject/i.test(n))).toEqual([]);
    expect(exportsOf(envoyBuild).filter((n) => /redis/i.test(n))).toEqual([]);
  });

  it("the Higress build imports proxy_inject_encoded_data_to_filter_chain (a stalled stream's error event)", () => {
    expect(importsOf(higressBuild).filter((n) => /inject/i.test(n))).toEqual(["env.proxy_inject_encoded_data_to_filter_chain"]);
  });

  it("the Higress build imports proxy_redis_init and proxy_redis_call and exports proxy_on_redis_call_response", () => {
    expect(importsOf(higressBuild).filter((n) => /redis/i.test(n)).sort()).toEqual(["env.proxy_redis_call", "env.proxy_redis_init"]);
    expect(exportsOf(higressBuild)).toContain("proxy_on_redis_call_response");
  });

  it("the Higress build exports everything the Envoy build does, with the same ABI markers in the same order", () => {
    const higress = exportsOf(higressBuild);
    expect(exportsOf(envoyBuild).filter((n) => !higress.includes(n))).toEqual([]);
    const markers = (b: Uint8Array) => exportsOf(b).filter((n) => n.startsWith("proxy_abi_version_"));
    expect(markers(higressBuild)).toEqual(markers(envoyBuild));
  });

  it("upstream Envoy loads the Envoy build and refuses the Higress build (missing import); Higress loads both", () => {
    expect(checkModule(envoyBuild, "envoy").ok).toBe(true);
    const refused = checkModule(higressBuild, "envoy");
    expect(refused.ok ? "loaded" : refused.message).toMatch(/missing import: env\.proxy_(redis_init|redis_call|inject_encoded_data_to_filter_chain)/);
    const h1 = checkModule(envoyBuild, "higress");
    const h2 = checkModule(higressBuild, "higress");
    expect(h1.ok && h1.module.abi).toBe("0_2_100");
    expect(h2.ok && h2.module.abi).toBe("0_2_100");
  });
});
