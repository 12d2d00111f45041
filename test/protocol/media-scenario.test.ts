// Issue 9: images, audio transcription (multipart) and speech through the gateway with the openai
// SDK, in front of two Azure resources (classic paths: the deployment in the path, api-version in
// the query). Multipart bodies pass unmodified with their boundary; each resource sees only its
// own key; a 503 on a multipart upload fails over with the same body.
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PNG_1X1 } from "../../harness/providers/media.ts";
import { credentialAudit, EAST_KEY, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

const deployments = (suffix: string) => ({
  [`gpt4o-${suffix}`]: { model: "gpt-4o-2024-08-06" },
  dalle3: { model: "dall-e-3" },
  whisper: { model: "whisper" },
  tts: { model: "tts-1" },
});
const map = (suffix: string) => ({ "gpt-4o": `gpt4o-${suffix}`, "dall-e-3": "dalle3", "whisper-1": "whisper", "tts-1": "tts" });
// A short RIFF/WAVE header and silence: a file the transcription endpoint accepts.
const clip = Buffer.concat([Buffer.from("RIFF\x24\x08\x00\x00WAVEfmt ", "latin1"), Buffer.alloc(2048)]);

describe("images and audio through the gateway (openai SDK)", () => {
  let s: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    s = await startStack({
      east: { deployments: deployments("ptu") },
      west: { deployments: deployments("payg") },
      edit: (cfg) => ({
        ...cfg,
        providers: [
          { ...cfg.providers[0], deployments: map("ptu"), limits: undefined },
          { ...cfg.providers[1], deployments: map("payg"), limits: undefined },
        ],
        healthCheck: { enabled: false },
      }),
    });
    client = new OpenAI({ baseURL: `${s.gateway.url}/v1`, apiKey: "unused-client-key", maxRetries: 0 });
  });
  afterAll(async () => { await s?.close(); });

  it("image generation: JSON, the deployment in the Azure path", async () => {
    const img = await client.images.generate({ model: "dall-e-3", prompt: "a lighthouse at dusk", n: 1, size: "1024x1024" });
    expect(img.data?.length).toBe(1);
    const rec = s.east.records.at(-1)!;
    expect(rec.path).toBe("/openai/deployments/dalle3/images/generations");
    expect(rec.apiVersion).toBe("2024-10-21");
    expect(rec.status).toBe(200);
  });

  it("transcription: the multipart body arrives byte for byte, model from the form, deployment in the path", async () => {
    const t = await client.audio.transcriptions.create({ model: "whisper-1", file: await toFile(clip, "meeting.wav") });
    expect(typeof t.text).toBe("string");
    const rec = s.east.records.at(-1)!;
    expect(rec.path).toBe("/openai/deployments/whisper/audio/transcriptions");
    expect(rec.apiVersion).toBe("2024-10-21");
    expect(rec.status).toBe(200);
    expect(rec.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    expect(rec.bodyBytes!.includes(clip)).toBe(true);
  });

  it("image edit (multipart) fails over on a 503 with the same body and its boundary", async () => {
    s.east.setFault({ type: "status", status: 503, count: 1 });
    const image = await toFile(PNG_1X1, "in.png", { type: "image/png" });
    const r = await client.images.edit({ model: "dall-e-3", image, prompt: "add a hat" }).withResponse();
    expect(r.response.status).toBe(200);
    expect(r.response.headers.get("x-ai-failover-provider")).toBe("aoai-west-payg");
    expect(r.response.headers.get("x-ai-failover-attempts")).toBe("2");
    const failed = s.east.records.at(-1)!;
    const served = s.west.records.at(-1)!;
    expect(failed.status).toBe(503);
    expect(served.path).toBe("/openai/deployments/dalle3/images/edits");
    expect(served.apiVersion).toBe("2024-10-21");
    expect(Buffer.compare(served.bodyBytes!, failed.bodyBytes!)).toBe(0);
    expect(served.headers["content-type"]).toBe(failed.headers["content-type"]);
  });

  it("speech: JSON in, audio bytes out", async () => {
    const speech = await client.audio.speech.create({ model: "tts-1", input: "hello there", voice: "alloy" });
    const bytes = Buffer.from(await speech.arrayBuffer());
    expect(bytes.length).toBeGreaterThan(0);
    expect(s.east.records.at(-1)!.path).toBe("/openai/deployments/tts/audio/speech");
    expect(s.east.records.at(-1)!.apiVersion).toBe("2024-10-21");
  });

  it("each resource saw only its own key, never the client's", () => {
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});
