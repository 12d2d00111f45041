/**
 * Fuzz class "batch files" (issue 20 item 6): JSONL batch input files a consumer uploads with
 * purpose=batch — valid lines, models outside the consumer's list (plain and JSON-escaped),
 * escaped and duplicate keys, huge and odd numbers in the token fields, missing fields, garbage
 * and truncated lines, CRLF and blank lines — then a batch created from the file when the upload
 * went through.
 *
 * Per case: no trap; a forwarded request carries exactly its provider's key; an upload whose file
 * has a line a JSON parser reads as naming a model the consumer may not use never reaches a
 * provider; a batch created from it is charged at least the sum of its valid lines' output bounds
 * (what the consumer's budget window holds after it); the client never sees a provider key.
 */
import fc from "fast-check";
import { bodyConfig, KEYS } from "./bodies.ts";
import { check, ClockRig, clientSeesNoKeys, noTrap, PROVIDER_KEYS, routedCluster, runProperty, upstreamCredentials, linearShapes, type ClassResult, type LinearRow } from "./common.ts";

const CONSUMER = "batcher";
const CONSUMER_KEY = "fuzz-batch-consumer-key-0001";
const ALLOWED = ["gpt-4o", "gpt-4o-mini"];
const LIMIT = 300_000_000;

export const batchConfig = () => ({
  ...bodyConfig(),
  consumers: [{ name: CONSUMER, apiKey: CONSUMER_KEY, models: ALLOWED, tokensPerMinute: LIMIT }],
});

const TOKEN_FIELDS = ["max_tokens", "max_completion_tokens", "max_output_tokens"];
const numberText = fc.oneof(
  fc.integer({ min: 0, max: 5000 }).map(String),
  fc.constantFrom("0", "-1", "1.5", "1e3", "99999999999999999999", "1e30", "9223372036854775808", "2147483648", "1e400", '"100"', "null", "[]"),
);
const modelText = fc.constantFrom('"gpt-4o"', '"gpt-4o-mini"', '"o3"', '"gpt-4\\u006f"', '"\\u006f3"', '"gpt-4o "', '""', "null", "7");
const keySpelling = (k: string) => fc.constantFrom(k, k, k, k.slice(0, 1) + "\\u00" + k.charCodeAt(1).toString(16) + k.slice(2));
const content = fc.oneof(fc.string({ maxLength: 30 }), fc.constant("x".repeat(2000)), fc.constant('"}\\n{"body":{"model":"o3"}}'));

/** A line for `model` (JSON text); `wild`: any model, escaped key spellings, a second "model". */
const lineFor = (fileModel: string, wild: boolean) => fc.record({
  model: wild ? modelText : fc.constant(fileModel),
  modelKey: wild ? keySpelling("model") : fc.constant("model"),
  bodyKey: wild ? keySpelling("body") : fc.constant("body"),
  tokens: fc.array(fc.record({ field: fc.constantFrom(...TOKEN_FIELDS), value: numberText }), { maxLength: 2 }),
  n: fc.constantFrom("", "", ',"n":2', ',"n":500'),
  text: content,
  dupModel: wild ? fc.option(modelText, { nil: undefined }) : fc.constant(undefined),
}).map(({ model, modelKey, bodyKey, tokens, n, text, dupModel }) => {
  const tok = tokens.map((t) => `,"${t.field}":${t.value}`).join("");
  const dup = dupModel !== undefined ? `,"model":${dupModel}` : "";
  return `{"custom_id":"c","method":"POST","url":"/v1/chat/completions","${bodyKey}":{"${modelKey}":${model},` +
    `"messages":[{"role":"user","content":${JSON.stringify(text)}}]${tok}${n}${dup}}}`;
});
const badLine = fc.constantFrom("{not json", "", "   ", "[]", '{"body":1}', '{"custom_id":"x"}', '{"body":{"model":"gpt-4o"},"body":{"model":"o3"}}',
  '{"body":{"model":"gpt-4o"}} {"body":{"model":"o3"}}', '{"body":{"model":"gpt-4o","messages":[', '{"body":{"model":"gpt-4o"}}}', "\u0000", '"str"');
const linesFor = (fileModel: string) => fc.array(fc.oneof(
  { weight: 12, arbitrary: lineFor(fileModel, false) },
  { weight: 1, arbitrary: lineFor(fileModel, true) },
  { weight: 1, arbitrary: badLine },
), { minLength: 0, maxLength: 8 });

export interface BatchCase { lines: string[]; eol: string[]; trailing: boolean }
export const batchCase: fc.Arbitrary<BatchCase> = fc.record({
  lines: fc.constantFrom('"gpt-4o"', '"gpt-4o"', '"gpt-4o-mini"', '"o3"', '"gpt-4\\u006f"').chain(linesFor),
  eol: fc.array(fc.constantFrom("\n", "\r\n", "\n\n", "\r\n\r\n"), { minLength: 1, maxLength: 8 }),
  trailing: fc.boolean(),
});

export function fileText(c: BatchCase): string {
  let s = "";
  c.lines.forEach((l, i) => { s += l + (i < c.lines.length - 1 || c.trailing ? c.eol[i % c.eol.length]! : ""); });
  return s;
}

/** Lines a JSON parser reads (objects with an object body): their model and largest output bound. */
function parsedLines(text: string): Array<{ model: unknown; bound: number }> {
  const out = [];
  for (const raw of text.split("\n")) {
    let v: any;
    try { v = JSON.parse(raw.replace(/\r$/, "")); } catch { continue; }
    if (v === null || typeof v !== "object" || v.body === null || typeof v.body !== "object") continue;
    let bound = 0;
    for (const f of TOKEN_FIELDS) {
      const n = v.body[f];
      // As the request-body fuzz counts a bound (bodies.ts tokenBound).
      if (typeof n === "number" && Number.isFinite(n) && n > 0 && n <= 2147483647) bound = Math.max(bound, Math.min(Math.ceil(n), 100_000_000));
    }
    out.push({ model: v.body.model, bound });
  }
  return out;
}

function formOf(text: string): { body: Buffer; contentType: string } {
  const body = Buffer.concat([
    Buffer.from('--BB\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n' +
      '--BB\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n'),
    Buffer.from(text), Buffer.from("\r\n--BB--\r\n"),
  ]);
  return { body, contentType: "multipart/form-data; boundary=BB" };
}

type Rig = Awaited<ReturnType<ClockRig["fresh"]>>;

function send(r: Rig, path: string, body: Buffer, contentType: string) {
  const f = r.open();
  f.callOnRequestHeaders([[":method", "POST"], [":path", path], [":authority", "gw.local"], [":scheme", "http"],
    ["content-type", contentType], ["content-length", String(body.length)], ["authorization", `Bearer ${CONSUMER_KEY}`]], false);
  if (f.localReply === null) f.callOnRequestBody(body, true);
  return f;
}

let fileSeq = 0;

/** What the cases did (the test checks each outcome was reached: a property nobody reaches proves nothing). */
export const batchStats = { uploaded: 0, uploadRefused: 0, created: 0, createRefused: 0 };

/** Uploads `text`; the provider answers with a new file id. Returns the flow and the id (null: not forwarded). */
function upload(r: Rig, text: string) {
  const { body, contentType } = formOf(text);
  const f = send(r, "/v1/files", body, contentType);
  noTrap(r, "after the upload");
  const cluster = routedCluster(f);
  let id: string | null = null;
  if (cluster !== null) {
    check(cluster in KEYS, `routed to unknown cluster ${cluster}`);
    upstreamCredentials(f.upstreamHeaders!, "", KEYS[cluster]!, PROVIDER_KEYS, "batch files");
    id = `file-fuzz${++fileSeq}`;
    f.respond(200, JSON.stringify({ id, object: "file", bytes: body.length, purpose: "batch", filename: "in.jsonl" }));
  } else if (f.upstreamHeaders) {
    throw new Error(`upload went upstream without a routed cluster: ${JSON.stringify(f.upstreamHeaders)}`);
  }
  f.complete();
  noTrap(r, "after the upload's answer");
  clientSeesNoKeys(f, "batch files");
  return { f, id };
}

export async function fuzzBatches(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const cr = await new ClockRig(batchConfig()).start();
  try {
    return await runProperty("batch files", batchCase, async (c) => {
      const r = await cr.fresh();
      const text = fileText(c);
      const parsed = parsedLines(text);
      const { id } = upload(r, text);
      const foreign = parsed.find((l) => typeof l.model === "string" && !ALLOWED.includes(l.model));
      check(id === null || foreign === undefined, `an upload with a line for model ${JSON.stringify(foreign?.model)} reached a provider`);
      if (id === null) { batchStats.uploadRefused++; return; }
      batchStats.uploaded++;
      const before = r.consumerState(CONSUMER)?.tokensReserved ?? 0n;
      const create = Buffer.from(JSON.stringify({ input_file_id: id, endpoint: "/v1/chat/completions", completion_window: "24h" }));
      const f = send(r, "/v1/batches", create, "application/json");
      noTrap(r, "after the batch request");
      const cluster = routedCluster(f);
      if (cluster !== null) {
        upstreamCredentials(f.upstreamHeaders!, f.upstreamBody, KEYS[cluster]!, PROVIDER_KEYS, "batch files");
        f.respond(200, JSON.stringify({ id: "batch_fuzz" + fileSeq, object: "batch", input_file_id: id, status: "validating" }));
        f.complete();
        noTrap(r, "after the batch's answer");
        const sum = parsed.reduce((a, l) => a + BigInt(l.bound), 0n);
        const after = r.consumerState(CONSUMER)?.tokensReserved ?? 0n;
        batchStats.created++;
        check(after - before >= sum, `a batch of output bounds summing to ${sum} was charged ${after - before} tokens`);
      } else {
        check(!f.upstreamHeaders, "batch request went upstream without a routed cluster");
        // Refused: only because its bound is larger than the budget.
        batchStats.createRefused++;
        check(f.localReply === 403 && f.body.includes("batch_exceeds_budget"), `batch refused: ${f.localReply} ${f.body.slice(0, 200)}`);
        f.complete();
      }
      clientSeesNoKeys(f, "batch files");
    }, numRuns, mode, seed);
  } finally {
    await cr.close();
  }
}

/** Linear work: 8× the lines, one 8× longer line, 8× the blank lines. */
export async function batchesLinear(): Promise<LinearRow[]> {
  const cr = await new ClockRig(batchConfig()).start();
  const line = (i: number) => `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","max_tokens":50,` +
    `"messages":[{"role":"user","content":"line ${i} \\"quoted\\" text"}]}}`;
  try {
    const shapes: Array<[string, (n: number) => string]> = [
      ["many lines", (n) => Array.from({ length: 2000 * n }, (_, i) => line(i)).join("\r\n")],
      ["one long line", (n) => `{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[` +
        Array.from({ length: 3000 * n }, () => '{"role":"user","content":"hello {there} [x]"}').join(",") + "]}}"],
      ["blank lines", (n) => line(0) + "\r\n \n".repeat(40_000 * n) + line(1)],
    ];
    return await linearShapes(cr, "batch file", shapes, formOf, (r, { body, contentType }, what) => {
      const f = send(r, "/v1/files", body, contentType);
      check(f.upstreamHeaders !== null && f.upstreamHeaders !== undefined, `batch file (${what}) not forwarded: ${f.localReply} ${f.body.slice(0, 200)}`);
      f.respond(200, JSON.stringify({ id: "file-lin", object: "file", purpose: "batch" }));
      f.complete();
    });
  } finally {
    await cr.close();
  }
}
