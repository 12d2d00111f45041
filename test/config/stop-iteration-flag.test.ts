// Configuration: body mode (the default) needs Envoy's allow_on_headers_stop_iteration: true; a
// bootstrap without it is a misconfiguration the filter reports loudly.
import { describe, expect, it } from "vitest";
import { chat, post, startStack, until } from "../support/stack.ts";

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
      // Said when the hung request ends (the client gave up): a slow client would have sent its body.
      const said = () => s.logs.some((l) => l.level === 4 && l.message.includes("lacks allow_on_headers_stop_iteration: true") && l.message.includes("\"mode\": \"headers\""));
      await until(said, 3000);
      expect(said()).toBe(true);
    } finally {
      await s.close();
    }
  }, 20000);
});

describe("a slow client is not the misconfiguration", () => {
  it("a body that arrives 3.6 s after its headers is routed, and no error blames allow_on_headers_stop_iteration", async () => {
    // Reproduction: the tick-based check concluded "lacks allow_on_headers_stop_iteration" after
    // 3 s of waiting, and being one-shot, it then stayed silent for a real misconfiguration.
    const { rig, baseConfig, chatBody, reqHeaders, sleep } = await import("../../harness/rig/host-rig.ts");
    const r = await rig(baseConfig(), { workers: 1 });
    try {
      const body = Buffer.from(JSON.stringify(chatBody()));
      const f = r.open();
      f.callOnRequestHeaders(reqHeaders("/v1/chat/completions", body), false);
      await sleep(3600);
      f.callOnRequestBody(body, true);
      expect(f.up(":authority")).toBe("east.openai.azure.com");
      f.respond(200, '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}');
      f.complete();
      const errors = r.logs.filter((l) => l.level === 4 && l.message.includes("allow_on_headers_stop_iteration"));
      expect(errors).toEqual([]);
      // A hint was given while it waited (worded as one).
      expect(r.logs.some((l) => l.level === 3 && l.message.includes("a slow client, or"))).toBe(true);
    } finally {
      await r.close();
    }
  }, 20000);
});
