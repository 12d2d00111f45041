import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { estimatePromptTokens, goDuration, maskKey, requestedMaxTokens } from "../../../harness/providers/index.ts";
import { RateWindow } from "../../../harness/providers/rate-window.ts";

describe("goDuration (OpenAI x-ratelimit-reset-* format)", () => {
  it.each([
    [0, "0s"],
    [17, "17ms"],
    [644, "644ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [59_500, "59.5s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [90_250, "1m30.25s"],
    [3_600_000, "1h0m0s"],
  ])("%d ms → %s", (ms, s) => expect(goDuration(ms)).toBe(s));
});

describe("prompt estimate (documented in harness/providers/tokens.ts)", () => {
  it("chat: 3 + Σ(4 + ceil(bytes/4) + name)", () => {
    expect(estimatePromptTokens("chat", { messages: [{ role: "user", content: "Say hello" }] })).toBe(10);
    expect(
      estimatePromptTokens("chat", {
        messages: [
          { role: "system", content: "12345678" },
          { role: "user", content: [{ type: "text", text: "abcd" }, { type: "text", text: "e" }], name: "bob" },
        ],
      }),
    ).toBe(3 + (4 + 2) + (4 + 2 + 1));
    expect(estimatePromptTokens("chat", { messages: [{ role: "user", content: "é".repeat(4) }] })).toBe(3 + 4 + 2); // bytes, not chars
  });
  it("responses, embeddings, completions", () => {
    expect(estimatePromptTokens("responses", { input: "Say hello", instructions: "abcd" })).toBe(3 + 5 + 7);
    expect(estimatePromptTokens("embeddings", { input: ["abcd", "abcde", [1, 2, 3]] })).toBe(1 + 2 + 3);
    expect(estimatePromptTokens("completions", { prompt: "Say hello" })).toBe(3);
  });
  it("max tokens: max_completion_tokens > max_tokens > default", () => {
    expect(requestedMaxTokens("chat", { max_tokens: 5, max_completion_tokens: 7 }, 99)).toBe(7);
    expect(requestedMaxTokens("chat", { max_tokens: 5 }, 99)).toBe(5);
    expect(requestedMaxTokens("chat", {}, 99)).toBe(99);
    expect(requestedMaxTokens("responses", { max_output_tokens: 3 }, 99)).toBe(3);
    expect(requestedMaxTokens("embeddings", {}, 99)).toBe(0);
  });
});

describe("maskKey", () => {
  it("keeps the first 5 and last 4 characters", () => {
    expect(maskKey("sk-test-0123456789")).toBe("sk-te****6789");
    expect(maskKey("short")).toBe("short****");
  });
});

describe("RateWindow", () => {
  it("never admits more than the limits within any one window (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ tokens: fc.integer({ min: 0, max: 2000 }), dt: fc.integer({ min: 0, max: 400 }) }), { maxLength: 60 }),
        (limitTokens, limitRequests, steps) => {
          const w = new RateWindow(limitTokens, limitRequests, 1000);
          let now = 0;
          let windowStart = -Infinity;
          let usedT = 0;
          let usedR = 0;
          for (const s of steps) {
            now += s.dt;
            const before = w.state(now);
            const a = w.admit(s.tokens, now);
            if (before.resetsInMs === 0) {
              windowStart = now;
              usedT = 0;
              usedR = 0;
            }
            if (a.admitted) {
              usedT += s.tokens;
              usedR += 1;
              expect(a.state.remainingTokens).toBe(limitTokens - usedT);
            } else {
              expect(s.tokens > limitTokens - usedT || usedR + 1 > limitRequests).toBe(true);
              expect(a.retryAfterMs).toBe(windowStart + 1000 - now);
            }
            expect(usedT).toBeLessThanOrEqual(limitTokens);
            expect(usedR).toBeLessThanOrEqual(limitRequests);
          }
        },
      ),
    );
  });
});
