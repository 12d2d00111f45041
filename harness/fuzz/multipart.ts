/**
 * Fuzz class "multipart bodies": forms a hostile consumer may send to the upload / audio / image
 * edit APIs — decoy headers that mention name="model", filename="model", boundary parameters
 * hidden in other parameters or given twice, quoted and escaped names, several `model` fields,
 * padding after delimiters, bare LFs, folded headers, fake delimiters in file data, missing close
 * delimiters, preambles — for a consumer limited to gpt-4o.
 *
 * Per case: no trap; a forwarded request carries exactly its provider's key, its body unchanged;
 * the provider's multipart parser (harness/providers/multipart.ts, RFC 7578) reads no model but
 * gpt-4o from what was forwarded; the client never sees a provider key.
 */
import fc from "fast-check";
import { multipartBoundary, parseMultipart } from "../providers/multipart.ts";
import { CHAT_OK } from "../rig/host-rig.ts";
import { bodyConfig, KEYS } from "./bodies.ts";
import { check, ClockRig, clientSeesNoKeys, noTrap, PROVIDER_KEYS, routedCluster, runProperty, upstreamCredentials, linearShapes, type ClassResult, type LinearRow } from "./common.ts";

const CONSUMER_KEY = "fuzz-form-consumer-key-0001";
const PATH = "/v1/audio/transcriptions";

export const formConfig = () => ({ ...bodyConfig(), consumers: [{ name: "former", apiKey: CONSUMER_KEY, models: ["gpt-4o"] }] });

const boundary = fc.constantFrom("B", "REAL", "----formdata-undici-012345678901", "a b", "x=y", "--", "FAKE");
const nameSpelling = fc.constantFrom('"model"', "model", '"mod\\el"', '"mo%64el"', '"model" ', '"Model"', '"file"', '"prompt"', '"model\\"');
const modelValue = fc.constantFrom("gpt-4o", "o3", " o3 ", "gpt-4o\r\n", "");

interface Part { headers: string[]; data: string; lineEnd: string }
const part: fc.Arbitrary<Part> = fc.record({
  name: nameSpelling,
  filename: fc.option(fc.constantFrom('"model"', '"a.wav"', "model"), { nil: undefined }),
  extra: fc.array(fc.constantFrom('X-Note: name="model"', "Content-Type: text/plain", "Content-Transfer-Encoding: base64",
    ' name="model"', 'Content-Disposition: form-data; name="model"', 'content-disposition: form-data; name="model"; name="file"',
    'Content-Disposition: form-data; name*=utf-8\'\'model'), { maxLength: 2 }),
  value: fc.oneof(modelValue, fc.constantFrom("--FAKE\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\no3\r\n--FAKE--", "\r\n--BX", "x\r\n--B \r\n")),
  lineEnd: fc.constantFrom("\r\n", "\r\n", "\r\n", "\n"),
}).map(({ name, filename, extra, value, lineEnd }) => ({
  headers: [`Content-Disposition: form-data; name=${name}${filename !== undefined ? `; filename=${filename}` : ""}`, ...extra],
  data: value,
  lineEnd,
}));

export interface FormCase { boundary: string; ctParams: string; parts: Part[]; close: boolean; preamble: string; padding: string }
export const formCase: fc.Arbitrary<FormCase> = fc.record({
  boundary,
  ctParams: fc.constantFrom("; boundary=%B", '; boundary="%B"', "; xboundary=FAKE; boundary=%B", "; boundary=%B; boundary=FAKE",
    "; boundary=FAKE; boundary=%B", "; charset=utf-8; boundary=%B", ";boundary=%B", "; BOUNDARY=%B", "; boundary=%B;"),
  parts: fc.array(part, { minLength: 0, maxLength: 5 }),
  close: fc.boolean(),
  preamble: fc.constantFrom("", "", "\r\n", "junk\r\n"),
  padding: fc.constantFrom("", "", "", " "),
});

export function formBytes(c: FormCase): { body: Buffer; contentType: string } {
  const q = c.boundary.includes(" ") || c.boundary.includes("=") ? `"${c.boundary}"` : c.boundary;
  const contentType = "multipart/form-data" + c.ctParams.replace("%B", c.ctParams.includes('"%B"') ? c.boundary : q);
  let s = c.preamble;
  for (const p of c.parts) s += `--${c.boundary}${c.padding}\r\n${p.headers.join(p.lineEnd)}\r\n\r\n${p.data}\r\n`;
  if (c.close) s += `--${c.boundary}--\r\n`;
  return { body: Buffer.from(s), contentType };
}

function send(r: Awaited<ReturnType<ClockRig["fresh"]>>, body: Buffer, contentType: string) {
  const f = r.open();
  f.callOnRequestHeaders([[":method", "POST"], [":path", PATH], [":authority", "gw.local"], [":scheme", "http"],
    ["content-type", contentType], ["content-length", String(body.length)], ["authorization", `Bearer ${CONSUMER_KEY}`]], false);
  if (f.localReply === null) f.callOnRequestBody(body, true);
  return f;
}

export async function fuzzMultipart(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const cr = await new ClockRig(formConfig()).start();
  try {
    return await runProperty("multipart bodies", formCase, async (c) => {
      const r = await cr.fresh();
      const { body, contentType } = formBytes(c);
      const f = send(r, body, contentType);
      noTrap(r, "after the request");
      const cluster = routedCluster(f);
      if (cluster !== null) {
        check(cluster in KEYS, `routed to unknown cluster ${cluster}`);
        upstreamCredentials(f.upstreamHeaders!, "", KEYS[cluster]!, PROVIDER_KEYS, "multipart bodies");
        const sent = Buffer.concat(f.upstreamData);
        check(sent.equals(body), "the form was changed on its way up");
        const b = multipartBoundary(f.up("content-type"));
        const parsed = b !== undefined ? parseMultipart(sent, b) : undefined;
        for (const p of parsed?.parts ?? []) {
          if (p.name === "model") check(p.data.toString().trim() === "gpt-4o", `the provider reads model ${JSON.stringify(p.data.toString())} (consumer allowed gpt-4o only)`);
        }
        f.respond(200, CHAT_OK);
      } else if (f.upstreamHeaders) {
        throw new Error(`request went upstream without a routed cluster: ${JSON.stringify(f.upstreamHeaders)}`);
      }
      f.complete();
      noTrap(r, "after the response");
      clientSeesNoKeys(f, "multipart bodies");
    }, numRuns, mode, seed);
  } finally {
    await cr.close();
  }
}

/** Linear work: 8× the parts, empty parts (the 76 s body of issue 20), fake delimiters in a file. */
export async function multipartLinear(): Promise<LinearRow[]> {
  const cr = await new ClockRig(formConfig()).start();
  try {
    const shapes: Array<[string, (n: number) => string]> = [
      ["many parts", (n) => Array.from({ length: 4000 * n }, (_, i) => `--B\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`).join("") +
        '--B\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n--B--\r\n'],
      ["empty parts", (n) => "--B\r\n\r\n".repeat(16_000 * n)],
      ["fake delimiters in a file", (n) => '--B\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n' +
        '--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + "\r\n--BX".repeat(16_000 * n) + "\r\n--B--\r\n"],
    ];
    return await linearShapes(cr, "multipart body", shapes, (t) => Buffer.from(t), (r, body) => {
      const f = send(r, body, "multipart/form-data; boundary=B");
      if (f.upstreamHeaders) f.respond(200, CHAT_OK);
      f.complete();
    });
  } finally {
    await cr.close();
  }
}
