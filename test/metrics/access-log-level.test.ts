// The access line is optional (issue 13): `accessLog` "info" (default), "debug" or "off" — the
// filter's other lines stay as the log level says.
import { afterEach, describe, expect, it } from "vitest";
import { baseConfig, chatBody, rig, type HostRig } from "../../harness/rig/host-rig.ts";

describe("accessLog", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  async function oneRequest(extra: Record<string, unknown>) {
    r = await rig(baseConfig(extra), { logLevel: 0 });
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(200, '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}');
    f.complete();
    return r.logs.filter((l) => l.message.startsWith("ai-failover access: "));
  }

  it("default: one line at info", async () => {
    const lines = await oneRequest({});
    expect(lines.map((l) => l.level)).toEqual([2]);
  });

  it("debug: the line at debug (shown only when the filter's level is debug or lower)", async () => {
    expect((await oneRequest({ accessLog: "debug", logLevel: "debug" })).map((l) => l.level)).toEqual([1]);
    await r.close();
    expect(await oneRequest({ accessLog: "debug" })).toEqual([]);
  });

  it("off: no access line, the other info lines stay", async () => {
    expect(await oneRequest({ accessLog: "off" })).toEqual([]);
    expect(r.logs.some((l) => l.level === 2 && l.message.startsWith("ai-failover: provider east → cluster east"))).toBe(true);
  });

});
