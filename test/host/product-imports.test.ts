import { describe, expect, it } from "vitest";
import { checkModule, envoyImportTable, parseWasm } from "../../harness/host/index.ts";
import { productWasm } from "../../harness/rig/host-rig.ts";

describe("release product module against the host's Envoy import table", () => {
  const bytes = new Uint8Array(productWasm());
  const info = parseWasm(bytes);
  const abiExport = info.exports.find((e) => e.name.startsWith("proxy_abi_version_"));

  it("exports an ABI marker and malloc with Envoy's signature", () => {
    expect(abiExport?.kind).toBe("function");
    const malloc = info.exports.find((e) => e.name === "malloc");
    expect(malloc?.type).toEqual({ params: ["i32"], results: ["i32"] });
  });

  it("imports only functions that Envoy registers for its ABI, with exactly Envoy's signatures", () => {
    const abi = abiExport!.name.replace("proxy_abi_version_", "") as "0_1_0" | "0_2_0" | "0_2_1";
    const table = envoyImportTable(abi);
    const problems: string[] = [];
    for (const imp of info.imports) {
      const key = `${imp.module}.${imp.name}`;
      if (imp.kind !== "function") {
        problems.push(`${key}: ${imp.kind} import`);
        continue;
      }
      const want = table.get(key);
      if (!want) problems.push(`${key}: not registered by Envoy`);
      else if (JSON.stringify(want) !== JSON.stringify(imp.type)) problems.push(`${key}: ${JSON.stringify(imp.type)} vs Envoy ${JSON.stringify(want)}`);
    }
    expect(problems).toEqual([]);
    expect(info.imports.length).toBeGreaterThan(0);
  });

  it("passes the host's full load-time check", () => {
    const r = checkModule(bytes);
    expect(r.ok ? "ok" : r.message).toBe("ok");
  });
});
