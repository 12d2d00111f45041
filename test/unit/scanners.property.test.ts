// The byte scanners that read every request body and every SSE chunk, checked two ways:
// - StreamEvents (lib/stream_events.ts: did a stream finish, its content events and text) against
//   a plain reference that parses each event with JSON.parse, for generated chat and Responses
//   streams and every chunking;
// - every JSON byte scan accepts any JSON whitespace (issue 19): real bodies and streams
//   (test/unit/recordings.ts, the mock providers' own shapes) re-serialised with random whitespace
//   between every token — and, in SSE, JSON split over several `data:` lines, any line framing,
//   comment and other field lines — give the same model, bounds, store, usage, completeness,
//   estimates and stripped output as their compact form.
import fc from "fast-check";
import { rng } from "../../harness/replay/load.ts";
import { describe, expect, it } from "vitest";
import {
  coreScanRequest, planUpstream, responseScanRun, responseScanWhole, sseStrip, streamEventsScan, usageScan,
} from "../.build/unit/unit.js";
import { chatStreamFrames, chatCompletionBody, type Answer } from "../../harness/providers/chat.ts";
import { responseBody, responseStreamFrames, defaultShape } from "../../harness/providers/responses-api.ts";
import { AZURE_SSE, OPENAI_JSON, OPENAI_SSE, OPENAI_SSE_NO_USAGE, RESPONSES_SSE, TRICKY_SSE, type Recording } from "./recordings.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
// >1: a longer hunt; <1: the fast tier's share (npm run test:fast runs a quarter of the cases).
const SCALE = Math.max(0.05, Number(process.env.FAST_CHECK_SCALE ?? "1") || 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });
const splitsOf = (len: number, max = 20) =>
  fc.array(fc.integer({ min: 0, max: len }), { maxLength: max }).map((a) => Int32Array.from(a.sort((x, y) => x - y)));

const CHOICES = 0;
const TYPED = 1;
const CHAT = 1; // ApiKind.ChatCompletions
const RESPONSES = 4; // ApiKind.Responses

// ---- SSE: events in, text out; the reference reading ------------------------------------------

type Framing = { eol: string; noSpace: boolean; comments: boolean; split: boolean };

/** One event as SSE text: its data (JSON text, possibly with line breaks: one `data:` line each). */
function eventText(data: string, f: Framing, rnd: () => number, eventName?: string): string {
  const lines: string[] = [];
  if (f.comments && rnd() < 0.3) lines.push(": keep-alive");
  if (eventName !== undefined) lines.push(`event: ${eventName}`);
  if (f.comments && rnd() < 0.2) lines.push("id: 7");
  for (const l of data.split(/\r\n|\r|\n/)) lines.push(f.noSpace && !l.startsWith(" ") && rnd() < 0.5 ? `data:${l}` : `data: ${l}`);
  if (f.comments && rnd() < 0.2) lines.push("retry: 1000");
  return lines.join(f.eol) + f.eol + f.eol;
}

/** The events of an SSE text, as a client reads them (WHATWG): data lines joined by LF. */
function readEvents(text: string): string[] {
  const out: string[] = [];
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (data.length > 0) out.push(data.join("\n"));
      data = [];
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
  }
  return out;
}

const CONTENT_KEYS = new Set(["content", "text", "refusal", "reasoning_content", "reasoning", "arguments"]);
const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed", "transcript.text.done", "speech.audio.done",
  "image_generation.completed", "image_edit.completed"]);
/** A string's bytes as JSON writes it (escapes as written), without its quotes. */
const rawLen = (s: string) => enc.encode(JSON.stringify(s)).length - 2;

type Figures = {
  complete: boolean; events: number; contentBytes: number; choices: number; done: boolean; terminal: boolean;
  usageFound: boolean; prompt: number; completion: number; total: number;
};

/** A usage object's counters as the providers name them (-1: absent or not a non-negative integer). */
function counters(u: any): [number, number, number] | null {
  const n = (x: unknown) => (Number.isInteger(x) && (x as number) >= 0 ? (x as number) : -1);
  const p = n(u.prompt_tokens) >= 0 ? n(u.prompt_tokens) : n(u.input_tokens);
  const c = n(u.completion_tokens) >= 0 ? n(u.completion_tokens) : n(u.output_tokens);
  const t = n(u.total_tokens);
  return p < 0 && c < 0 && t < 0 ? null : [p, c, t];
}

/** What a stream carried, by JSON.parse of each (complete) event. */
function reference(shape: number, text: string): Figures {
  const seen = new Set<number>();
  const fin = new Set<number>();
  let events = 0;
  let contentBytes = 0;
  let done = false;
  let terminal = false;
  let usage: [number, number, number] | null = null;
  const walk = (v: unknown, acc: { has: boolean; bytes: number }) => {
    if (Array.isArray(v)) { for (const x of v) if (x && typeof x === "object") walk(x, acc); return; }
    if (!v || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) {
      if (CONTENT_KEYS.has(k) && typeof x === "string" && x !== "") { acc.has = true; acc.bytes += rawLen(x); }
      else if (x && typeof x === "object") walk(x, acc);
    }
  };
  for (const data of readEvents(text)) {
    if (data.startsWith("[DONE]")) { done = true; continue; }
    let v: any;
    try { v = JSON.parse(data); } catch { continue; }
    if (!v || typeof v !== "object" || Array.isArray(v)) continue;
    // The usage: at the event's top level, or one level down (Responses: response.usage).
    for (const holder of [v, ...Object.values(v).filter((x) => x && typeof x === "object" && !Array.isArray(x))] as any[]) {
      const u = holder.usage;
      if (u && typeof u === "object" && !Array.isArray(u)) usage = counters(u) ?? usage;
    }
    if (shape === CHOICES) {
      if (!Array.isArray(v.choices)) continue;
      for (const c of v.choices) {
        if (!c || typeof c !== "object" || Array.isArray(c)) continue;
        const ix = Number.isInteger(c.index) && c.index >= 0 ? Math.min(c.index, 127) : 0;
        seen.add(ix);
        if (typeof c.finish_reason === "string" && c.finish_reason !== "") fin.add(ix);
        const acc = { has: false, bytes: 0 };
        walk(c, acc);
        if (acc.has) { events++; contentBytes += acc.bytes; }
      }
    } else if (typeof v.type === "string") {
      if (TERMINAL.has(v.type)) terminal = true;
      else if (v.type.endsWith(".delta") && v.type !== "response.audio.delta" && v.type !== "speech.audio.delta" && v.type.length > 6) {
        events++;
        if (typeof v.delta === "string") contentBytes += rawLen(v.delta);
      }
    }
  }
  const complete = done || (shape === CHOICES ? seen.size > 0 && [...seen].every((i) => fin.has(i)) : terminal);
  return {
    complete, events, contentBytes, choices: shape === CHOICES ? seen.size : 0, done, terminal,
    usageFound: usage !== null, prompt: usage?.[0] ?? -1, completion: usage?.[1] ?? -1, total: usage?.[2] ?? -1,
  };
}

const scan = (shape: number, text: string, splits: Int32Array): Figures => JSON.parse(streamEventsScan(shape, enc.encode(text), splits));

// ---- random JSON whitespace ---------------------------------------------------------------------

/** A small deterministic generator (mulberry32, the replay loads') driven by a fast-check seed. */
const prng = rng;

/** `v` as JSON with 0–3 random JSON whitespace characters (from `alphabet`) around every token. */
function spaced(v: unknown, rnd: () => number, alphabet: string[]): string {
  const ws = () => {
    let s = "";
    const n = rnd() < 0.4 ? 0 : Math.floor(rnd() * 4);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    return s;
  };
  const go = (x: unknown): string => {
    if (Array.isArray(x)) return "[" + ws() + x.map((e) => go(e)).join(ws() + "," + ws()) + ws() + "]";
    if (x && typeof x === "object") {
      return "{" + ws() + Object.entries(x).map(([k, e]) => JSON.stringify(k) + ws() + ":" + ws() + go(e)).join(ws() + "," + ws()) + ws() + "}";
    }
    return JSON.stringify(x);
  };
  return ws() + go(v) + ws();
}

const BODY_WS = [" ", "\t", "\n", "\r"];
/** In SSE data a line break splits the JSON over two data lines (a client joins them with LF). */
const SSE_WS = [" ", " ", "\t", "\n"];

/** The events of a compact stream (`data:` values and `event:` names), written again in random style. */
function restyleStream(text: string, seed: number): string {
  const rnd = prng(seed);
  const f: Framing = { eol: ["\n", "\r\n", "\r"][Math.floor(rnd() * 3)]!, noSpace: rnd() < 0.5, comments: rnd() < 0.5, split: true };
  let out = "";
  for (const block of text.split("\n\n")) {
    if (block === "") continue;
    const name = /^event: (.*)$/m.exec(block)?.[1];
    const data = readEvents(block + "\n\n")[0] ?? "";
    let json: unknown;
    let isJson = true;
    try { json = JSON.parse(data); } catch { isJson = false; }
    out += eventText(isJson ? spaced(json, rnd, SSE_WS) : data, f, rnd, name);
  }
  return out;
}

// ---- generated streams --------------------------------------------------------------------------

const text = fc.string({ unit: "grapheme", maxLength: 12 });
/** A chat choice chunk: content, tool call arguments, reasoning, Azure annotations, finish or not. */
const choice = fc.record({
  index: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(200)),
  finish: fc.oneof(fc.constant(null), fc.constantFrom("stop", "length", "tool_calls", "content_filter", "")),
  kind: fc.constantFrom("content", "tool", "reasoning", "empty", "annotation", "text"),
  text,
  noIndex: fc.boolean(),
});
const chatEvent = fc.array(choice, { maxLength: 3 }).map((cs) => ({
  id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "gpt-4o",
  choices: cs.map((c) => {
    const o: Record<string, unknown> = c.noIndex ? {} : { index: c.index };
    if (c.kind === "content") o.delta = { content: c.text };
    else if (c.kind === "tool") o.delta = { tool_calls: [{ index: 5, id: "call_1", type: "function", function: { name: "f", arguments: c.text } }] };
    else if (c.kind === "reasoning") o.delta = { reasoning_content: c.text, content: null };
    else if (c.kind === "annotation") o.content_filter_offsets = { check_offset: 1, start_offset: 0, end_offset: 2 };
    else if (c.kind === "text") o.text = c.text;
    else o.delta = {};
    o.logprobs = c.kind === "content" ? { content: [{ token: c.text, logprob: -0.1, bytes: [1, 2], top_logprobs: [] }] } : null;
    o.finish_reason = c.finish;
    return o;
  }),
}));
/** A usage object (OpenAI's or the Responses API's names; sometimes null, sometimes without counters). */
const usageObject = fc.oneof(
  fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), total_tokens: fc.nat(), prompt_tokens_details: fc.constant({ cached_tokens: 1 }) }),
  fc.record({ input_tokens: fc.nat(), output_tokens: fc.nat(), total_tokens: fc.nat(), output_tokens_details: fc.constant({ reasoning_tokens: 2 }) }),
  fc.record({ total_tokens: fc.nat() }),
  fc.constant({}),
  fc.constant(null),
);
const chatStream = fc.record({ events: fc.array(chatEvent, { maxLength: 8 }), done: fc.boolean(), usage: fc.option(usageObject) })
  .map(({ events, done, usage }) => events.map((e) => `data: ${JSON.stringify({ ...e, usage: null })}\n\n`).join("") +
    (usage !== null ? `data: ${JSON.stringify({ id: "chatcmpl-x", choices: [], usage })}\n\n` : "") + (done ? "data: [DONE]\n\n" : ""));

const typedEvent = fc.record({
  type: fc.constantFrom("response.created", "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta",
    "response.audio.delta", "response.output_text.done", "response.completed", "response.incomplete", "response.failed", "error", "response.refusal.delta"),
  delta: text,
  nested: fc.boolean(),
  usage: usageObject,
}).map((e) => ({
  type: e.type, sequence_number: 3, item_id: "msg_1",
  ...(e.type.endsWith(".delta") ? { delta: e.delta } : {}),
  ...(e.nested || e.type.startsWith("response.") && !e.type.endsWith(".delta")
    ? { response: { id: "resp_1", status: "in_progress", output: [{ type: "message", content: [{ type: "output_text", text: e.delta }] }], usage: e.usage } }
    : {}),
}));
const typedStream = fc.array(typedEvent, { maxLength: 10 })
  .map((events) => events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(""));

// ---- StreamEvents against the reference --------------------------------------------------------

describe("StreamEvents: what a stream carried, as JSON.parse of its events reads it, whatever the chunking", () => {
  it("chat streams (n choices, tool calls, reasoning, Azure annotations, [DONE] or not)", () => {
    fc.assert(fc.property(chatStream.chain((t) => fc.tuple(fc.constant(t), splitsOf(enc.encode(t).length))), ([t, splits]) => {
      expect(scan(CHOICES, t, splits)).toEqual(reference(CHOICES, t));
    }), runs(400));
  });

  it("Responses streams (terminal and delta events among others)", () => {
    fc.assert(fc.property(typedStream.chain((t) => fc.tuple(fc.constant(t), splitsOf(enc.encode(t).length))), ([t, splits]) => {
      expect(scan(TYPED, t, splits)).toEqual(reference(TYPED, t));
    }), runs(400));
  });

  it("the same streams in any style: whitespace, JSON over several data lines, CR/LF/CRLF, comment and other field lines", () => {
    fc.assert(fc.property(fc.oneof(chatStream.map((t) => [CHOICES, t] as const), typedStream.map((t) => [TYPED, t] as const)), fc.nat(),
      fc.nat(), fc.nat(), ([shape, t], seed, a, b) => {
        const styled = restyleStream(t, seed);
        const n = enc.encode(styled).length + 1;
        const splits = Int32Array.from([a % n, b % n].sort((x, y) => x - y));
        const want = reference(shape, t);
        expect(reference(shape, styled)).toEqual(want); // the restyling kept the stream's meaning
        expect(scan(shape, styled, splits)).toEqual(want);
      }), runs(500));
  });

  it("a truncated stream never traps and never reports more than the whole one", () => {
    fc.assert(fc.property(chatStream, fc.nat(), fc.nat(), (t, cut, seed) => {
      const styled = restyleStream(t, seed);
      const whole = scan(CHOICES, styled, new Int32Array(0));
      const part = scan(CHOICES, styled.slice(0, cut % (styled.length + 1)), new Int32Array(0));
      expect(part.events).toBeLessThanOrEqual(whole.events);
      expect(part.contentBytes).toBeLessThanOrEqual(whole.contentBytes);
    }), runs(300));
  });

  it("examples: the choice's own index, not a tool call's; an annotation after the finish; [DONE] alone", () => {
    const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
    // A tool call's index 1 inside choice 0: one choice, finished.
    const tools = ev({ choices: [{ delta: { tool_calls: [{ index: 1, function: { arguments: "{}" } }] }, finish_reason: null, index: 0 }] }) +
      ev({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] });
    expect(scan(CHOICES, tools, new Int32Array(0))).toMatchObject({ complete: true, choices: 1, events: 1 });
    // n=2: choice 1 never finished.
    const two = ev({ choices: [{ index: 0, delta: { content: "a" }, finish_reason: "stop" }, { index: 1, delta: { content: "b" }, finish_reason: null }] });
    expect(scan(CHOICES, two, new Int32Array(0))).toMatchObject({ complete: false, choices: 2, events: 2 });
    expect(scan(CHOICES, two + ev({ choices: [{ finish_reason: "length", index: 1 }] }), new Int32Array(0))).toMatchObject({ complete: true });
    // Azure's content-filter annotation (finish_reason null) after the finish does not undo it.
    const annotated = ev({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) +
      ev({ choices: [{ content_filter_offsets: { check_offset: 9 }, finish_reason: null, index: 0 }] });
    expect(scan(CHOICES, annotated, new Int32Array(0)).complete).toBe(true);
    // [DONE] is the provider's explicit clean end: complete, as a client takes it.
    expect(scan(CHOICES, "data: [DONE]\n\n", new Int32Array(0))).toMatchObject({ complete: true, done: true, choices: 0 });
    // Text that mentions the end is not the end.
    const mention = ev({ choices: [{ index: 0, delta: { content: 'data: [DONE]\n\n"finish_reason":"stop"' }, finish_reason: null }] });
    expect(scan(CHOICES, mention, new Int32Array(0)).complete).toBe(false);
    expect(scan(TYPED, 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"event: response.completed"}\n\n',
      new Int32Array(0)).complete).toBe(false);
    // An error event is no finish.
    expect(scan(CHOICES, ev({ error: { message: "overloaded", type: "server_error" } }), new Int32Array(0)).complete).toBe(false);
  });
});

// ---- every JSON byte scan, whitespace-tolerant -----------------------------------------------------

const STREAMS: Array<[string, number, string]> = [
  [OPENAI_SSE.name, CHAT, OPENAI_SSE.body],
  [AZURE_SSE.name, CHAT, AZURE_SSE.body],
  [TRICKY_SSE.name, CHAT, TRICKY_SSE.body],
  [OPENAI_SSE_NO_USAGE.name, CHAT, OPENAI_SSE_NO_USAGE.body],
  [RESPONSES_SSE.name, RESPONSES, RESPONSES_SSE.body],
];

/** The mock providers' own shapes (harness/providers), complete or not. */
function mockAnswer(words: number, finish: Answer["finishReason"]): Answer {
  return { kind: "azure", id: "chatcmpl-1", created: 1, model: "gpt-4o", pieces: Array.from({ length: words }, (_, i) => ` w${i}é"\\`), finishReason: finish, promptTokens: 17 };
}
for (const words of [0, 3, 12]) {
  const a = mockAnswer(words, words > 5 ? "length" : "stop");
  const chat = chatStreamFrames(a, { includeUsage: true, promptFilterFrame: true });
  STREAMS.push([`mock chat, ${words} words`, CHAT, chat.join("")]);
  STREAMS.push([`mock chat, ${words} words, without [DONE]`, CHAT, chat.slice(0, -1).join("")]);
  STREAMS.push([`mock chat, ${words} words, ends before its finish`, CHAT, chat.slice(0, -3).join("")]);
  const resp = responseStreamFrames(a, defaultShape(a, null)).frames;
  STREAMS.push([`mock Responses, ${words} words`, RESPONSES, resp.join("")]);
  STREAMS.push([`mock Responses, ${words} words, ends before its end`, RESPONSES, resp.slice(0, -1).join("")]);
}

type Run = { out: string; cutShort: boolean; end: number; streamedOutput: number; usageFound: boolean; prompt: number; completion: number; charge: number; estimated: boolean };
const run = (kind: number, t: string, splits: Int32Array, strip: boolean, reset = false): Run =>
  JSON.parse(responseScanRun(kind, "text/event-stream", strip, enc.encode(t), splits, false, reset, "upstream_reset_after_response_started{connection_termination}"));
/** The data of each event (JSON as values), for comparing outputs written in different styles. */
const meaning = (t: string) => readEvents(t).map((d) => { try { return JSON.parse(d); } catch { return d; } });

describe("every JSON byte scan accepts any JSON whitespace", () => {
  for (const [name, kind, body] of STREAMS) {
    it(`stream: ${name}`, () => {
      const compact = run(kind, body, new Int32Array(0), true);
      // The stream's usage (read by StreamEvents) is what the JSON usage scanner reads of the same bytes.
      const scanned = JSON.parse(usageScan(enc.encode(body), new Int32Array(0)));
      expect({ found: compact.usageFound, prompt: compact.prompt, completion: compact.completion })
        .toEqual({ found: scanned.found, prompt: scanned.prompt, completion: scanned.completion });
      const compactKept = run(kind, body, new Int32Array(0), false);
      fc.assert(fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (seed, a, b, c) => {
        const styled = restyleStream(body, seed);
        const n = enc.encode(styled).length + 1;
        const splits = Int32Array.from([a % n, b % n, c % n].sort((x, y) => x - y));
        const got = run(kind, styled, splits, true);
        // Same usage, completeness, estimate and charge.
        const { out: _o1, ...figures } = got;
        const { out: _o2, ...want } = compact;
        expect(figures).toEqual(want);
        // The same events reach the client: the usage-only event removed, the error event appended alike.
        expect(meaning(got.out)).toEqual(meaning(compact.out));
        // Passed unchanged (byte for byte) when nothing is stripped and the stream finished.
        const kept = run(kind, styled, splits, false);
        if (!compactKept.cutShort) expect(kept.out).toBe(styled);
        else expect(kept.out.startsWith(styled)).toBe(true);
        // The same stream reset mid-transfer: cut, charged its estimate.
        const cut = run(kind, styled, splits, false, true);
        if (cut.usageFound) expect(cut.charge).toBe(compact.completion);
        else expect(cut.charge).toBe(compact.streamedOutput);
        expect(cut.end).toBe(1); // StreamEnd.Cut
        // As a failover answer (whole): the same verdict and output.
        const whole = JSON.parse(responseScanWhole(kind, "text/event-stream", true, enc.encode(styled)));
        expect(whole.cutShort).toBe(compact.cutShort);
        expect(whole.streamedOutput).toBe(compact.streamedOutput);
        expect(meaning(whole.out)).toEqual(meaning(compact.out));
      }), runs(150));
    });
  }

  it("the recordings' verdicts: complete with or without [DONE], cut short without their finish", () => {
    for (const [name, kind, body] of STREAMS) {
      const r = run(kind, body, new Int32Array(0), false);
      expect(r.cutShort, name).toBe(/ends before/.test(name));
      expect(r.out.includes("upstream_stream_incomplete"), name).toBe(r.cutShort);
    }
  });

  const JSON_BODIES: Array<[string, string]> = [
    ["OpenAI chat completion", OPENAI_JSON.body],
    ["mock chat completion", chatCompletionBody(mockAnswer(9, "stop"))],
    ["mock Responses object", responseBody(mockAnswer(4, "stop"), defaultShape(mockAnswer(4, "stop"), 100))],
  ];
  for (const [name, body] of JSON_BODIES) {
    it(`JSON answer: ${name} (usage)`, () => {
      const want = usageScan(enc.encode(body), new Int32Array(0));
      expect(JSON.parse(want).found).toBe(true);
      fc.assert(fc.property(fc.nat(), fc.nat(), (seed, a) => {
        const styled = spaced(JSON.parse(body), prng(seed), BODY_WS);
        const n = enc.encode(styled).length + 1;
        expect(usageScan(enc.encode(styled), Int32Array.of(a % n))).toBe(want);
      }), runs(200));
    });
  }

  const REQUESTS: Array<[string, unknown]> = [
    ["chat", { model: "gpt-4o", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: [{ type: "text", text: "Hi \"you\"" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }], max_tokens: 50, stream: true, n: 3 }],
    ["chat with stream_options", { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }], stream: true, stream_options: { include_usage: false }, max_completion_tokens: 2.5e1, tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }] }],
    ["chat, include_usage null", { stream_options: { include_usage: null }, stream: true, messages: [], model: "m" }],
    ["Responses, store false", { model: "gpt-4o", input: [{ role: "user", content: [{ type: "input_text", text: "hello" }, { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } }] }], store: false, max_output_tokens: 300, metadata: { store: "true" } }],
    ["Responses, store true, nested store false", { model: "gpt-4o", input: "hi", store: true, metadata: { store: false }, text: { format: { type: "text" } } }],
    ["completions", { model: "gpt-35-turbo-instruct", prompt: ["a", "b"], max_tokens: 7, stream: false }],
  ];
  for (const [name, body] of REQUESTS) {
    it(`request: ${name} (model, stream, bounds, n, store, prompt size; the upstream body)`, () => {
      const compact = JSON.stringify(body);
      const want = JSON.parse(coreScanRequest(compact));
      expect(want.ok).toBe(true);
      const plan = (t: string) => JSON.parse(planUpstream(1, 0, "", name.startsWith("Responses") ? RESPONSES : CHAT, "gpt-4o", "POST", t, false, true));
      const planned = plan(compact);
      fc.assert(fc.property(fc.nat(), (seed) => {
        const styled = spaced(body, prng(seed), BODY_WS);
        const got = JSON.parse(coreScanRequest(styled));
        for (const k of ["ok", "model", "stream", "maxTokens", "choices", "store", "hasStreamOptions", "includeUsage", "promptBytes", "messageCount", "images", "audioBytes", "promptTokens"]) {
          expect(got[k], `${k} of ${JSON.stringify(styled)}`).toEqual(want[k]);
        }
        // The body sent upstream means the same (model, include_usage added or set) whatever the style.
        const p = plan(styled);
        expect(p.bodyChanged).toBe(planned.bodyChanged);
        expect(JSON.parse(p.body)).toEqual(JSON.parse(planned.body));
      }), runs(200));
    });
  }

  it("store: only the top-level boolean counts", () => {
    const store = (o: unknown) => JSON.parse(coreScanRequest(JSON.stringify(o))).store;
    expect(store({ model: "m", store: false })).toBe(0);
    expect(store({ model: "m", store: true })).toBe(1);
    expect(store({ model: "m", metadata: { store: false } })).toBe(-1);
    expect(store({ model: "m", store: "false" })).toBe(-1);
    expect(JSON.parse(coreScanRequest('{"model":"m","store" :\n\tfalse}')).store).toBe(0);
  });
});

describe("a stream's end through ResponseScan", () => {
  const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const finished = ev({ choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }) + ev({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
  const details = (t: string, reset: boolean, d: string) =>
    JSON.parse(responseScanRun(CHAT, "text/event-stream", false, enc.encode(t), new Int32Array(0), false, reset, d)).end;

  it("complete without [DONE]: nothing appended, whole (0)", () => {
    const r = run(CHAT, finished, new Int32Array(0), false);
    expect(r.out).toBe(finished);
    expect(r.end).toBe(0);
  });
  it("clean end without the finish: the error event, cut (1)", () => {
    const t = ev({ choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] });
    const r = run(CHAT, t, new Int32Array(0), false);
    expect(r.out).toBe(t + 'event: error\ndata: {"error":{"message":"the provider\'s stream ended before the response was complete","type":"server_error","param":null,"code":"upstream_stream_incomplete"}}\n\n');
    expect(r.end).toBe(1);
    expect(r.charge).toBe(1);
    expect(r.estimated).toBe(true);
  });
  it("no end_of_stream: cut (1) when the upstream reset, client_gone (3) when the client closed", () => {
    expect(details(finished, true, "upstream_reset_after_response_started{connection_termination}")).toBe(1);
    expect(details(finished, true, "stream_idle_timeout")).toBe(1);
    expect(details(finished, true, "downstream_remote_disconnect")).toBe(3);
    expect(details(finished, false, "downstream_remote_disconnect")).toBe(0);
  });
  it("the estimate: a token per content event, or per 4 bytes of text when that is more", () => {
    const long = ev({ choices: [{ index: 0, delta: { content: "x".repeat(40) }, finish_reason: null }] });
    expect(run(CHAT, long, new Int32Array(0), false).streamedOutput).toBe(10);
    const short = ev({ choices: [{ index: 0, delta: { content: "a" }, finish_reason: null }] }).repeat(3);
    expect(run(CHAT, short, new Int32Array(0), false).streamedOutput).toBe(3);
  });
  it("sseStrip still removes the usage event of a spaced stream", () => {
    const usage = 'data: {"choices" : [ ], "usage" :{"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}\n\n';
    const t = finished + usage + "data: [DONE]\n\n";
    expect(dec.decode(sseStrip(enc.encode(t), new Int32Array(0), false))).toBe(finished + "data: [DONE]\n\n");
  });
});
