// firstTokenTimeout and streamIdleTimeout (issue 19): top level and per provider, like
// firstByteTimeout. The defaults: no first-token limit (a reasoning model's first token may take
// minutes, a chat model's a second: no one value fits every model); a stall limit of 4 min, below
// the HCM's own stream_idle_timeout (5 min by default) so that the gateway, not Envoy's reset, ends
// a silent stream.
import { describe, expect, it } from "vitest";
import { configStreamLimits } from "../.build/unit/unit.js";
import { azure, OPENAI_KEY, openai } from "./config-fixtures.js";

type Limits = { providers?: Array<{ name: string; firstTokenTimeoutMs: number; streamIdleTimeoutMs: number }>; errors?: string[] };

function limits(config: unknown): Limits {
  return JSON.parse(configStreamLimits(JSON.stringify(config), `OAI_KEY=${OPENAI_KEY}`)) as Limits;
}

describe("stream limits in the configuration", () => {
  it("defaults: no first-token limit, a 4 min stall limit", () => {
    expect(limits({ providers: [azure(), openai()] }).providers).toEqual([
      { name: "aoai-east-ptu", firstTokenTimeoutMs: 0, streamIdleTimeoutMs: 240000 },
      { name: "openai-payg", firstTokenTimeoutMs: 0, streamIdleTimeoutMs: 240000 },
    ]);
  });

  it("top-level values apply to every provider; a provider's own wins, 0s turns it off for that provider", () => {
    const r = limits({
      firstTokenTimeout: "20s", streamIdleTimeout: "90s",
      providers: [{ ...azure(), firstTokenTimeout: "3m", streamIdleTimeout: "0s" }, { ...openai(), firstTokenTimeout: "0s" }],
    });
    expect(r.providers).toEqual([
      { name: "aoai-east-ptu", firstTokenTimeoutMs: 180000, streamIdleTimeoutMs: 0 },
      { name: "openai-payg", firstTokenTimeoutMs: 0, streamIdleTimeoutMs: 90000 },
    ]);
  });

  it("rejects malformed and out-of-range values, and a first-token limit the provider's upstreamTimeout would end first", () => {
    const r = limits({
      firstTokenTimeout: 20, streamIdleTimeout: "2h",
      providers: [{ ...azure(), firstTokenTimeout: "-1s", streamIdleTimeout: "soon" }, { ...openai(), firstTokenTimeout: "30s", upstreamTimeout: "30s" }],
    });
    expect(r.providers).toBeUndefined();
    const errs = r.errors!;
    expect(errs.some((e) => e.startsWith("firstTokenTimeout: expected a duration string"))).toBe(true);
    expect(errs.some((e) => e.startsWith("streamIdleTimeout: "))).toBe(true);
    expect(errs.some((e) => e.startsWith("providers[0].firstTokenTimeout: a duration must not be negative"))).toBe(true);
    expect(errs.some((e) => e.startsWith("providers[0].streamIdleTimeout: "))).toBe(true);
    expect(errs).toContain(
      "providers[1].firstTokenTimeout: must be shorter than the provider's upstreamTimeout (30000 ms ≥ 30000 ms): the attempt's whole timeout would end the stream first");
  });

  it("a top-level first-token limit too long for a provider's upstreamTimeout is named once, at the top level", () => {
    const r = limits({ firstTokenTimeout: "2m", providers: [{ ...azure(), upstreamTimeout: "1m" }, { ...openai(), upstreamTimeout: "90s" }] });
    expect(r.errors).toEqual([
      "firstTokenTimeout: must be shorter than the provider's upstreamTimeout (120000 ms ≥ 60000 ms): the attempt's whole timeout would end the stream first (provider aoai-east-ptu)",
    ]);
  });
});
