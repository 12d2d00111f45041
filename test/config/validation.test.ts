// The product filter rejects bad configuration at configure time, with every problem named,
// and never traps its VM doing so.
import { describe, expect, it } from "vitest";
import { PluginHost, PluginLoadError, type LogRecord } from "../../harness/host/index.ts";
import { productWasm } from "../../harness/rig/host-rig.ts";

const wasm = productWasm();

const provider = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: "azure-openai",
  cluster: `c-${name}`,
  host: `${name}.openai.azure.com`,
  apiVersion: "2024-10-21",
  deployments: { "gpt-4o": `d-${name}` },
  auth: { apiKey: `key-for-${name}-0123456789` },
  ...extra,
});

async function load(configuration: string, environment: Record<string, string> = {}) {
  const logs: LogRecord[] = [];
  try {
    const host = await PluginHost.create({ wasm, rootId: "ai-failover", configuration, environment, workers: 2, logger: (r) => logs.push(r) });
    await host.close();
    return { ok: true as const, logs };
  } catch (e) {
    expect(e).toBeInstanceOf(PluginLoadError);
    return { ok: false as const, error: e as PluginLoadError, logs: [...logs, ...(e as PluginLoadError).logs] };
  }
}

function problems(logs: LogRecord[]): string[] {
  return logs.filter((l) => l.message.startsWith("ai-failover: invalid configuration: ")).map((l) => l.message.slice(36));
}

describe("configuration at configure time", () => {
  it("accepts a valid two-provider configuration on the canary and every worker", async () => {
    const r = await load(JSON.stringify({ providers: [provider("east"), provider("west", { auth: { apiKeyEnv: "WEST_KEY" }, priority: 1 })] }),
      { WEST_KEY: "west-secret-key-9876" });
    expect(r.ok).toBe(true);
    const configured = r.logs.filter((l) => l.message.includes("provider west → cluster c-west"));
    expect(configured.map((l) => l.vm).sort()).toEqual(["canary", "worker-0", "worker-1"]);
    // The key only ever appears masked.
    expect(r.logs.some((l) => l.message.includes("west-secret-key-9876"))).toBe(false);
    expect(configured[0].message).toContain("****9876");
  });

  const cases: Array<[string, string, Record<string, string>, RegExp[]]> = [
    ["an empty key", JSON.stringify({ providers: [provider("east", { auth: { apiKey: "" } })] }), {}, [/^providers\[0\]\.auth\.apiKey: .*empty/]],
    ["a key from an unset variable", JSON.stringify({ providers: [provider("east", { auth: { apiKeyEnv: "NOPE_KEY" } })] }), {}, [/^providers\[0\]\.auth\.apiKeyEnv: .*NOPE_KEY/]],
    ["a key from an empty variable", JSON.stringify({ providers: [provider("east", { auth: { apiKeyEnv: "EMPTY_KEY" } })] }), { EMPTY_KEY: "" }, [/^providers\[0\]\.auth\.apiKeyEnv: .*EMPTY_KEY/]],
    ["a duplicate name", JSON.stringify({ providers: [provider("east"), provider("east", { cluster: "other" })] }), {}, [/^providers\[1\]\.name: .*duplicate.*"east"/]],
    ["malformed JSON", '{"providers":[{"name":"east",', {}, [/^configuration: invalid JSON at line 1, column \d+/]],
    ["a host with a scheme", JSON.stringify({ providers: [provider("east", { host: "https://east.openai.azure.com" })] }), {}, [/^providers\[0\]\.host: /]],
    ["an unknown field", JSON.stringify({ providers: [provider("east", { hots: "x" })] }), {}, [/^providers\[0\]\.hots: unknown field/]],
    ["several problems at once", JSON.stringify({ providers: [provider("east", { auth: { apiKey: "" }, priority: -1 }), provider("east")], retry: { maxAttempts: "three" } }), {},
      [/^providers\[0\]\.auth\.apiKey: /, /^providers\[0\]\.priority: /, /^providers\[1\]\.name: .*duplicate/, /^retry\.maxAttempts: /]],
    // Envoy drops a per-try timeout that is not shorter than the whole one (router.cc finalTimeout).
    ["a provider's firstByteTimeout not shorter than its upstreamTimeout",
      JSON.stringify({ providers: [provider("east", { firstByteTimeout: "30s", upstreamTimeout: "30s" }), provider("west", { firstByteTimeout: "2m" })] }), {},
      [/^providers\[0\]\.firstByteTimeout: must be shorter than the provider's upstreamTimeout \(30000 ms ≥ 30000 ms\)/,
        /^providers\[1\]\.firstByteTimeout: must be shorter than upstreamTimeout \(120000 ms ≥ 60000 ms\)/]],
    ["a top-level firstByteTimeout not shorter than upstreamTimeout (named once)",
      JSON.stringify({ firstByteTimeout: "10s", upstreamTimeout: "5s", providers: [provider("east"), provider("west")] }), {},
      [/^firstByteTimeout: must be shorter than upstreamTimeout \(10000 ms ≥ 5000 ms\).*\(provider east\)$/]],
    ["malformed deployment objects",
      JSON.stringify({ providers: [provider("east", { deployments: { "gpt-4o": { limits: { tokensPerMinute: 1000 } }, "gpt-4o-mini": { name: "bad name", limits: { tokensPerMinute: -5 } }, o3: { name: "o3", limit: {} }, o4: 7 } })] }), {},
      [/^providers\[0\]\.deployments\.gpt-4o\.name: /, /^providers\[0\]\.deployments\.gpt-4o-mini\.name: deployment name /,
        /^providers\[0\]\.deployments\.gpt-4o-mini\.limits\.tokensPerMinute: /, /^providers\[0\]\.deployments\.o3\.limit: unknown field/,
        /^providers\[0\]\.deployments\.o4: expected a string/]],
    ["a bad affinity block",
      JSON.stringify({ affinity: { header: "Api-Key", consumer: "yes", sticky: true }, providers: [provider("east")] }), {},
      [/^affinity\.header: must not be a credential header/, /^affinity\.consumer: /, /^affinity\.sticky: unknown field/]],
    ["an affinity header that is not a header name",
      JSON.stringify({ affinity: { header: "x session" }, providers: [provider("east")] }), {},
      [/^affinity\.header: must be a header name/]],
    // A first token waited for with the headers held: the attempt's whole timeout would end it first.
    ["a provider's firstTokenTimeout not shorter than its upstreamTimeout, and a malformed streamIdleTimeout",
      JSON.stringify({ streamIdleTimeout: "idle", providers: [provider("east", { firstTokenTimeout: "2m", upstreamTimeout: "1m" })] }), {},
      [/^providers\[0\]\.firstTokenTimeout: must be shorter than the provider's upstreamTimeout \(120000 ms ≥ 60000 ms\)/, /^streamIdleTimeout: /]],
    ["a negative or malformed timeout", JSON.stringify({ providers: [provider("east", { firstByteTimeout: "soon", upstreamTimeout: "0s" })] }), {},
      [/^providers\[0\]\.upstreamTimeout: /, /^providers\[0\]\.firstByteTimeout: /]],
  ];

  for (const [what, configuration, env, expected] of cases) {
    it(`rejects ${what}, naming the problem, without trapping the VM`, async () => {
      const r = await load(configuration, env);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.message).toMatch(/Failed to configure/);
      const found = problems(r.logs);
      for (const re of expected) expect(found.some((p) => re.test(p)), `${re} in ${JSON.stringify(found)}`).toBe(true);
      // A trap would log at critical level (abort) and say the VM failed.
      expect(r.logs.filter((l) => l.level >= 5)).toEqual([]);
      expect(r.logs.some((l) => /key-for-east/.test(l.message))).toBe(false);
    });
  }
});
