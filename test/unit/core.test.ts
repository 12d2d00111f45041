// The pure core through the unit build: request scanning, API paths and upstream routes,
// provider choice, health transitions over time, usage extraction, SSE usage stripping and
// admission-time capacity. Table-driven; the property tests are in core.property.test.ts.
import { describe, expect, it } from "vitest";
import {
  coreScanRequest, coreClassifyPath, coreClassifyObject, coreRoute, coreChoose, coreProbes, coreResponses, coreStateRoundTrip,
  selectDraws, healthReset, healthProbe, healthResponse, healthAvailable,
  usageScan, sseStrip, sseStripTrace,
  capReset, capFits, capReserve, capSettle, capLearn, capState,
} from "../.build/unit/unit.js";
import { AZURE_SSE, OPENAI_SSE, OPENAI_SSE_NO_USAGE, RESPONSES_SSE, WITH_USAGE } from "./recordings.js";

type Scan = {
  ok: boolean; error: string; model: string; modelStart: number; stream: boolean; maxTokens: number;
  includeUsage: number; promptBytes: number; messageCount: number; promptTokens: number; objectEnd: number;
};
const scan = (body: string): Scan => JSON.parse(coreScanRequest(body));
const enc = new TextEncoder();
const dec = new TextDecoder();

describe("request scanner", () => {
  it.each([
    ["chat, streaming, include_usage, max_tokens",
      '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":100}',
      { model: "gpt-4o", stream: true, includeUsage: 1, maxTokens: 100, messageCount: 1, promptBytes: 20 }],
    ["max_completion_tokens", '{"model":"o3","max_completion_tokens":50,"messages":[]}', { model: "o3", maxTokens: 50, stream: false, messageCount: 0 }],
    ["max_output_tokens (Responses API), input string", '{"model":"gpt-4.1","input":"hi there","max_output_tokens":7}',
      { model: "gpt-4.1", maxTokens: 7, promptBytes: 8, messageCount: 0 }],
    ["include_usage false", '{"stream":true,"stream_options":{"include_usage":false}}', { stream: true, includeUsage: 0 }],
    // Images count per image, not by their bytes (issue 9): a data URI or an image_url / url value.
    ["an image data URI in a chat part", '{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,' + "A".repeat(4000) + '","detail":"high"}}]}]}',
      { images: 1, messageCount: 1 }],
    ["an image by URL, and a Responses input_image", '{"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x.example/a.png"},{"type":"input_text","text":"what is it"}]}]}',
      { images: 1 }],
    ["empty stream_options", '{"stream":true,"stream_options":{}}', { includeUsage: -1 }],
    ["stream_options with other members first", '{"stream_options":{"x":[1,{"include_usage":false}],"include_usage":true}}', { includeUsage: 1 }],
    ["stream false / absent", '{"model":"m","stream":false}', { stream: false, maxTokens: -1, includeUsage: -1 }],
    ["no model", '{"messages":[{"role":"user","content":"x"}]}', { model: "", modelStart: -1 }],
    ["model not a string", '{"model":42}', { model: "", modelStart: -1 }],
    ["whitespace everywhere", ' \r\n\t{ "model" :\t"m" ,\n"max_tokens" : 9 } \n', { model: "m", maxTokens: 9, modelStart: 17 }],
    // Was -1 (ignored): a lenient provider reads 1e3 as 1000 and bills it (issue 13 fuzz).
    ["max_tokens not a plain integer", '{"max_tokens":1e3}', { maxTokens: 1000 }],
    ["max_tokens negative", '{"max_tokens":-5}', { maxTokens: -1 }],
    ["empty object", "{}", { model: "", objectEnd: 1 }],
    ["braces and brackets inside strings", '{"messages":[{"role":"user","content":"}]{[\\"model\\":\\"x\\""}],"model":"real"}',
      { model: "real", messageCount: 1 }],
    ["escaped model value", '{"model":"a\\"}{b\\u002dc"}', { model: 'a"}{b-c', modelStart: 10 }],
    ["escaped keys read as the provider reads them", '{"mod\\u0065l":"gpt-4o","stre\\u0061m":true,"max_t\\u006fkens":5}',
      { model: "gpt-4o", stream: true, maxTokens: 5 }],
    ["a repeated key: the last one wins", '{"model":"gpt-4o-mini","stream":true,"model":"gpt-4o","stream":false}', { model: "gpt-4o", stream: false }],
    ["a repeated escaped model overrides the plain one", '{"model":"gpt-4o-mini","mod\\u0065l":"gpt-4o"}', { model: "gpt-4o" }],
    ["a later non-string model clears it", '{"model":"gpt-4o","model":null}', { model: "", modelStart: -1 }],
    ["include_usage repeated: the last one wins", '{"stream_options":{"include_usage":false,"include_usage":true}}', { includeUsage: 1 }],
    ["unicode text", '{"messages":[{"role":"user","content":"héllo ✓"}],"model":"m"}', { model: "m", promptBytes: 4 + 4 + 7 + 10 }],
    // The largest output bound is reserved, whichever the provider honours (it used to be the last one written).
    ["max_completion_tokens and a smaller max_tokens", '{"max_completion_tokens":4000,"max_tokens":1}', { maxTokens: 4000 }],
    // Any JSON number notation, as a lenient provider reads it, rounded up (issue 13 fuzz: these were ignored).
    ["a bound written 1e3", '{"max_tokens":1,"max_completion_tokens":1e3}', { maxTokens: 1000 }],
    ["a bound written 2.5e1", '{"max_completion_tokens":2.5e1}', { maxTokens: 25 }],
    ["a bound written 25.0", '{"max_output_tokens":25.0}', { maxTokens: 25 }],
    ["a fractional bound rounds up", '{"max_tokens":10.2}', { maxTokens: 11 }],
    ["a huge bound reserves the cap", '{"max_tokens":1e30}', { maxTokens: 100000000 }],
    ["a huge integer bound reserves the cap", '{"max_tokens":99999999999999999999}', { maxTokens: 100000000 }],
    ["a string is no bound", '{"max_tokens":"500"}', { maxTokens: -1 }],
    ["max_tokens and a larger max_output_tokens", '{"max_tokens":10,"max_output_tokens":300}', { maxTokens: 300 }],
    // Billed input beside the messages counts toward the prompt.
    ["Responses instructions", `{"model":"m","input":"hi","instructions":"${"x".repeat(400)}"}`, { promptBytes: 2 + 400 }],
    ["tools, functions, response_format and system", '{"tools":[{"type":"function"}],"functions":["ab"],"response_format":{"type":"json"},"system":"cd"}',
      { promptBytes: 4 + 8 + 2 + 4 + 4 + 2 }],
  ] as [string, string, Partial<Scan>][])("%s", (_n, body, expected) => {
    const s = scan(body);
    expect(s.ok, s.error).toBe(true);
    expect(s).toMatchObject(expected);
  });

  it("sizes the prompt: bytes of the strings in messages/input/prompt and 4 tokens per message", () => {
    const body = JSON.stringify({ model: "m", messages: [{ role: "system", content: "a".repeat(100) }, { role: "user", content: "b".repeat(37) }] });
    const s = scan(body);
    // "role","system","content",100 a's,"role","user","content",37 b's
    const bytes = 4 + 6 + 7 + 100 + 4 + 4 + 7 + 37;
    expect(s).toMatchObject({ promptBytes: bytes, messageCount: 2, promptTokens: Math.floor((bytes + 3) / 4) + 2 * 4 + 3 });
    expect(scan('{"prompt":["abcd","efgh"]}')).toMatchObject({ promptBytes: 8, messageCount: 0, promptTokens: 2 + 3 });
    expect(scan('{"model":"x","temperature":0.5}').promptTokens).toBe(3);
  });

  it("reports the model's byte span (for rewriting) and the object end", () => {
    const body = '{"stream":true, "model":"gpt-4o" }';
    const s = scan(body);
    expect(body.slice(s.modelStart, s.modelStart + 6)).toBe("gpt-4o");
    expect(s.objectEnd).toBe(body.length - 1);
  });

  it.each([
    ["an array", "[1]"], ["a string", '"x"'], ["a number", "1"], ["null", "null"], ["whitespace then an array", " \n[{}]"],
  ])("valid JSON that is not an object: %s → ok=false", (_n, body) => {
    expect(scan(body)).toMatchObject({ ok: false, error: "request body is not a JSON object" });
  });

  it.each([
    ["empty", "", "request body is not a JSON object"],
    ["only whitespace", " \r\n", "request body is not a JSON object"],
    ["unterminated object", '{"a":1', "request body is not valid JSON"],
    ["unterminated nested", '{"a":{"b":1}', "request body is not valid JSON"],
    ["unterminated string", '{"model":"gpt', "request body is not valid JSON"],
    ["missing colon", '{"a" 1}', "request body is not valid JSON"],
    ["missing value", '{"a":}', "request body is not valid JSON"],
    ["missing comma", '{"a":1 "b":2}', "request body is not valid JSON"],
    ["double comma", '{"a":1,,"b":2}', "request body is not valid JSON"],
    ["leading comma", '{,"a":1}', "request body is not valid JSON"],
    ["trailing comma", '{"a":1,}', "request body is not valid JSON"],
    ["trailing comma in array", '{"a":[1,]}', "request body is not valid JSON"],
    ["leading comma in array", '{"a":[,1]}', "request body is not valid JSON"],
    ["trailing comma in nested object", '{"a":{"b":1,}}', "request body is not valid JSON"],
    ["key without value in nested object", '{"a":{"b"}}', "request body is not valid JSON"],
    ["two colons", '{"a":1:2}', "request body is not valid JSON"],
    ["mismatched brackets", '{"a":[1}]}', "request body is not valid JSON"],
    ["unclosed array", '{"a":[}', "request body is not valid JSON"],
    ["unquoted key", "{a:1}", "request body is not valid JSON"],
    ["single quotes", "{'a':1}", "request body is not valid JSON"],
    ["bare word", '{"a":xyz}', "request body is not valid JSON"],
    ["misspelled literal", '{"stream":tru}', "request body is not valid JSON"],
    ["literal with trailing letters", '{"stream":truex}', "request body is not valid JSON"],
    ["truncated null", '{"a":nul}', "request body is not valid JSON"],
    ["leading zero", '{"max_tokens":01}', "request body is not valid JSON"],
    ["bare minus", '{"a":-}', "request body is not valid JSON"],
    ["dot without digits", '{"a":1.}', "request body is not valid JSON"],
    ["exponent without digits", '{"a":1e}', "request body is not valid JSON"],
    ["plus sign", '{"a":+1}', "request body is not valid JSON"],
    ["NaN", '{"a":NaN}', "request body is not valid JSON"],
    ["bad escape", '{"a":"\\q"}', "request body is not valid JSON"],
    ["bad unicode escape", '{"a":"\\u12G4"}', "request body is not valid JSON"],
    ["short unicode escape at the end", '{"a":"\\u12', "request body is not valid JSON"],
    ["raw newline in a string", '{"a":"x\ny"}', "request body is not valid JSON"],
    ["raw control character in a key", '{"a\u0001":1}', "request body is not valid JSON"],
    ["comment", '{"a":1 // x\n}', "request body is not valid JSON"],
    ["data after the object", '{"a":1} x', "unexpected data after the JSON object"],
    ["two objects", "{}{}", "unexpected data after the JSON object"],
    ["extra closing brace", '{"a":1}}', "unexpected data after the JSON object"],
    ["backslash at the very end", '{"a":"\\', "request body is not valid JSON"],
  ])("invalid: %s → ok=false, never a trap", (_n, body, error) => {
    expect(() => JSON.parse(body)).toThrow();
    const s = scan(body);
    expect(s.ok).toBe(false);
    expect(s.error).toBe(error);
  });

  it("survives hostile nesting (100k '[') without trapping", () => {
    const deep = "[".repeat(100_000);
    expect(scan('{"messages":' + deep).ok).toBe(false);
    expect(scan('{"messages":' + deep + "]".repeat(99_999) + "}").ok).toBe(false);
    expect(scan('{"x":' + "{\"a\":".repeat(50_000) + "1" + "}".repeat(50_000) + "}")).toMatchObject({ ok: true });
    expect(scan('{"messages":' + deep + "]".repeat(100_000) + ',"model":"m"}')).toMatchObject({ ok: true, model: "m" });
    expect(scan(deep).ok).toBe(false);
  });
});

describe("API classification from the path", () => {
  const CHAT = 1, COMPLETIONS = 2, EMBEDDINGS = 3, RESPONSES = 4, MODELS = 5, UNKNOWN = 0;
  it.each([
    ["/v1/chat/completions", `${CHAT}||openai`],
    ["/v1/completions", `${COMPLETIONS}||openai`],
    ["/v1/embeddings?x=1", `${EMBEDDINGS}||openai`],
    ["/v1/responses/", `${RESPONSES}||openai`],
    ["/v1/models", `${MODELS}||openai`],
    ["/chat/completions", `${CHAT}||openai`],
    ["/embeddings", `${EMBEDDINGS}||openai`],
    ["/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21", `${CHAT}|gpt4o-ptu|azure`],
    ["/openai/deployments/emb/embeddings?api-version=2025-04-01-preview", `${EMBEDDINGS}|emb|azure`],
    ["/openai/deployments/d/models", `${UNKNOWN}|d|azure`],
    ["/openai/deployments//chat/completions", `${UNKNOWN}||openai`],
    ["/openai/deployments/d", `${UNKNOWN}||openai`],
    ["/openai/v1/chat/completions", `${CHAT}||azure`],
    ["/openai/v1/responses", `${RESPONSES}||azure`],
    ["/openai/v1/models", `${MODELS}||azure`],
    ["/openai/models?api-version=2024-10-21", `${MODELS}||azure`],
    ["/v2/chat/completions", `${UNKNOWN}||openai`],
    ["/v1/chat/completions/extra", `${UNKNOWN}||openai`],
    ["/", `${UNKNOWN}||openai`],
    ["", `${UNKNOWN}||openai`],
  ])("%s → %s", (path, expected) => {
    expect(coreClassifyPath(path)).toBe(expected);
  });

  // Issue 9: the rest of the surface; stored objects named in the path; the client's query kept
  // without its api-version. kind|subPath|objectId|query
  const ITEM = 6, CONV = 7, FILES = 8, BATCHES = 9, IMG = 10, IMG_EDIT = 11, TRANSCRIBE = 12, SPEECH = 14;
  it.each([
    ["/v1/responses/resp_abc123", `${ITEM}|/resp_abc123|resp_abc123|`],
    ["/v1/responses/resp_abc123/cancel", `${ITEM}|/resp_abc123/cancel|resp_abc123|`],
    ["/openai/v1/responses/resp_1/input_items?limit=5&order=asc", `${ITEM}|/resp_1/input_items|resp_1|limit=5&order=asc`],
    ["/openai/responses/resp_1?api-version=2025-04-01-preview", `${ITEM}|/resp_1|resp_1|`],
    ["/v1/responses/resp_1/other", `${UNKNOWN}|||`],
    ["/v1/responses/..%2Fx", `${UNKNOWN}|||`],
    ["/v1/conversations", `${CONV}|||`],
    ["/v1/conversations/conv_9/items/msg_1", `${CONV}|/conv_9/items/msg_1|conv_9|`],
    ["/v1/files?purpose=batch", `${FILES}|||purpose=batch`],
    ["/openai/files/file-abc/content?api-version=2024-10-21", `${FILES}|/file-abc/content|file-abc|`],
    ["/openai/batches/batch_1/cancel?api-version=2024-10-21&x=1", `${BATCHES}|/batch_1/cancel|batch_1|x=1`],
    ["/v1/images/generations", `${IMG}|||`],
    ["/openai/deployments/dalle3/images/edits?api-version=2024-10-21", `${IMG_EDIT}|||`],
    ["/openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21", `${TRANSCRIBE}|||`],
    ["/v1/audio/speech", `${SPEECH}|||`],
    ["/openai/deployments/d/files", `${UNKNOWN}|||`],
    ["/openai/deployments/d/responses?api-version=2025-04-01-preview", `${RESPONSES}|||`],
  ])("%s → %s", (path, expected) => {
    expect(coreClassifyObject(path)).toBe(expected);
  });
});

describe("upstream path, probe path and credential header per provider shape", () => {
  const AZURE = 0, OPENAI = 1, CLASSIC = 0, V1 = 1;
  const CHAT = 1, EMBEDDINGS = 3, RESPONSES = 4, MODELS = 5;
  it.each([
    ["Azure classic chat", [AZURE, CLASSIC, "", "2024-10-21", CHAT, "gpt4o-ptu"],
      "/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21|/openai/models?api-version=2024-10-21|api-key|0"],
    ["Azure classic embeddings behind a basePath", [AZURE, CLASSIC, "/base", "2024-10-21", EMBEDDINGS, "emb"],
      "/base/openai/deployments/emb/embeddings?api-version=2024-10-21|/base/openai/models?api-version=2024-10-21|api-key|0"],
    ["Azure classic, Responses API goes to /openai/v1 with the model in the body", [AZURE, CLASSIC, "", "2025-04-01-preview", RESPONSES, "d"],
      "/openai/v1/responses|/openai/models?api-version=2025-04-01-preview|api-key|1"],
    ["Azure v1 chat", [AZURE, V1, "", "", CHAT, "gpt4o-ptu"], "/openai/v1/chat/completions|/openai/v1/models|api-key|1"],
    ["OpenAI chat", [OPENAI, CLASSIC, "/v1", "", CHAT, "gpt-4o"], "/v1/chat/completions|/v1/models|authorization|1"],
    ["OpenAI-compatible under a prefix", [OPENAI, CLASSIC, "/compat/v1", "", MODELS, ""], "/compat/v1/models|/compat/v1/models|authorization|1"],
    // basePath "" is an explicit choice in the config (the API at the host's root).
    ["OpenAI-compatible at the root", [OPENAI, CLASSIC, "", "", CHAT, "m"], "/chat/completions|/models|authorization|1"],
  ] as [string, [number, number, string, string, number, string], string][])("%s", (_n, args, expected) => {
    expect(coreRoute(...args)).toBe(expected);
  });
});

describe("provider choice", () => {
  /** Picks per provider over n draws ("priority:weight:available[:excluded]"). */
  const draws = (spec: string, n = 2000, seed = 42n) => coreChoose(spec, n, seed).split(",").map(Number);

  it.each([
    ["the lower priority group takes everything while a member is available", "0:1:1;0:1:1;1:1:1", [1, 1, 0]],
    ["one member down: the group's other member takes it all, no spill", "0:1:0;0:1:1;1:1:1", [0, 1, 0]],
    ["whole group down: spill to the next group", "0:1:0;0:1:0;1:1:1", [0, 0, 1]],
    ["priority is by value, not by order", "5:1:1;2:1:1", [0, 1]],
    ["an excluded member (already tried) is skipped", "0:1:1:1;0:1:1;1:1:1", [0, 1, 0]],
    ["whole group excluded: spill", "0:1:1:1;1:1:1", [0, 1]],
    ["weight 0 is drained: never chosen while others serve", "0:0:1;0:1:1", [0, 1]],
    ["a group of drained members spills", "0:0:1;1:1:1", [0, 1]],
  ] as [string, string, number[]][])("%s", (_n, spec, share) => {
    const n = 2000;
    const counts = draws(spec, n);
    const perProvider = counts.slice(0, -1);
    expect(counts[counts.length - 1], "no-choice draws").toBe(0);
    // share: 1 = takes part, 0 = never chosen.
    for (let i = 0; i < share.length; i++) {
      if (share[i] === 0) expect(perProvider[i], `provider ${i}`).toBe(0);
      else expect(perProvider[i], `provider ${i}`).toBeGreaterThan(0);
    }
    expect(perProvider.reduce((a, b) => a + b, 0)).toBe(n);
    // Equal weights inside a group split roughly evenly.
    if (spec === "0:1:1;0:1:1;1:1:1") {
      expect(Math.abs(perProvider[0] - perProvider[1])).toBeLessThan(n * 0.1);
    }
  });

  it.each([
    ["3:1", "0:3:1;0:1:1", [0.75, 0.25]],
    ["1:1:2", "0:1:1;0:1:1;0:2:1", [0.25, 0.25, 0.5]],
    ["1000:1", "0:1000:1;0:1:1", [1000 / 1001, 1 / 1001]],
    ["weights only within the group", "0:1:1;0:4:1;1:100:1", [0.2, 0.8, 0]],
  ] as [string, string, number[]][])("weights %s: share of 40000 draws within 1.5 points", (_n, spec, shares) => {
    const n = 40000;
    for (const seed of [1n, 42n, 0xdeadbeefn]) {
      const counts = draws(spec, n, seed);
      shares.forEach((s, i) => expect(Math.abs(counts[i] / n - s), `provider ${i}, seed ${seed}`).toBeLessThan(0.015));
    }
  });

  it("is reproducible for a fixed seed and differs across seeds", () => {
    expect(coreChoose("0:1:1;0:1:1", 50, 7n)).toBe(coreChoose("0:1:1;0:1:1", 50, 7n));
    const a = selectDraws("0:1:1;0:1:1", "", 1, 1n), b = selectDraws("0:1:1;0:1:1", "", 1, 2n), c = selectDraws("0:1:1;0:1:1", "", 1, 3n);
    expect(new Set([a, b, c]).size).toBeGreaterThan(1);
  });

  // why: 1 unknown model, 2 all unavailable, 3 no capacity.
  it.each([
    ["all unavailable", "0:1:0;1:1:0", "", "0,0|2"],
    ["all excluded", "0:1:1:1;1:1:1:1", "", "0,0|2"],
    ["all drained", "0:0:1", "", "0|2"],
    ["no one serves the model", "0:1:1:0:1:gpt-4o;0:1:1:0:1:@gpt-4o-mini", "o3", "0,0|1"],
    ["the one serving the model is down", "0:1:0:0:1:gpt-4o;0:1:1:0:1:o3", "gpt-4o", "0,0|2"],
    ["available but no capacity", "0:1:1:0:0;1:1:1:0:0", "", "0,0|3"],
    ["capacity decides inside the group", "0:1:1:0:0;0:1:1:0:1;1:1:1", "", "0,10,0|0"],
    ["no capacity in the group: spill", "0:1:1:0:0;1:1:1", "", "0,10|0"],
    ["Azure serves the models it has deployments for", "0:1:1:0:1:@gpt-4o;0:1:1:0:1:o3", "gpt-4o", "10,0|0"],
    ["an OpenAI provider without models serves any model", "0:1:1:0:1:gpt-4o;1:1:1", "o3", "0,10|0"],
    ["an unknown model (none in body or path) may go anywhere", "0:1:1:0:1:gpt-4o", "", "10|0"],
  ])("%s", (_n, spec, model, expected) => {
    expect(selectDraws(spec, model, 10, 9n)).toBe(expected);
  });
});

type Health = {
  flipped: boolean; available: boolean; healthy: boolean; credentialBad: boolean; cooldownUntilMs: number;
  reason: string; ejections: number; consecutiveFailures: number;
};
const B = BigInt;
function health(unhealthy = 2, healthy = 1, consecutive = 3, base = 30_000, max = 300_000, rateDefault = 10_000, auth = 300_000) {
  healthReset(unhealthy, healthy, consecutive, B(base), B(max), B(rateDefault), B(auth));
}
const probe = (status: number, now: number, retryAfter = 0, quota = false): Health => JSON.parse(healthProbe(status, B(now), B(retryAfter), quota));
const live = (status: number, now: number, retryAfter = 0, quota = false): Health => JSON.parse(healthResponse(status, B(now), B(retryAfter), quota));

describe("health transitions", () => {
  it.each([
    ["thresholds 2/1", "200,500,500,200", 2, 1, "1,1,0,1|0"],
    ["thresholds 3/2", "500,500,500,200,500,200,200", 3, 2, "1,1,0,0,0,0,1|0"],
    ["a reset (0) counts as a failure", "0,0", 2, 1, "1,0|0"],
    ["429 and 404 on the probe prove endpoint and key", "500,429,500,404,500", 2, 1, "1,1,1,1,1|0"],
    ["401 marks the credential bad at once", "200,401", 2, 1, "1,0|1"],
    ["a good probe after 401 restores the key", "401,200", 2, 1, "0,1|0"],
    ["403 too, and recovery honours healthyThreshold", "403,200,200", 2, 2, "0,0,1|0"],
  ])("probes: %s", (_n, statuses, unhealthy, healthy, expected) => {
    expect(coreProbes(statuses, unhealthy, healthy)).toBe(expected);
  });

  it.each([
    ["3 consecutive 5xx eject for baseEjection", "503,502,500", 3, 0n, "1,1,0|31000"],
    ["a success in between resets the count", "503,503,200,503,503", 3, 0n, "1,1,1,1,1|0"],
    ["4xx are the client's fault", "400,404,413,400", 1, 0n, "1,1,1,1|0"],
    ["timeout/reset (0) and 408 count as failures", "0,408", 2, 0n, "1,0|31000"],
    ["429 without retry-after: default cooldown", "429", 3, 0n, "0|11000"],
    ["429 with retry-after", "429", 3, 2500n, "0|3500"],
    ["401 on a live request", "401", 3, 0n, "0|301000"],
  ])("live: %s", (_n, statuses, consecutive, retryAfter, expected) => {
    expect(coreResponses(statuses, consecutive, retryAfter)).toBe(expected);
  });

  it("failures of requests already in flight at the ejection neither extend nor double it", () => {
    health(2, 1, 2, 1000, 8000);
    const t = 10_000;
    live(503, t);
    expect(live(503, t)).toMatchObject({ available: false, cooldownUntilMs: t + 1000, ejections: 1 });
    expect(live(503, t + 10)).toMatchObject({ cooldownUntilMs: t + 1000, ejections: 1, consecutiveFailures: 0 });
    expect(live(503, t + 20)).toMatchObject({ cooldownUntilMs: t + 1000, ejections: 1, consecutiveFailures: 0 });
  });

  it("consecutive failures eject with doubling backoff up to maxEjection, reset by success after the cooldown", () => {
    health(2, 1, 2, 1000, 3500);
    let t = 10_000;
    expect(live(503, t)).toMatchObject({ available: true, consecutiveFailures: 1 });
    expect(live(503, t)).toMatchObject({ flipped: true, available: false, cooldownUntilMs: t + 1000, reason: "upstream_failures", ejections: 1 });
    t += 1000;
    expect(healthAvailable(B(t - 1))).toBe(false);
    expect(healthAvailable(B(t))).toBe(true);
    live(503, t);
    expect(live(503, t)).toMatchObject({ cooldownUntilMs: t + 2000, ejections: 2 });
    t += 2000;
    live(503, t);
    expect(live(503, t)).toMatchObject({ cooldownUntilMs: t + 3500, ejections: 3 }); // 4000 capped at 3500
    t += 3500;
    live(503, t);
    expect(live(503, t)).toMatchObject({ cooldownUntilMs: t + 3500, ejections: 4 });
    t += 3500;
    expect(live(200, t)).toMatchObject({ available: true, ejections: 0, consecutiveFailures: 0 });
    live(503, t);
    expect(live(503, t)).toMatchObject({ cooldownUntilMs: t + 1000, ejections: 1 });
  });

  it("429 cooldown: retry-after wins, a shorter one never shortens a longer cooldown", () => {
    health();
    expect(live(429, 1000, 6000)).toMatchObject({ flipped: true, available: false, cooldownUntilMs: 7000, reason: "rate_limited" });
    expect(live(429, 2000, 1000)).toMatchObject({ flipped: false, cooldownUntilMs: 7000 });
    expect(healthAvailable(6999n)).toBe(false);
    expect(healthAvailable(7000n)).toBe(true);
    expect(live(429, 8000)).toMatchObject({ cooldownUntilMs: 18000 }); // default 10s
    expect(live(200, 18000)).toMatchObject({ available: true });
  });

  it("401 → credential rejected: unavailable until a probe with the same key succeeds", () => {
    health();
    expect(live(401, 1000)).toMatchObject({ flipped: true, credentialBad: true, available: false, reason: "credential_rejected", cooldownUntilMs: 301000 });
    expect(live(200, 2000)).toMatchObject({ credentialBad: true, available: false });
    expect(healthAvailable(400_000n)).toBe(false);
    expect(probe(401, 3000)).toMatchObject({ credentialBad: true, healthy: false, cooldownUntilMs: 303000 });
    expect(probe(200, 4000)).toMatchObject({ flipped: true, credentialBad: false, healthy: true, available: true, reason: "none", cooldownUntilMs: 0 });
  });

  it("insufficient_quota: long ejection, not a credential problem", () => {
    health();
    expect(live(429, 1000, 2000, true)).toMatchObject({ available: false, credentialBad: false, reason: "quota_exhausted", cooldownUntilMs: 301000 });
  });

  it("a probe 429 keeps the provider healthy but cooling down", () => {
    health();
    expect(probe(429, 1000, 5000)).toMatchObject({ healthy: true, available: false, cooldownUntilMs: 6000, reason: "rate_limited" });
  });

  it("probe failures make it unhealthy only at the threshold; recovery clears the failure ejection", () => {
    health(3, 2);
    expect(probe(500, 1000)).toMatchObject({ healthy: true });
    expect(probe(503, 2000)).toMatchObject({ healthy: true });
    expect(probe(0, 3000)).toMatchObject({ flipped: true, healthy: false, available: false, reason: "health_check_failed" });
    expect(probe(200, 4000)).toMatchObject({ healthy: false });
    expect(probe(200, 5000)).toMatchObject({ flipped: true, healthy: true, available: true, reason: "none" });
  });

  it("round-trips the shared-data layout; a wrong-size value decodes to a fresh state", () => {
    expect(coreStateRoundTrip()).toBe(true);
  });
});

describe("usage scanner", () => {
  const none = new Int32Array(0);
  const found = (body: string, splits: Int32Array = none) => JSON.parse(usageScan(enc.encode(body), splits));

  it.each(WITH_USAGE.map((r) => [r.name, r] as const))("%s: in one chunk", (_n, r) => {
    expect(found(r.body)).toEqual({ found: true, ...r.usage });
  });

  it.each([
    ["usage:null only", '{"choices":[],"usage":null}'],
    ["usage as a string", '{"usage":"{\\"total_tokens\\":3}"}'],
    ["usage as a number", '{"usage":5}'],
    ["empty usage object", '{"usage":{}}'],
    ["usage mentioned inside a string", '{"content":"\\"usage\\":{\\"total_tokens\\":3}"}'],
    ["a stream without include_usage", OPENAI_SSE_NO_USAGE.body],
  ])("finds nothing: %s", (_n, body) => {
    expect(found(body)).toEqual({ found: false, prompt: -1, completion: -1, total: -1 });
  });

  it("the last usage wins; null after a usage does not erase it", () => {
    const body = '{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}{"usage":{"prompt_tokens":7,"completion_tokens":8,"total_tokens":15}}{"usage":null}';
    expect(found(body)).toEqual({ found: true, prompt: 7, completion: 8, total: 15 });
  });

  it("tolerates whitespace around the colon and inside the object", () => {
    expect(found('{"usage" : \n {\n "prompt_tokens" : 4 ,\n "total_tokens" :4 }}')).toEqual({ found: true, prompt: 4, completion: -1, total: 4 });
  });

  it("byte by byte", () => {
    for (const r of WITH_USAGE) {
      const b = enc.encode(r.body);
      const every = Int32Array.from({ length: b.length - 1 }, (_, i) => i + 1);
      expect(found(r.body, every), r.name).toEqual({ found: true, ...r.usage });
    }
  });
});

describe("SSE usage stripper", () => {
  const strip = (body: string, splits: number[] = [], emptyEnd = false) =>
    dec.decode(sseStrip(enc.encode(body), Int32Array.from(splits), emptyEnd));

  it.each([OPENAI_SSE, AZURE_SSE].map((r) => [r.name, r] as const))("%s: removes exactly the usage-only event", (_n, r) => {
    expect(strip(r.body)).toBe(r.body.replace(r.usageEvent!, ""));
    const trace = JSON.parse(sseStripTrace(enc.encode(r.body), new Int32Array(0), false));
    expect(trace.stripped).toBe(1);
  });

  it("recognises a pretty-printed usage-only event (spaces around the punctuation)", () => {
    const usageEvent = 'data: {"id":"c","choices" : [ ],\n "usage" : {"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n';
    const body = 'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n' + usageEvent + "data: [DONE]\n\n";
    expect(strip(body)).toBe(body.replace(usageEvent, ""));
  });

  it("keeps Azure's empty prompt_filter_results frame (choices [] without usage)", () => {
    expect(strip(AZURE_SSE.body)).toContain('"prompt_filter_results"');
  });

  it.each([OPENAI_SSE_NO_USAGE, RESPONSES_SSE].map((r) => [r.name, r] as const))("%s: passes through unchanged", (_n, r) => {
    expect(strip(r.body)).toBe(r.body);
    expect(strip(r.body, [1, 7, 100], true)).toBe(r.body);
  });

  it("releases complete events at once and holds a partial one", () => {
    const body = OPENAI_SSE.body;
    const first = body.indexOf("\n\n") + 2;
    const trace = JSON.parse(sseStripTrace(enc.encode(body), Int32Array.from([first - 1, first, first + 5]), false));
    expect(trace.lengths.slice(0, 3)).toEqual([0, first, 0]);
  });

  it("an event too long to be the usage event streams through as it arrives, and later usage is still stripped", () => {
    // A 900 KB event written 300 bytes at a time: it used to be carried (and rescanned from its
    // first byte on every write) until its end, reaching the client only then.
    const long = `data: {"choices":[{"delta":{"content":"${"x".repeat(900_000)}"}}]}\n\n`;
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    const body = long + usage + "data: [DONE]\n\n";
    const bytes = enc.encode(body);
    const splits: number[] = [];
    for (let p = 300; p < bytes.length; p += 300) splits.push(p);
    const started = performance.now();
    const trace = JSON.parse(sseStripTrace(bytes, Int32Array.from(splits), false));
    const ms = performance.now() - started;
    expect(trace).toMatchObject({ stripped: 1, overflow: true });
    // Never more than 16 KiB (+ one write) held back while the long event streams.
    let released = 0;
    trace.lengths.forEach((len: number, k: number) => {
      released += len;
      const fed = k < splits.length ? splits[k]! : bytes.length;
      if (fed <= long.length) expect(fed - released, `after ${fed} bytes`).toBeLessThanOrEqual(16384 + 300);
    });
    expect(dec.decode(sseStrip(bytes, Int32Array.from(splits), false))).toBe(long + "data: [DONE]\n\n");
    // Linear: ~3,000 writes of 300 bytes take milliseconds (rescanning the carry took seconds).
    expect(ms).toBeLessThan(2000);
  });

  // The SSE format ends lines with CRLF, LF or CR and events with an empty line: every pairing of
  // them is an event end (only \n\n and \r\n\r\n were, so \r\r streams were held to their end).
  it.each(["\n\n", "\r\n\r\n", "\r\r", "\n\r\n", "\r\n\n", "\r\r\n", "\n\r"])("event separator %j: the usage event is stripped at every split", (sep) => {
    const content = `data: {"choices":[{"delta":{"content":"hi"}}]}${sep}`;
    const usage = `data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}${sep}`;
    const done = `data: [DONE]${sep}`;
    const body = content + usage + done;
    for (let p = 0; p <= body.length; p++) expect(strip(body, [p]), `split at ${p}`).toBe(content + done);
    const trace = JSON.parse(sseStripTrace(enc.encode(body), new Int32Array(0), false));
    expect(trace.stripped).toBe(1);
  });

  it("handles CRLF framing", () => {
    const crlf = OPENAI_SSE.body.replace(/\n/g, "\r\n");
    expect(strip(crlf)).toBe(crlf.replace(OPENAI_SSE.usageEvent!.replace(/\n/g, "\r\n"), ""));
  });

  it("releases a trailing partial event at end of stream", () => {
    const body = OPENAI_SSE.body + "data: {\"partial\":";
    expect(strip(body, [10])).toBe(OPENAI_SSE.body.replace(OPENAI_SSE.usageEvent!, "") + "data: {\"partial\":");
    expect(strip(body, [body.length - 3], true)).toBe(OPENAI_SSE.body.replace(OPENAI_SSE.usageEvent!, "") + "data: {\"partial\":");
  });
});

type Cap = {
  windowStartMs: number; tokensReserved: number; requestsReserved: number; remainingTokens: number; remainingRequests: number;
  tokensLeft: number; requestsLeft: number; windowResetAt: number;
};
const cap = (): Cap => JSON.parse(capState());
const reset = (tpm: number, rpm = 0, minT = 0, minR = 0, windowMs = 60_000) => capReset(B(tpm), B(rpm), B(minT), B(minR), B(windowMs));
const reserveAt = (tokens: number, now: number) => capReserve(B(tokens), B(now));
const fitsAt = (tokens: number, now: number) => capFits(B(tokens), B(now));

describe("admission-time capacity", () => {
  it("reserves up to tokensPerMinute, then refuses; the window roll frees it", () => {
    reset(10_000, 0, 0, 0, 60_000);
    expect(reserveAt(6000, 1000)).toBe(true);
    expect(cap()).toMatchObject({ windowStartMs: 1000, tokensReserved: 6000, requestsReserved: 1, tokensLeft: 4000, windowResetAt: 61_000 });
    expect(reserveAt(4001, 2000)).toBe(false);
    expect(cap().tokensReserved).toBe(6000);
    expect(reserveAt(4000, 2000)).toBe(true);
    expect(fitsAt(1, 60_999)).toBe(false);
    expect(fitsAt(10_000, 61_000)).toBe(true);
    expect(reserveAt(10_000, 61_000)).toBe(true);
    expect(cap()).toMatchObject({ windowStartMs: 61_000, tokensReserved: 10_000, requestsReserved: 1 });
  });

  it("a window another worker began a moment after our clock reading is the current window, not a new one", () => {
    reset(10_000, 0, 0, 0, 60_000);
    expect(reserveAt(3000, 1005)).toBe(true); // another worker read its clock later and began the window
    expect(reserveAt(2000, 1000)).toBe(true); // ours, read at 1000, lands in the same window
    expect(cap()).toMatchObject({ windowStartMs: 1005, tokensReserved: 5000, requestsReserved: 2 });
    expect(fitsAt(5001, 1000)).toBe(false);
    // A window a whole window ahead of our clock means the clock jumped back: start afresh.
    expect(reserveAt(1000, 1005 - 60_000)).toBe(true);
    expect(cap()).toMatchObject({ windowStartMs: 1005 - 60_000, tokensReserved: 1000, requestsReserved: 1 });
  });

  it("a reservation settles only in the window it landed in (identified by that window's start)", () => {
    reset(10_000, 0, 0, 0, 60_000);
    expect(reserveAt(3000, 1005)).toBe(true);
    expect(reserveAt(2000, 1000)).toBe(true);
    capSettle(B(2000), B(-1), B(1005), B(1500)); // released: the window it landed in began at 1005
    expect(cap()).toMatchObject({ tokensReserved: 3000, requestsReserved: 1 });
    capSettle(B(3000), B(-1), B(900), B(1600)); // a window that began before this one: not this window's
    expect(cap()).toMatchObject({ tokensReserved: 3000, requestsReserved: 1 });
  });

  it("a request larger than the whole window never fits", () => {
    reset(1000);
    expect(fitsAt(1001, 5)).toBe(false);
    expect(reserveAt(1001, 5)).toBe(false);
  });

  it("requestsPerMinute counts requests", () => {
    reset(0, 2);
    expect(reserveAt(1, 1)).toBe(true);
    expect(reserveAt(1, 2)).toBe(true);
    expect(reserveAt(1, 3)).toBe(false);
    expect(cap()).toMatchObject({ requestsReserved: 2, tokensLeft: -1, requestsLeft: 0 });
  });

  it("settle reconciles with the actual usage; -1 releases tokens and the request", () => {
    reset(1000, 10);
    expect(reserveAt(600, 100)).toBe(true);
    capSettle(600n, 250n, 100n, 200n);
    expect(cap()).toMatchObject({ tokensReserved: 250, requestsReserved: 1 });
    expect(reserveAt(700, 300)).toBe(true);
    capSettle(700n, -1n, 300n, 400n);
    expect(cap()).toMatchObject({ tokensReserved: 250, requestsReserved: 1 });
    capSettle(600n, -1n, 100n, 500n);
    expect(cap()).toMatchObject({ tokensReserved: 0, requestsReserved: 0 });
  });

  it("a settlement from an earlier window does not touch the current one", () => {
    reset(1000, 0, 0, 0, 1000);
    expect(reserveAt(800, 100)).toBe(true);
    expect(reserveAt(500, 1200)).toBe(true); // new window at 1200
    capSettle(800n, -1n, 100n, 1300n);
    expect(cap()).toMatchObject({ windowStartMs: 1200, tokensReserved: 500 });
  });

  it("learns the provider's remaining counts and subtracts what was sent since", () => {
    reset(0);
    expect(reserveAt(100, 10)).toBe(true);
    capLearn(500n, 3n, 20n);
    expect(cap()).toMatchObject({ remainingTokens: 500, remainingRequests: 3, tokensLeft: 500, requestsLeft: 3 });
    expect(reserveAt(200, 30)).toBe(true);
    expect(cap()).toMatchObject({ tokensLeft: 300, requestsLeft: 2 });
    expect(reserveAt(301, 40)).toBe(false);
    expect(reserveAt(300, 40)).toBe(true);
    expect(fitsAt(1, 50)).toBe(false);
    capLearn(-1n, -1n, 60n); // no headers: nothing learnt
    expect(cap()).toMatchObject({ remainingTokens: 500, tokensLeft: 0 });
  });

  it("the smaller of our own count and the provider's report decides", () => {
    reset(1000);
    expect(reserveAt(100, 10)).toBe(true);
    capLearn(5000n, -1n, 20n);
    expect(cap().tokensLeft).toBe(900);
    capLearn(50n, -1n, 30n);
    expect(cap().tokensLeft).toBe(50);
  });

  it("minRemaining thresholds spill before the limit is reached", () => {
    reset(1000, 10, 300, 2);
    expect(fitsAt(700, 5)).toBe(true);
    expect(fitsAt(701, 5)).toBe(false);
    expect(reserveAt(700, 5)).toBe(true);
    expect(fitsAt(1, 6)).toBe(false);
    reset(0, 10, 0, 2);
    for (let i = 0; i < 7; i++) expect(reserveAt(1, 10 + i)).toBe(true);
    expect(cap().requestsLeft).toBe(3);
    expect(reserveAt(1, 20)).toBe(true);
    expect(reserveAt(1, 21)).toBe(false); // 10 - 8 = 2 left: one more would leave 1 < 2
    reset(0, 0, 100, 0);
    expect(reserveAt(10, 1)).toBe(true);
    capLearn(150n, -1n, 1n); // the provider's own count (it already includes our 10)
    expect(fitsAt(50, 2)).toBe(true);
    expect(fitsAt(51, 2)).toBe(false);
  });

  it("judges a request at a window's start by the window it lands in (thresholds included)", () => {
    // Fresh state: no window yet. The same request must be judged the same way as one
    // arriving just after a window opened with nothing reserved.
    reset(1000, 0, 300);
    expect(fitsAt(800, 5)).toBe(false);
    expect(reserveAt(800, 5)).toBe(false);
    reset(1000, 1, 0, 1);
    expect(fitsAt(1, 5)).toBe(false);
    // And after a window elapsed.
    reset(1000, 0, 300, 0, 1000);
    expect(reserveAt(700, 5)).toBe(true);
    expect(fitsAt(800, 1005)).toBe(false);
    expect(fitsAt(700, 1005)).toBe(true);
  });
});

describe("request scanner: images", () => {
  it("a 600 KB base64 image is 1445 prompt tokens, not 150,000; its text still counts", () => {
    const img = "data:image/jpeg;base64," + "Q".repeat(600_000);
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: [{ type: "text", text: "describe this" }, { type: "image_url", image_url: { url: img } }] }] });
    const s = JSON.parse(coreScanRequest(body));
    expect(s.images).toBe(1);
    expect(s.promptBytes).toBeLessThan(200);
    expect(s.promptTokens).toBeGreaterThan(1445);
    expect(s.promptTokens).toBeLessThan(1500);
  });
});

describe("request scanner: audio", () => {
  // 60 s of 24 kHz 16-bit mono wav: 2,880,000 bytes, 3,840,000 base64 characters.
  const wav = "U".repeat(3_840_000);
  const chatAudio = (data: string, extra: Record<string, unknown> = {}) => JSON.stringify({
    model: "gpt-4o-audio-preview",
    messages: [{ role: "user", content: [{ type: "text", text: "transcribe" }, { type: "input_audio", input_audio: { data, format: "wav", ...extra } }] }],
  });

  it("an input_audio part counts by duration (bytes / 4,000 × 10 a second), not as 960,000 tokens of text", () => {
    const s = JSON.parse(coreScanRequest(chatAudio(wav)));
    expect(s.audioBytes).toBe(2_880_000);
    expect(s.promptBytes).toBeLessThan(200);
    // 2,880,000 / 4,000 = 720 s (the real length is 60 s: the rule never counts it shorter) → 7,200 tokens.
    expect(s.promptTokens).toBeGreaterThanOrEqual(7200);
    expect(s.promptTokens).toBeLessThan(7300);
  });

  it("only the data of an input_audio object, or a data:audio/ string, is audio; other data keys are text", () => {
    const other = JSON.parse(coreScanRequest(JSON.stringify({ model: "m", messages: [{ role: "user", content: "x", data: "Z".repeat(4000) }] })));
    expect(other.audioBytes).toBe(0);
    expect(other.promptBytes).toBeGreaterThanOrEqual(4000);
    // A key after the audio object is text again, and so is a data key nested deeper inside it.
    const after = JSON.parse(coreScanRequest(JSON.stringify({ model: "m", input: [{ type: "input_audio", input_audio: { data: "A".repeat(4000), x: { data: "B".repeat(400) } } }, { data: "C".repeat(800) }] })));
    expect(after.audioBytes).toBe(3000);
    expect(after.promptBytes).toBeGreaterThanOrEqual(1200);
    const uri = JSON.parse(coreScanRequest(JSON.stringify({ model: "m", input: "data:audio/mp3;base64," + "Q".repeat(8000) })));
    expect(uri.audioBytes).toBeGreaterThanOrEqual(6000);
    expect(uri.promptBytes).toBeLessThan(100);
  });

  it("a malformed body with an open input_audio leaves no state for the next scan", () => {
    const broken = JSON.parse(coreScanRequest('{"model":"m","messages":[{"content":[{"input_audio":{"data":"AAAA"'));
    expect(broken.ok).toBe(false);
    const next = JSON.parse(coreScanRequest(JSON.stringify({ model: "m", messages: [{ content: [{ x: { data: "D".repeat(400) } }] }] })));
    expect(next.audioBytes).toBe(0);
  });
});
