// Issue 9: base64 images in a prompt were counted as text bytes — a 600 KB image became ~150,000
// "tokens", so it was refused (or sent to the spillover) by every provider with a 10,000 TPM limit.
// Images are now counted per image (defaults.imageTokens, 1445: the most a high-detail image costs
// on gpt-4o), and the mock counts them the same way.
import { afterEach, describe, expect, it } from "vitest";
import { post, startStack, type Stack } from "../support/stack.ts";

describe("an image prompt", () => {
  let s: Stack;
  afterEach(async () => { await s?.close(); });

  it("a 600 KB image is admitted against the 10,000 TPM PTU and served by it", async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
    const image = "data:image/jpeg;base64," + Buffer.alloc(450_000, 7).toString("base64"); // 600,000 characters
    expect(image.length).toBeGreaterThan(600_000);
    const r = await post(s.gateway.url, "/v1/chat/completions", {
      model: "gpt-4o", max_tokens: 50,
      messages: [{ role: "user", content: [{ type: "text", text: "What is in this picture?" }, { type: "image_url", image_url: { url: image } }] }],
    });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    expect(s.east.records.filter((x) => x.api === "chat").map((x) => x.status)).toEqual([200]);
  });

  it("a 600 KB audio prompt (input_audio) is admitted against the same PTU by its duration, not its base64 length", async () => {
    s = await startStack({ edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false } }) });
    const data = Buffer.alloc(450_000, 3).toString("base64"); // 600,000 characters: 9.4 s of 24 kHz wav
    const r = await post(s.gateway.url, "/v1/chat/completions", {
      model: "gpt-4o", max_tokens: 50,
      messages: [{ role: "user", content: [{ type: "text", text: "Transcribe this." }, { type: "input_audio", input_audio: { data, format: "wav" } }] }],
    });
    expect(r.status).toBe(200);
    expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
    const chats = s.east.records.filter((x) => x.api === "chat");
    expect(chats.map((x) => x.status)).toEqual([200]);
    // The provider billed 94 audio tokens (+ the text); the gateway reserved its estimate, 1,125 for
    // the audio: never less than what was billed, and far from the 150,000 of counting it as text.
    const usage = JSON.parse(r.body).usage;
    expect(usage.prompt_tokens).toBeGreaterThanOrEqual(94);
    expect(usage.prompt_tokens).toBeLessThan(1125);
  });
});
