// Configuration: body mode (the default) needs Envoy's allow_on_headers_stop_iteration: true; a
// bootstrap without it is a misconfiguration the filter reports loudly.
import { describe, expect, it } from "vitest";
import { chat, post, startStack } from "../support/stack.ts";

describe("body mode without allow_on_headers_stop_iteration (a misconfiguration)", () => {
  it("is reported loudly in the log instead of hanging silently", async () => {
    const s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }),
      bootstrap: (yaml) => yaml.replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false"),
      east: { deployments: { "gpt4o-ptu": { model: "gpt-4o" } } },
      west: { deployments: { "gpt4o-payg": { model: "gpt-4o" } } },
      workers: 1,
    });
    try {
      // Envoy holds the body until the filter continues, which body mode never does.
      const r = await post(s.gateway.url, "/v1/chat/completions", chat(), {}, 5000).catch((e: Error) => e);
      expect(r).toBeInstanceOf(Error);
      expect(s.east.records.length + s.west.records.length).toBe(0);
      const logs = s.logs.map((l) => l.message);
      expect(logs.some((m) => m.includes("lacks allow_on_headers_stop_iteration: true") && m.includes("\"mode\": \"headers\""))).toBe(true);
    } finally {
      await s.close();
    }
  }, 20000);
});
