/**
 * Fuzz class "upstream SSE": a valid chat stream cut into random chunks (or at every byte), with
 * every line-end form (LF, CRLF, CR, mixed per line), comments / id / event lines, Azure's
 * prompt-filter event, `data: [DONE]` with or without the space; and malformed streams (a huge
 * event, an unterminated last event, no [DONE], garbage lines).
 *
 * Per case: no trap; for a valid stream the client's bytes equal the provider's minus exactly the
 * usage event the filter asked for (the client did not ask for usage) — nothing added, nothing
 * else removed, whatever the chunking; for a malformed one the response still ends and the client
 * never sees the usage event it did not ask for; no key to the client.
 */
import fc from "fast-check";
import { chatBody } from "../rig/host-rig.ts";
import { check, ClockRig, clientSeesNoKeys, EAST_KEY, linear, noTrap, runProperty, WEST_KEY, type ClassResult } from "./common.ts";
import { azure } from "../rig/host-rig.ts";

const config = () => ({ providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)], healthCheck: { enabled: false }, retry: { maxAttempts: 2 }, seed: 7 });

const USAGE = '{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}';
const FILTER = '{"choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}';
const content = (t: string) => JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: t }, finish_reason: null }], usage: null });

interface Line { text: string; eol: number }
type Ev = { kind: "content" | "filter" | "usage" | "done"; lines: Line[] };

const EOLS = ["\n", "\r\n", "\r"];

export interface SseCase {
  clientAsks: boolean;
  events: Ev[];
  /** 0: one form for the whole stream (eolAll), 1: per line. */
  mixed: boolean;
  eolAll: number;
  donePrefix: string;
  cuts: number[];
  everyByte: boolean;
  /** 0 valid; 1 huge event; 2 unterminated last event; 3 no [DONE]; 4 garbage lines. */
  malformed: number;
}

const extras = fc.array(fc.constantFrom(": keep-alive", "id: 7", "event: message", "retry: 100", ":"), { maxLength: 2 });
const lineOf = (text: string) => fc.nat(2).map((eol) => ({ text, eol }));
const event = (kind: Ev["kind"], data: fc.Arbitrary<string>): fc.Arbitrary<Ev> =>
  fc.tuple(extras, data).chain(([xs, d]) => fc.tuple(...xs.map(lineOf), lineOf(d), lineOf("")).map((lines) => ({ kind, lines })));

export const sseCase: fc.Arbitrary<SseCase> = fc.record({
  clientAsks: fc.boolean(),
  before: fc.array(event("content", fc.string({ maxLength: 30 }).map((t) => "data: " + content(t))), { maxLength: 6 }),
  filter: fc.boolean(),
  usage: event("usage", fc.constantFrom("data: " + USAGE, "data:" + USAGE)),
  mixed: fc.boolean(),
  eolAll: fc.nat(2),
  donePrefix: fc.constantFrom("data: ", "data:"),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
  everyByte: fc.nat(9).map((n) => n === 0),
  malformed: fc.constantFrom(0, 0, 0, 0, 0, 1, 2, 3, 4),
}).chain((c) => event("done", fc.constant(c.donePrefix + "[DONE]")).chain((done) =>
  event("filter", fc.constant("data: " + FILTER)).map((filterEv) => ({
    clientAsks: c.clientAsks, mixed: c.mixed, eolAll: c.eolAll, donePrefix: c.donePrefix, cuts: c.cuts, everyByte: c.everyByte, malformed: c.malformed,
    events: [...(c.filter ? [filterEv] : []), ...c.before, c.usage, done],
  }))));

/** The stream's bytes, and the usage event's text inside them. A CR end is never followed by a lone LF (that would be one CRLF). */
export function render(c: SseCase): { text: string; usage: string } {
  let out = "";
  let usage = "";
  let prevCr = false;
  const events = c.events.slice();
  if (c.malformed === 1) events.splice(events.length - 1, 0, { kind: "content", lines: [{ text: "data: " + content("y".repeat(300_000)), eol: 0 }, { text: "", eol: 0 }] });
  if (c.malformed === 3) events.pop();
  if (c.malformed === 4) events.splice(1, 0, { kind: "content", lines: [{ text: "data: {not json", eol: 0 }, { text: "garbage without colon", eol: 0 }, { text: "", eol: 0 }] });
  for (const ev of events) {
    let s = "";
    for (const l of ev.lines) {
      let e = EOLS[c.mixed ? l.eol : c.eolAll]!;
      if (prevCr && e === "\n") e = "\r\n";
      s += l.text + e;
      prevCr = e === "\r";
    }
    if (ev.kind === "usage") usage = s;
    out += s;
  }
  if (c.malformed === 2) out = out.replace(/[\r\n]+$/, "");
  return { text: out, usage };
}

export async function fuzzSse(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const cr = await new ClockRig(config()).start();
  try {
    return await runProperty("upstream SSE", sseCase, async (c) => {
      const r = await cr.fresh();
      const body = chatBody({ stream: true, ...(c.clientAsks ? { stream_options: { include_usage: true } } : {}) });
      const f = r.request("/v1/chat/completions", body);
      check(f.upstreamHeaders !== null, "stream request not forwarded");
      check(JSON.parse(f.upstreamBody).stream_options?.include_usage === true, "include_usage not asked of the provider");
      const { text, usage } = render(c);
      const bytes = Buffer.from(text);
      f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream; charset=utf-8"]], false);
      const cuts = c.everyByte && bytes.length < 4000 ? Array.from({ length: bytes.length }, (_, i) => i) : [...new Set(c.cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
      let at = 0;
      for (const cut of cuts) {
        if (cut <= at) continue;
        f.callOnResponseBody(bytes.subarray(at, cut), false);
        at = cut;
      }
      f.callOnResponseBody(bytes.subarray(at), true);
      f.complete();
      noTrap(r, "after the stream");
      check(f.responseEnded || f.resetReason !== null, "the response never ended");
      const got = Buffer.concat(f.responseData).toString();
      if (c.malformed === 0) {
        const expected = c.clientAsks ? text : text.replace(usage, "");
        check(got === expected, `client bytes differ from the provider's minus the injected usage event:\n got ${JSON.stringify(got.slice(-300))}\n want ${JSON.stringify(expected.slice(-300))}`);
      } else if (!c.clientAsks) {
        check(!got.includes('"prompt_tokens":9'), "the usage event the client did not ask for reached it");
      }
      clientSeesNoKeys(f, "upstream SSE");
    }, numRuns, mode, seed);
  } finally {
    await cr.close();
  }
}

/** Linear work: 8× the events (host calls per chunk are constant, so time is the measure). */
export async function sseLinear(): Promise<{ small: number; big: number }> {
  const cr = await new ClockRig(config()).start();
  try {
    const frames = [1, 8].map((n) => Array.from({ length: 1500 * n }, (_, i) => Buffer.from(`data: ${content("tok" + i)}\r\n\r\n`)));
    const tail = Buffer.from(`data: ${USAGE}\n\ndata: [DONE]\n\n`);
    return await linear("upstream SSE", async (scale) => {
      const r = await cr.fresh();
      const f = r.request("/v1/chat/completions", chatBody({ stream: true }));
      f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
      for (const fr of frames[scale === 1 ? 0 : 1]!) f.callOnResponseBody(fr, false);
      f.callOnResponseBody(tail, true);
      f.complete();
      noTrap(r);
    });
  } finally {
    await cr.close();
  }
}
