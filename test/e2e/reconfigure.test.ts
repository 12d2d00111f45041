// Provider state lives in shared data keyed by name and survives a reconfiguration (new VMs,
// same process) when the provider record is unchanged; a changed record starts afresh.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PluginHost, ProcessState, type HeaderList, type StreamCallbacks } from "../../harness/host/index.ts";

const wasm = readFileSync(new URL("../../build/ai-failover.wasm", import.meta.url));

const config = (eastKey: string) => JSON.stringify({
  providers: [
    { name: "east", type: "azure-openai", cluster: "east", host: "east.openai.azure.com", apiVersion: "2024-10-21", auth: { apiKey: eastKey }, priority: 0 },
    { name: "west", type: "azure-openai", cluster: "west", host: "west.openai.azure.com", apiVersion: "2024-10-21", auth: { apiKey: "west-key-0123456789" }, priority: 1 },
  ],
  healthCheck: { enabled: false },
  retry: { maxAttempts: 1 },
});

/** Runs one request through the filter; the "upstream" answers `status`. Returns the routed :authority. */
function exchange(host: PluginHost, conn: number, status: number): string {
  let routed: HeaderList = [];
  const cb: StreamCallbacks = {
    onRequestHeaders: (h) => { routed = h; },
    onRequestData: () => {}, onRequestTrailers: () => {}, onLocalReply: () => {},
    onResponseHeaders: () => {}, onResponseData: () => {}, onResponseTrailers: () => {}, onReset: () => {},
  };
  const s = host.newStream(conn, cb);
  const body = Buffer.from(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }));
  s.decodeHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"], [":scheme", "http"], ["content-length", String(body.length)]], false);
  s.decodeData(body, true);
  s.encodeHeaders([[":status", String(status)], ["content-type", "application/json"]], false);
  s.encodeData(Buffer.from("{}"), true);
  s.complete();
  return routed.find(([k]) => k === ":authority")?.[1] ?? "";
}

describe("state across reconfiguration", () => {
  it("keeps an ejection when the record is unchanged and forgets it when the record changes", async () => {
    const process = new ProcessState();
    const opts = { wasm, rootId: "ai-failover", allowOnHeadersStopIteration: true, workers: 2 };
    const first = await PluginHost.create({ ...opts, configuration: config("east-key-0123456789") }, process);
    expect(exchange(first, 1, 401)).toBe("east.openai.azure.com"); // east rejects its key: ejected
    expect(exchange(first, 2, 200)).toBe("west.openai.azure.com");
    await first.close();

    // Same configuration, new VMs (Envoy reloads the plugin): the ejection holds.
    const second = await PluginHost.create({ ...opts, configuration: config("east-key-0123456789") }, process);
    expect(exchange(second, 1, 200)).toBe("west.openai.azure.com");
    await second.close();

    // The operator rotated east's key: a different record, so a fresh state.
    const third = await PluginHost.create({ ...opts, configuration: config("east-key-rotated-987654") }, process);
    expect(exchange(third, 1, 200)).toBe("east.openai.azure.com");
    await third.close();
  });
});
