// Mock providers: images and audio through the openai SDK (JSON and multipart), Azure classic
// (deployment in the path) and v1 / OpenAI (model in the body or the form), and one rate-limit
// window per deployment.
import OpenAI, { AzureOpenAI, toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../harness/providers/index.ts";
import { PNG_1X1 } from "../../../harness/providers/media.ts";
import { apiError } from "../../support/sdk.ts";

const OA_KEY = "sk-media-0123456789";
const AZ_KEY = "azure-key-media-0001";
const API_VERSION = "2024-10-21";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
let oa: MockProvider;
let az: MockProvider;

beforeAll(async () => {
  oa = await startMockProvider({ kind: "openai", name: "openai-media", keys: [OA_KEY] });
  az = await startMockProvider({
    kind: "azure",
    name: "aoai-media",
    keys: [AZ_KEY],
    deployments: {
      dalle3: { model: "dall-e-3" },
      "gpt-image": { model: "gpt-image-1" },
      whisper: { model: "whisper", requestsPerMinute: 1 },
      tts: { model: "tts-1" },
      "chat-a": { model: "gpt-4o-2024-08-06", requestsPerMinute: 1 },
      "chat-b": { model: "gpt-4o-2024-08-06", requestsPerMinute: 1 },
    },
    windowMs: 60_000,
  });
});
afterAll(async () => {
  await Promise.all([oa.close(), az.close()]);
});
beforeEach(() => {
  oa.reset();
  az.reset();
});

const openai = () => new OpenAI({ baseURL: `${oa.url}/v1`, apiKey: OA_KEY, maxRetries: 0 });
const azure = () => new AzureOpenAI({ endpoint: az.url, apiKey: AZ_KEY, apiVersion: API_VERSION, maxRetries: 0 });
const azureV1 = () => new OpenAI({ baseURL: `${az.url}/openai/v1`, apiKey: AZ_KEY, maxRetries: 0 });


describe("images", () => {
  it("the 1×1 PNG is a valid PNG", () => {
    expect(PNG_1X1.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(PNG_1X1.readUInt32BE(16)).toBe(1); // width
    expect(PNG_1X1.readUInt32BE(20)).toBe(1); // height
  });

  it("OpenAI gpt-image-1 generations: n images as b64_json with token usage", async () => {
    const { data: r, response } = await openai()
      .images.generate({ model: "gpt-image-1", prompt: "a lighthouse at dusk", n: 2, size: "1024x1024", quality: "low" })
      .withResponse();
    expect(r.data).toHaveLength(2);
    for (const d of r.data!) expect(Buffer.from(d.b64_json!, "base64").subarray(0, 8)).toEqual(PNG_SIGNATURE);
    // prompt: ceil(20 bytes / 4) = 5 tokens; low quality: 272 output tokens per image
    expect(r.usage).toEqual({ input_tokens: 5, input_tokens_details: { image_tokens: 0, text_tokens: 5 }, output_tokens: 544, total_tokens: 549 });
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBeTruthy();
    expect(oa.records.at(-1)).toMatchObject({ path: "/v1/images/generations", api: "images", op: "generations", model: "gpt-image-1", promptTokens: 5, completionTokens: 544, status: 200 });
  });

  it("Azure classic DALL·E 3 generations: deployment in the path, URL answer with content filter results", async () => {
    const r = await azure().images.generate({ model: "dalle3", prompt: "a red fox", size: "1024x1024" });
    expect(r.data![0]).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/mock-images\/[0-9a-f]{24}\.png$/), revised_prompt: "a red fox", content_filter_results: expect.any(Object) });
    expect(az.records.at(-1)).toMatchObject({ path: "/openai/deployments/dalle3/images/generations", apiVersion: API_VERSION, deployment: "dalle3", model: "dall-e-3", status: 200 });
    const b64 = await azure().images.generate({ model: "dalle3", prompt: "a red fox", response_format: "b64_json" });
    expect(Buffer.from(b64.data![0]!.b64_json!, "base64").subarray(0, 8)).toEqual(PNG_SIGNATURE);
  });

  it("edits (multipart image + prompt + model): OpenAI from the form, Azure classic from the path", async () => {
    const image = await toFile(PNG_1X1, "in.png", { type: "image/png" });
    const r = await openai().images.edit({ model: "gpt-image-1", image, prompt: "add a hat" });
    expect(Buffer.from(r.data![0]!.b64_json!, "base64").subarray(0, 8)).toEqual(PNG_SIGNATURE);
    const rec = oa.records.at(-1)!;
    expect(rec).toMatchObject({ path: "/v1/images/edits", api: "images", op: "edits", model: "gpt-image-1", status: 200 });
    expect(rec.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    expect(rec.bodyBytes!.includes(PNG_1X1)).toBe(true);

    const two = await openai().images.edit({ model: "gpt-image-1", image: [await toFile(PNG_1X1, "a.png"), await toFile(PNG_1X1, "b.png")], prompt: "merge" });
    expect(two.data).toHaveLength(1);

    // The AzureOpenAI SDK moves multipart image edits into the deployment path only when the
    // client names its deployment (the form's model is not read): without it the path is
    // /openai/images/edits, which Azure does not serve.
    const bound = new AzureOpenAI({ endpoint: az.url, apiKey: AZ_KEY, apiVersion: API_VERSION, deployment: "gpt-image", maxRetries: 0 });
    const az1 = await bound.images.edit({ model: "gpt-image", image: await toFile(PNG_1X1, "in.png", { type: "image/png" }), prompt: "add a hat" });
    expect(az1.usage).toMatchObject({ output_tokens: 1056 });
    expect(az.records.at(-1)).toMatchObject({ path: "/openai/deployments/gpt-image/images/edits", deployment: "gpt-image", status: 200 });
    const unbound = await apiError(azure().images.edit({ model: "gpt-image", image: await toFile(PNG_1X1, "in.png"), prompt: "x" }));
    expect(unbound).toEqual({ status: 404, error: { code: "404", message: "Resource not found" } });
    expect(az.records.at(-1)!.path).toBe("/openai/images/edits");
  });

  it("edits without an image or prompt are 400; an unknown deployment in the form is DeploymentNotFound", async () => {
    const form = new FormData();
    form.append("model", "gpt-image-1");
    form.append("prompt", "x");
    const r = await fetch(`${oa.url}/v1/images/edits`, { method: "POST", headers: { authorization: `Bearer ${OA_KEY}` }, body: form });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: { message: "Missing required parameter: 'image'.", type: "invalid_request_error", param: "image", code: "missing_required_parameter" } });
    const e = await apiError(azureV1().images.edit({ model: "no-such-deployment", image: await toFile(PNG_1X1, "in.png"), prompt: "x" }));
    expect(e.status).toBe(404);
    expect(e.error).toMatchObject({ code: "DeploymentNotFound" });
  });
});

describe("audio", () => {
  const clip = Buffer.alloc(32_000, 7);

  it("transcriptions (multipart file + model): json, text and verbose_json", async () => {
    const t = await openai().audio.transcriptions.create({ model: "whisper-1", file: await toFile(clip, "meeting.wav") });
    expect(t).toEqual({ text: "openai-media heard meeting.wav (32000 bytes)" });
    const rec = oa.records.at(-1)!;
    expect(rec).toMatchObject({ path: "/v1/audio/transcriptions", api: "audio", op: "transcriptions", model: "whisper-1", status: 200 });
    expect(rec.bodyBytes!.includes(clip)).toBe(true);

    const text = await openai().audio.transcriptions.create({ model: "whisper-1", file: await toFile(clip, "m.wav"), response_format: "text" });
    expect(text).toBe("openai-media heard m.wav (32000 bytes)\n");
    const verbose = await openai().audio.transcriptions.create({ model: "whisper-1", file: await toFile(clip, "m.wav"), response_format: "verbose_json" });
    expect(verbose).toMatchObject({ task: "transcribe", duration: 2, text: "openai-media heard m.wav (32000 bytes)" });
  });

  it("translations and Azure classic transcription (deployment in the path)", async () => {
    const tr = await openai().audio.translations.create({ model: "whisper-1", file: await toFile(clip, "fr.mp3") });
    expect(tr.text).toBe("openai-media heard fr.mp3 (32000 bytes)");
    const az1 = await azure().audio.transcriptions.create({ model: "whisper", file: await toFile(clip, "call.mp3") });
    expect(az1.text).toBe("aoai-media heard call.mp3 (32000 bytes)");
    expect(az.records.at(-1)).toMatchObject({ path: "/openai/deployments/whisper/audio/transcriptions", apiVersion: API_VERSION, deployment: "whisper", status: 200 });
    expect(az.credentialsSeen()).toEqual([{ scheme: "api-key", value: AZ_KEY }]);
  });

  it("a transcription without a file is a 400", async () => {
    const form = new FormData();
    form.append("model", "whisper-1");
    const r = await fetch(`${oa.url}/v1/audio/transcriptions`, { method: "POST", headers: { authorization: `Bearer ${OA_KEY}` }, body: form });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string } }).error.param).toBe("file");
  });

  it("speech: binary audio/mpeg whose size grows with the input; Azure classic path", async () => {
    const res = await openai().audio.speech.create({ model: "tts-1", input: "Hello there", voice: "alloy" });
    expect(res.headers.get("content-type")).toBe("audio/mpeg");
    const audio = Buffer.from(await res.arrayBuffer());
    expect(audio.subarray(0, 3).toString("latin1")).toBe("ID3");
    expect(audio.length).toBe(256 + 11 * 32);
    expect(oa.records.at(-1)).toMatchObject({ path: "/v1/audio/speech", op: "speech", promptTokens: 3, status: 200 });

    const wav = await azure().audio.speech.create({ model: "tts", input: "Hi", voice: "nova", response_format: "wav" });
    expect(wav.headers.get("content-type")).toBe("audio/wav");
    expect(az.records.at(-1)).toMatchObject({ path: "/openai/deployments/tts/audio/speech", deployment: "tts", status: 200 });
    expect((await apiError(openai().audio.speech.create({ model: "tts-1", input: "x" } as never))).status).toBe(400);
  });

  it("a wrong key is a 401 on multipart endpoints; faults apply", async () => {
    const wrong = new AzureOpenAI({ endpoint: az.url, apiKey: "wrong-key", apiVersion: API_VERSION, maxRetries: 0 });
    expect((await apiError(wrong.audio.transcriptions.create({ model: "whisper", file: await toFile(clip, "c.mp3") }))).status).toBe(401);
    az.setFault({ type: "status", status: 503, api: "audio", count: 1 });
    expect((await apiError(azure().audio.speech.create({ model: "tts", input: "x", voice: "alloy" }))).status).toBe(503);
    az.setFault({ type: "rateLimit", retryAfterMs: 2000, deployment: "dalle3", count: 1 });
    const e = await apiError(azure().images.generate({ model: "dalle3", prompt: "x" }));
    expect(e.status).toBe(429);
  });
});

describe("rate-limit windows", () => {
  it("each deployment has its own window: two deployments on one resource do not share budget", async () => {
    const chat = (model: string) => azure().chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
    await chat("chat-a");
    const e = await apiError(chat("chat-a"));
    expect(e.status).toBe(429);
    expect(az.records.at(-1)).toMatchObject({ deployment: "chat-a", outcome: "rate-limited-requests" });
    // chat-b is untouched by chat-a's exhausted window
    const ok = await chat("chat-b");
    expect(ok.choices[0]!.message.content).toContain("aoai-media");
    expect(az.stats().windows["chat-a"]).toMatchObject({ remainingRequests: 0 });
    expect(az.stats().windows["chat-b"]).toMatchObject({ remainingRequests: 0 });
    expect(Object.keys(az.stats().windows).sort()).toEqual(["chat-a", "chat-b"]);
  });

  it("audio deployments count requests in their own window too", async () => {
    await azure().audio.transcriptions.create({ model: "whisper", file: await toFile(clip(), "a.mp3") });
    const e = await apiError(azure().audio.transcriptions.create({ model: "whisper", file: await toFile(clip(), "b.mp3") }));
    expect(e.status).toBe(429);
    expect(e.error).toMatchObject({ code: "429" });
    expect((e.error as { message: string }).message).toContain("Transcriptions_Create");
    // other deployments are not affected
    expect((await azure().audio.speech.create({ model: "tts", input: "x", voice: "alloy" })).status).toBe(200);
  });
});

function clip(): Buffer {
  return Buffer.alloc(1000, 1);
}
