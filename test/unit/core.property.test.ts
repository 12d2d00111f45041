// Properties of the pure core, checked with fast-check over recorded provider outputs and
// generated inputs: usage is found exactly however a body is cut into chunks; the SSE stripper
// removes exactly the usage-only event, byte for byte, however the stream is cut; the request
// scanner agrees with JSON.parse; choice never leaves the lowest eligible group; capacity
// reservations never exceed the limits under any interleaving.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  usageScan, sseStrip, sseStripTrace, sseStripWhole, coreScanRequest, selectDraws,
  capReset, capFits, capReserve, capSettle, capLearn, capState,
} from "../.build/unit/unit.js";
import { AZURE_SSE, OPENAI_SSE, OPENAI_SSE_NO_USAGE, RESPONSES_SSE, WITH_USAGE, type Usage } from "./recordings.js";

const enc = new TextEncoder();
/** FAST_CHECK_SCALE=10 for a longer hunt; CI runs the default. */
// >1: a longer hunt; <1: the fast tier's share (npm run test:fast runs a quarter of the cases).
const SCALE = Math.max(0.05, Number(process.env.FAST_CHECK_SCALE ?? "1") || 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });

/** Sorted split positions strictly inside [0, len] (duplicates give empty chunks, which are allowed). */
const splitsOf = (len: number, max = 40) =>
  fc.array(fc.integer({ min: 0, max: len }), { maxLength: max }).map((a) => Int32Array.from(a.sort((x, y) => x - y)));

const usageOf = (bytes: Uint8Array, splits: Int32Array) => JSON.parse(usageScan(bytes, splits));
const expectUsage = (u: Usage | null) => (u === null ? { found: false, prompt: -1, completion: -1, total: -1 } : { found: true, ...u });

describe("usage scanner: the provider's usage, exactly, for every chunking", () => {
  for (const r of WITH_USAGE) {
    const bytes = enc.encode(r.body);

    it(`${r.name}: every single split position`, () => {
      const want = expectUsage(r.usage);
      for (let p = 0; p <= bytes.length; p++) {
        const got = usageOf(bytes, Int32Array.of(p));
        if (got.found !== want.found || got.prompt !== want.prompt || got.completion !== want.completion || got.total !== want.total) {
          expect(got, `split at byte ${p}`).toEqual(want);
        }
      }
    });

    it(`${r.name}: random multi-splits`, () => {
      fc.assert(fc.property(splitsOf(bytes.length), (splits) => {
        expect(usageOf(bytes, splits)).toEqual(expectUsage(r.usage));
      }), runs(300));
    });
  }

  it("in a generated stream, usage:null chunks never count and the last usage wins", () => {
    const count = fc.integer({ min: 0, max: 1_000_000 });
    const usage = fc.option(fc.record({ prompt: count, completion: count, total: count }), { freq: 2 });
    const text = fc.string({ unit: "grapheme", maxLength: 20 });
    const chunk = fc.record({ content: text, usage });
    fc.assert(fc.property(fc.array(chunk, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.nat(), (chunks, responses, cut) => {
      const body = chunks.map((c, i) => {
        const u = c.usage === null ? null : { prompt_tokens: c.usage.prompt, completion_tokens: c.usage.completion, total_tokens: c.usage.total };
        const ru = c.usage === null ? null : { input_tokens: c.usage.prompt, output_tokens: c.usage.completion, total_tokens: c.usage.total };
        const json = responses
          ? { type: "response.output_text.delta", sequence_number: i, delta: c.content, response: { usage: ru } }
          : { id: "c", object: "chat.completion.chunk", choices: c.usage ? [] : [{ index: 0, delta: { content: c.content } }], usage: u };
        return `data: ${JSON.stringify(json)}\n\n`;
      }).join("") + "data: [DONE]\n\n";
      const bytes = enc.encode(body);
      const last = [...chunks].reverse().find((c) => c.usage !== null);
      const splits = Int32Array.from([cut % (bytes.length + 1), (cut * 7) % (bytes.length + 1)].sort((a, b) => a - b));
      expect(usageOf(bytes, splits)).toEqual(expectUsage(last ? last.usage! : null));
    }), runs(300));
  });
});

/** The events of an SSE body (each with its blank-line terminator). */
function events(body: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const i = body.indexOf("\n\n", from);
    if (i < 0) break;
    out.push(body.slice(from, i + 2));
    from = i + 2;
  }
  if (from < body.length) out.push(body.slice(from));
  return out;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe("SSE stripper: output = input minus exactly the usage-only event, byte for byte", () => {
  for (const r of [OPENAI_SSE, AZURE_SSE]) {
    const input = enc.encode(r.body);
    const want = enc.encode(r.body.replace(r.usageEvent!, ""));
    expect(r.body.split(r.usageEvent!).length).toBe(2);

    it(`${r.name}: every single split position, end flagged on the last chunk or on an empty one`, () => {
      for (let p = 0; p <= input.length; p++) {
        for (const emptyEnd of [false, true]) {
          const got = sseStrip(input, Int32Array.of(p), emptyEnd);
          if (!bytesEqual(got, want)) expect(new TextDecoder().decode(got), `split at ${p}, emptyEnd ${emptyEnd}`).toBe(r.body.replace(r.usageEvent!, ""));
        }
      }
    });

    it(`${r.name}: random multi-splits; each complete event is released by the feed that completes it`, () => {
      // Byte offsets where events end, and the output bytes expected up to each.
      const evs = events(r.body).map((e) => enc.encode(e));
      const ends: number[] = [];
      const outAt: number[] = [];
      let pos = 0, out = 0;
      for (const e of evs) {
        pos += e.length;
        if (!bytesEqual(e, enc.encode(r.usageEvent!))) out += e.length;
        ends.push(pos);
        outAt.push(out);
      }
      const releasedBy = (p: number) => {
        let o = 0;
        for (let i = 0; i < ends.length; i++) if (ends[i] <= p) o = outAt[i];
        return o;
      };
      fc.assert(fc.property(splitsOf(input.length), fc.boolean(), (splits, emptyEnd) => {
        expect(bytesEqual(sseStrip(input, splits, emptyEnd), want)).toBe(true);
        const trace = JSON.parse(sseStripTrace(input, splits, emptyEnd));
        expect(trace.stripped).toBe(1);
        let total = 0;
        const cuts = [...splits, input.length];
        cuts.forEach((p, k) => {
          total += trace.lengths[k];
          if (k < cuts.length - 1 || emptyEnd) expect(total, `after the feed ending at ${p}`).toBe(releasedBy(p));
        });
      }), runs(300));
    });
  }

  // A failover answer arrives whole and is stripped in place (issue 13, defect 11): the same bytes
  // as the streaming stripper gives for any input, events of any separator form, usage events
  // anywhere, unterminated tails, events longer than the streaming hold limit.
  it("stripWhole (in place) = feed(all, end) for random SSE built from every separator form", () => {
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';
    const part = fc.oneof(
      fc.constantFrom(usage, 'data: {"choices":[{"delta":{"content":"x"}}]}', "data: [DONE]", "event: ping", ": comment", ""),
      fc.string({ maxLength: 40 }),
      fc.integer({ min: 16000, max: 20000 }).map((n) => "data: " + "y".repeat(n)),
    );
    const sep = fc.constantFrom("\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\r\r", "\n\r\n");
    fc.assert(fc.property(fc.array(fc.tuple(part, sep), { maxLength: 12 }), fc.boolean(), (items, tail) => {
      let text = items.map(([p, s]) => p + s).join("");
      if (tail) text += usage;
      const input = enc.encode(text);
      const want = sseStrip(input, new Int32Array(0), false);
      expect(bytesEqual(sseStripWhole(input), want)).toBe(true);
    }), runs(500));
    for (const r of [OPENAI_SSE, AZURE_SSE]) {
      expect(new TextDecoder().decode(sseStripWhole(enc.encode(r.body)))).toBe(r.body.replace(r.usageEvent!, ""));
    }
  });

  for (const r of [OPENAI_SSE_NO_USAGE, RESPONSES_SSE]) {
    const input = enc.encode(r.body);
    it(`${r.name}: passes through unchanged for every chunking`, () => {
      for (let p = 0; p <= input.length; p++) expect(bytesEqual(sseStrip(input, Int32Array.of(p), false), input)).toBe(true);
      fc.assert(fc.property(splitsOf(input.length), fc.boolean(), (splits, emptyEnd) => {
        expect(bytesEqual(sseStrip(input, splits, emptyEnd), input)).toBe(true);
      }), runs(200));
    });
  }

  it("generated streams (any text, multi-byte UTF-8 cut anywhere, LF or CRLF framing)", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 30 });
    fc.assert(fc.property(fc.array(text, { maxLength: 6 }), fc.boolean(), fc.boolean(), fc.nat(), fc.nat(),
      (contents, withUsage, crlf, a, b) => {
        const nl = crlf ? "\r\n" : "\n";
        const ev = (o: unknown) => `data: ${JSON.stringify(o)}${nl}${nl}`;
        const head = contents.map((c) => ev({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: c } }], usage: withUsage ? null : undefined })).join("");
        const usage = withUsage ? ev({ object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }) : "";
        const done = `data: [DONE]${nl}${nl}`;
        const input = enc.encode(head + usage + done);
        const want = enc.encode(head + done);
        const splits = Int32Array.from([a % (input.length + 1), b % (input.length + 1)].sort((x, y) => x - y));
        expect(bytesEqual(sseStrip(input, splits, false), want)).toBe(true);
      }), runs(300));
  });
});

describe("request scanner agrees with JSON.parse", () => {
  type Scan = { ok: boolean; model: string; stream: boolean };
  const scan = (t: string): Scan => JSON.parse(coreScanRequest(t));
  const isObject = (t: string) => {
    try {
      const v = JSON.parse(t);
      return v !== null && typeof v === "object" && !Array.isArray(v);
    } catch {
      return false;
    }
  };
  const agree = (text: string) => {
    const s = scan(text);
    expect(s.ok, JSON.stringify(text).slice(0, 300)).toBe(isObject(text));
    if (s.ok) {
      const v = JSON.parse(text);
      expect(s.model).toBe(typeof v.model === "string" ? v.model : "");
      expect(s.stream).toBe(v.stream === true);
    }
  };
  const request = fc.record({
    model: fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.constant(7), fc.constant(null)),
    stream: fc.oneof(fc.boolean(), fc.constant("true")),
    max_tokens: fc.nat(),
    messages: fc.array(fc.record({ role: fc.constantFrom("user", "system"), content: fc.string({ unit: "grapheme", maxLength: 20 }) }), { maxLength: 3 }),
    extra: fc.jsonValue({ maxDepth: 3 }),
  }, { requiredKeys: [] });
  const texts = fc.oneof(
    request.map((r) => JSON.stringify(r)),
    request.map((r) => JSON.stringify(r, null, 2)),
    fc.json({ maxDepth: 4 }),
  );

  it("on valid JSON texts", () => {
    fc.assert(fc.property(texts, agree), runs(500));
  });

  it("on JSON texts with one character deleted, inserted or replaced", () => {
    const chars = fc.constantFrom(..."{}[],:\"\\ \n0123456789.-+eEtrufalsn/xu");
    fc.assert(fc.property(texts, fc.nat(), chars, fc.integer({ min: 0, max: 2 }), (t, at, c, op) => {
      const i = t.length === 0 ? 0 : at % t.length;
      const mutated = op === 0 ? t.slice(0, i) + t.slice(i + 1) : op === 1 ? t.slice(0, i) + c + t.slice(i) : t.slice(0, i) + c + t.slice(i + 1);
      agree(mutated);
    }), runs(1500));
  });

  it("on truncated requests (every prefix fails, never traps)", () => {
    fc.assert(fc.property(request.map((r) => JSON.stringify(r)), fc.nat(), (t, at) => {
      agree(t.slice(0, at % t.length));
    }), runs(300));
  });
});

describe("choice never leaves the lowest eligible group", () => {
  const provider = fc.record({
    priority: fc.integer({ min: 0, max: 3 }), weight: fc.integer({ min: 0, max: 5 }),
    available: fc.boolean(), excluded: fc.boolean(), capacity: fc.boolean(), servesModel: fc.boolean(),
  });
  it("over random pools", () => {
    fc.assert(fc.property(fc.array(provider, { minLength: 1, maxLength: 6 }), fc.bigInt({ min: 1n, max: 1n << 40n }), (ps, seed) => {
      const spec = ps.map((p) => [p.priority, p.weight, +p.available, +p.excluded, +p.capacity, p.servesModel ? "m" : "other"].join(":")).join(";");
      const [countsText, why] = selectDraws(spec, "m", 50, seed).split("|");
      const counts = countsText.split(",").map(Number);
      const eligible = ps.map((p) => p.servesModel && p.available && !p.excluded && p.capacity && p.weight > 0);
      const groups = ps.filter((_, i) => eligible[i]).map((p) => p.priority);
      if (groups.length === 0) {
        expect(counts.every((c) => c === 0)).toBe(true);
        const serving = ps.filter((p) => p.servesModel);
        const seen = serving.filter((p) => p.available && !p.excluded && p.weight > 0);
        expect(Number(why)).toBe(serving.length === 0 ? 1 : seen.length === 0 ? 2 : 3);
        return;
      }
      const best = Math.min(...groups);
      expect(why).toBe("0");
      counts.forEach((c, i) => {
        if (c > 0) expect(eligible[i] && ps[i].priority === best, `provider ${i}`).toBe(true);
      });
      expect(counts.reduce((a, b) => a + b, 0)).toBe(50);
    }), runs(400));
  });
});

describe("capacity: reservations never exceed the limits under any interleaving", () => {
  type Cap = { windowStartMs: number; tokensReserved: number; requestsReserved: number; tokensLeft: number; requestsLeft: number };
  const B = BigInt;
  const state = (): Cap => JSON.parse(capState());
  const op = fc.oneof(
    fc.record({ k: fc.constant("reserve" as const), tokens: fc.integer({ min: 0, max: 1500 }) }),
    fc.record({ k: fc.constant("settle" as const), pick: fc.nat(), fraction: fc.double({ min: -0.5, max: 1, noNaN: true }) }),
    fc.record({ k: fc.constant("learn" as const), tokens: fc.integer({ min: -1, max: 1200 }), requests: fc.integer({ min: -1, max: 12 }) }),
    fc.record({ k: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 1500 }) }),
  );
  const limits = fc.record({
    tpm: fc.constantFrom(0, 500, 1000), rpm: fc.constantFrom(0, 3, 10),
    minT: fc.constantFrom(0, 100), minR: fc.constantFrom(0, 1), windowMs: fc.constantFrom(1000, 60_000),
  });

  it("reserve ⇔ fits; limits and thresholds hold after every admission; the ledger adds up", () => {
    fc.assert(fc.property(limits, fc.array(op, { maxLength: 60 }), (lim, ops) => {
      capReset(B(lim.tpm), B(lim.rpm), B(lim.minT), B(lim.minR), B(lim.windowMs));
      let now = 1000;
      // Reference ledger of the current window: reservations still counted, by their amount.
      let windowStart = 0;
      let open: { tokens: number; at: number; counted: number }[] = [];
      let released = 0; // requests released in the current window
      const elapsed = () => windowStart === 0 || now - windowStart >= lim.windowMs;
      for (const o of ops) {
        if (o.k === "wait") now += o.ms;
        else if (o.k === "reserve") {
          const before = state();
          const f = capFits(B(o.tokens), B(now));
          const ok = capReserve(B(o.tokens), B(now));
          expect(ok).toBe(f);
          const s = state();
          if (!ok) {
            expect(s).toEqual(before);
            continue;
          }
          if (elapsed()) {
            windowStart = now;
            open = [];
            released = 0;
          }
          open.push({ tokens: o.tokens, at: now, counted: o.tokens });
          expect(s.windowStartMs).toBe(windowStart);
          if (lim.tpm > 0) {
            expect(s.tokensReserved).toBeLessThanOrEqual(lim.tpm);
            expect(s.tokensLeft).toBeGreaterThanOrEqual(lim.minT);
          }
          if (lim.rpm > 0) {
            expect(s.requestsReserved).toBeLessThanOrEqual(lim.rpm);
            expect(s.requestsLeft).toBeGreaterThanOrEqual(lim.minR);
          }
        } else if (o.k === "settle") {
          if (open.length === 0) continue;
          const r = open[o.pick % open.length];
          if (r.counted !== r.tokens) continue; // settled already
          const actual = o.fraction < 0 ? -1 : Math.floor(r.tokens * o.fraction);
          capSettle(B(r.tokens), B(actual), B(r.at), B(now));
          if (!elapsed() && r.at >= windowStart) {
            r.counted = actual < 0 ? 0 : actual;
            if (actual < 0) released++;
          }
          r.tokens = -1; // never settle twice
        } else {
          capLearn(B(o.tokens), B(o.requests), B(now));
        }
        const s = state();
        if (windowStart > 0) {
          expect(s.tokensReserved).toBe(open.reduce((a, r) => a + r.counted, 0));
          expect(s.requestsReserved).toBe(open.length - released);
          if (lim.tpm > 0) expect(s.tokensReserved).toBeLessThanOrEqual(lim.tpm);
          if (lim.rpm > 0) expect(s.requestsReserved).toBeLessThanOrEqual(lim.rpm);
        }
      }
    }), runs(500));
  });
});
