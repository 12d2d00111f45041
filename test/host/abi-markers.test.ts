// One module for upstream Envoy and Higress: the ABI marker exports and how each host reads them.
// Both hosts walk the export section in order and take the first proxy_abi_version_* marker they
// know (BytecodeUtil::getAbiVersion, src/bytecode_util.cc, proxy-wasm-cpp-host and
// higress-group/proxy-wasm-cpp-host). Higress's fork knows 0_2_100, for which it passes a headers
// StopIteration through (ContextBase::convertVmCallResultToFilterHeadersStatus, src/context.cc);
// for 0_2_0 it converts it to StopAllIterationAndWatermark and has no allow_on_headers_stop_iteration
// to say otherwise. The harness plays both (PluginOptions.flavour) and these tests teach it that.
import { afterEach, describe, expect, it } from "vitest";
import { checkModule, parseWasm, PluginLoadError } from "../../harness/host/index.ts";
import { azure, baseConfig, chatBody, EAST_KEY, ok200, productWasm, reqHeaders, rig, sleep, until, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";

const MARKER = "proxy_abi_version_0_2_100";

/** The product module with its 0_2_100 marker renamed to a name no host knows: today's 0_2_0-only module. */
function withoutHigressMarker(): Uint8Array {
  const bytes = new Uint8Array(productWasm());
  const name = Buffer.from(MARKER);
  const at = Buffer.from(bytes).indexOf(name);
  expect(at, "the product exports the 0_2_100 marker").toBeGreaterThan(0);
  bytes.set(Buffer.from("proxy_abi_version_0_2_9xx"), at);
  return bytes;
}

describe("ABI markers: one module, read as 0_2_100 by Higress and 0_2_0 by Envoy", () => {
  it("exports the 0_2_100 marker before the 0_2_0 one, and no other marker", () => {
    const names = parseWasm(productWasm()).exports.filter((e) => e.kind === "function").map((e) => e.name);
    const markers = names.filter((n) => n.startsWith("proxy_abi_version_"));
    expect(markers).toEqual([MARKER, "proxy_abi_version_0_2_0"]);
  });

  it("upstream Envoy skips the marker it does not know and reads 0_2_0; Higress reads 0_2_100", () => {
    const envoy = checkModule(productWasm(), "envoy");
    const higress = checkModule(productWasm(), "higress");
    expect(envoy.ok && envoy.module.abi).toBe("0_2_0");
    expect(higress.ok && higress.module.abi).toBe("0_2_100");
  });

  it("a module whose only known marker is 0_2_0 is 0_2_0 on Higress too", () => {
    const r = checkModule(withoutHigressMarker(), "higress");
    expect(r.ok && r.module.abi).toBe("0_2_0");
  });

  it("a module with no known marker does not load, on either host", () => {
    const bytes = withoutHigressMarker();
    const at = Buffer.from(bytes).indexOf(Buffer.from("proxy_abi_version_0_2_0"));
    bytes.set(Buffer.from("proxy_abi_version_9_9_9"), at);
    for (const flavour of ["envoy", "higress"] as const) {
      const r = checkModule(bytes, flavour);
      expect(r.ok ? "" : r.message).toBe("Missing or unknown Proxy-Wasm ABI version");
    }
  });
});

describe("Higress host mode: body mode", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it("Higress has no allow_on_headers_stop_iteration: setting it is a load error", async () => {
    await expect(rig(baseConfig(), { flavour: "higress", allowOnHeadersStopIteration: true })).rejects.toBeInstanceOf(PluginLoadError);
  });

  it("a 0_2_0-only module hangs in body mode on Higress: the body is held, nothing goes upstream", async () => {
    r = await rig(baseConfig(), { flavour: "higress", allowOnHeadersStopIteration: false, wasm: withoutHigressMarker() });
    const body = Buffer.from(JSON.stringify(chatBody()));
    const f = r.open();
    f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body), false);
    f.callOnRequestBody(body, true);
    await sleep(100);
    // The filter never saw the body (StopAllIterationAndWatermark holds it until the filter
    // continues, which in body mode it never does): no upstream request, no reply.
    expect(f.kinds(), "nothing went upstream, nothing came back").toEqual([]);
    expect(f.upstreamHeaders).toBeNull();
    expect(f.localReply).toBeNull();
    f.reset("downstream_remote_disconnect", "downstream");
  });

  it("the shipped module routes from the body, fails over on a 429 quota error and reads its body, on Higress", async () => {
    r = await rig(baseConfig({ providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)] }),
      { flavour: "higress", allowOnHeadersStopIteration: false });
    r.script.answer = () => ok200();
    const f = r.request("/v1/chat/completions", chatBody({ model: "gpt-4o" }));
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    expect(f.up("api-key")).toBe(EAST_KEY);
    f.respond(429, '{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}', [["retry-after", "1"]]);
    await until(() => f.responseEnded);
    f.complete();
    expect(f.status).toBe(200);
    expect(f.header("x-ai-failover-provider")).toBe("west");
    expect(r.callouts).toHaveLength(1);
    expect(r.callouts[0]!.cluster).toBe("west");
    expect(r.callouts[0]!.headers.find(([k]) => k === "api-key")?.[1]).toBe(WEST_KEY);
    // The quota error was read from the 429's body: a long ejection, not a short cooldown.
    const east = r.providerState("east")!;
    expect(east.reason).toBe(4); // Reason.Quota
    expect(Number(east.cooldownUntilMs) - Date.now()).toBeGreaterThan(60_000);
  });
});
