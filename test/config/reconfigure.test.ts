// Provider state lives in shared data keyed by name and survives a reconfiguration (new VMs,
// same process) when the provider record is unchanged; a changed record starts afresh.
import { describe, expect, it } from "vitest";
import { ProcessState } from "../../harness/host/index.ts";
import { EAST_KEY, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const config = (eastKey: string) => JSON.stringify({
  providers: [
    { name: "east", type: "azure-openai", cluster: "east", host: "east.openai.azure.com", apiVersion: "2024-10-21", auth: { apiKey: eastKey }, priority: 0 },
    { name: "west", type: "azure-openai", cluster: "west", host: "west.openai.azure.com", apiVersion: "2024-10-21", auth: { apiKey: "west-key-0123456789" }, priority: 1 },
  ],
  healthCheck: { enabled: false },
  retry: { maxAttempts: 1 },
});

/** Runs one request through the filter; the "upstream" answers `status`. Returns the routed :authority. */
function exchange(r: HostRig, conn: number, status: number): string {
  const f = r.open(conn);
  const body = Buffer.from(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }));
  f.callOnRequestHeaders([[":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw"], [":scheme", "http"], ["content-length", String(body.length)]], false);
  f.callOnRequestBody(body, true);
  f.callOnResponseHeaders([[":status", String(status)], ["content-type", "application/json"]], false);
  f.callOnResponseBody("{}", true);
  f.complete();
  return f.up(":authority") ?? "";
}

describe("state across reconfiguration", () => {
  it("keeps an ejection when the record is unchanged and forgets it when the record changes", async () => {
    const process = new ProcessState();
    const first = await rig(config(EAST_KEY), { workers: 2 }, process);
    expect(exchange(first, 1, 401)).toBe("east.openai.azure.com"); // east rejects its key: ejected
    expect(exchange(first, 2, 200)).toBe("west.openai.azure.com");
    await first.close();

    // Same configuration, new VMs (Envoy reloads the plugin): the ejection holds.
    const second = await rig(config(EAST_KEY), { workers: 2 }, process);
    expect(exchange(second, 1, 200)).toBe("west.openai.azure.com");
    await second.close();

    // The operator rotated east's key: a different record, so a fresh state.
    const third = await rig(config("east-key-rotated-987654"), { workers: 2 }, process);
    expect(exchange(third, 1, 200)).toBe("east.openai.azure.com");
    await third.close();
  });
});
