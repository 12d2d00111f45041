/**
 * Fuzz class "request bodies": JSON tricks a client may send — duplicate keys, escaped keys
 * ("max\u005ftokens"), deep nesting, huge/odd numbers in every token-bound field, multimodal
 * content parts, invalid UTF-8, truncated JSON — on every API path.
 *
 * Per case: no trap; a forwarded request carries exactly its provider's key; the provider's
 * window reserved at least the largest token bound the provider may honour (every top-level
 * max_tokens / max_completion_tokens / max_output_tokens, duplicates and escaped spellings
 * included, as a provider's JSON parser decodes them); the client never sees a provider key.
 */
import fc from "fast-check";
import { azure, CHAT_OK, openai } from "../rig/host-rig.ts";
import {
  check, ClockRig, clientSeesNoKeys, EAST_KEY, noTrap, OAI_KEY, PROVIDER_KEYS, routedCluster, runProperty,
  upstreamCredentials, WEST_KEY, linearShapes, type ClassResult, type LinearRow,
} from "./common.ts";

export const KEYS: Record<string, string> = { east: EAST_KEY, west: WEST_KEY, oai: OAI_KEY };

export const bodyConfig = () => ({
  providers: [azure("east", EAST_KEY, 0), openai("oai", OAI_KEY, 0), azure("west", WEST_KEY, 1)],
  healthCheck: { enabled: false }, retry: { maxAttempts: 2 }, seed: 7, maxRequestBodyBytes: 4 * 1024 * 1024,
});

const TOKEN_FIELDS = ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/** Spellings of a key a JSON parser decodes to the same name. */
function spell(key: string, how: number): string {
  if (how === 0) return key;
  const i = how % key.length;
  const c = key.charCodeAt(i);
  const esc = how % 3 === 0 ? "\\u" + c.toString(16).padStart(4, "0") : "\\u" + c.toString(16).toUpperCase().padStart(4, "0");
  return key.slice(0, i) + (key[i] === "/" ? "\\/" : esc) + key.slice(i + 1);
}

/** One top-level member: its key as written, the decoded key, its value as JSON text. */
interface Member { raw: string; key: string; value: string }

const numberText = fc.oneof(
  fc.integer({ min: 0, max: 5000 }).map(String),
  fc.integer({ min: 5000, max: 2_000_000 }).map(String),
  fc.constantFrom("0", "-1", "-0", "1.5", "100.0", "1e3", "1E2", "2.5e1", "0.0001", "99999999999999999999",
    "1e30", "9223372036854775807", "9223372036854775808", "4294967296", "2147483648", "1e-5", "1e400", "-1e400"),
  fc.constantFrom('"100"', "null", "true", "[]", "{}", '"1e9"'),
);

const tokenMember = fc.record({ field: fc.constantFrom(...TOKEN_FIELDS), how: fc.nat(40), value: numberText })
  .map(({ field, how, value }): Member => ({ raw: spell(field, how), key: field, value }));

const contentText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }), fc.constant("x".repeat(3000)));
const part = fc.oneof(
  contentText.map((t) => ({ type: "text", text: t })),
  fc.constant({ type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "high" } }),
  fc.constant({ type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } }),
  fc.constant({ type: "file", file: { file_id: "file-1" } }),
  fc.record({ type: fc.string({ maxLength: 6 }), max_tokens: fc.nat() }),
);
const message = fc.record({
  role: fc.constantFrom("system", "user", "assistant", "tool", "developer"),
  content: fc.oneof(contentText, fc.array(part, { maxLength: 4 }), fc.constant(null)),
});
const nested = fc.nat({ max: 300 }).map((d) => `${'{"max_tokens":1,"a":['.repeat(d)}1${"]}".repeat(d)}`);

const otherMember: fc.Arbitrary<Member> = fc.oneof(
  fc.constantFrom("gpt-4o", "gpt-4o", "gpt-4o", "", "gpt-4o\u0000", "other-model", "../../x").map((m): Member => ({ raw: "model", key: "model", value: JSON.stringify(m) })),
  fc.nat(20).map((how): Member => ({ raw: spell("model", how), key: "model", value: '"gpt-4o"' })),
  fc.array(message, { maxLength: 5 }).map((m): Member => ({ raw: "messages", key: "messages", value: JSON.stringify(m) })),
  fc.tuple(fc.constantFrom("input", "prompt", "instructions"), fc.oneof(fc.constant('"hello"'), fc.array(contentText, { maxLength: 3 }).map((a) => JSON.stringify(a))))
    .map(([k, v]): Member => ({ raw: k, key: k, value: v })),
  fc.constantFrom("true", "false", "null", '"true"', "1").map((v): Member => ({ raw: "stream", key: "stream", value: v })),
  fc.constantFrom('{"include_usage":true}', '{"include_usage":false}', "{}", "null", '{"include_usage":null}').map((v): Member => ({ raw: "stream_options", key: "stream_options", value: v })),
  nested.map((v): Member => ({ raw: "metadata", key: "metadata", value: v })),
  fc.jsonValue({ maxDepth: 3 }).map((v): Member => ({ raw: "tools", key: "tools", value: JSON.stringify(v) })),
);

export interface BodyCase {
  path: string;
  members: Member[];
  spaces: string[];
  /** 0: intact; 1: truncated at `cut`; 2: a member whose string value holds invalid UTF-8, inserted at `cut`. */
  damage: number;
  cut: number;
}

export const PATHS = [
  "/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings",
  "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", "/openai/v1/chat/completions",
];

export const bodyCase: fc.Arbitrary<BodyCase> = fc.record({
  path: fc.constantFrom(...PATHS),
  members: fc.array(fc.oneof({ weight: 2, arbitrary: tokenMember }, { weight: 3, arbitrary: otherMember }), { maxLength: 9 })
    .map((ms) => (ms.some((m) => m.key === "model") ? ms : [{ raw: "model", key: "model", value: '"gpt-4o"' }, ...ms])),
  spaces: fc.array(fc.constantFrom("", " ", "\n", "\t", "\r\n  "), { minLength: 1, maxLength: 4 }),
  damage: fc.constantFrom(0, 0, 0, 0, 1, 2),
  cut: fc.nat(),
});

const INVALID_UTF8 = Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf8]);
const MARK = "\u0001INVALID\u0001";

export function bodyBytes(c: BodyCase): Buffer {
  const sp = (i: number) => c.spaces[i % c.spaces.length]!;
  const members = c.members.slice();
  // Invalid UTF-8 inside a string value of a member of its own (a damaged key would be another key).
  if (c.damage === 2) members.splice(c.cut % (members.length + 1), 0, { raw: "user", key: "user", value: `"ab${MARK}cd"` });
  const text = "{" + sp(0) + members.map((m, i) => `"${m.raw}"${sp(i + 1)}:${sp(i)}${m.value}`).join("," + sp(1)) + sp(2) + "}";
  let b = Buffer.from(text);
  if (c.damage === 1) b = b.subarray(0, c.cut % b.length);
  if (c.damage === 2) {
    const at = b.indexOf(MARK);
    b = Buffer.concat([b.subarray(0, at), INVALID_UTF8, b.subarray(at + Buffer.byteLength(MARK))]);
  }
  return b;
}

/** The largest output bound a provider honouring any of the token fields may bill (0: none). */
export function tokenBound(c: BodyCase): number {
  let bound = 0;
  for (const m of c.members) {
    if (!TOKEN_FIELDS.includes(m.key)) continue;
    if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(m.value)) continue;
    // A bound in any notation (1e3, 25.0, 2.5e1) counts as a lenient provider reads it (the
    // fuzz found the filter ignoring those; lib/json_scan.ts parseBoundAt now rounds them up).
    const n = Number(m.value);
    // Providers reject (400, nothing billed) a bound beyond a 32-bit integer; no model bills more
    // than the filter's 100,000,000 cap on a bound.
    if (Number.isFinite(n) && n > 0 && n <= 2147483647) bound = Math.max(bound, Math.min(Math.ceil(n), 100_000_000));
  }
  return bound;
}

const SSE_OK = 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n' +
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\ndata: [DONE]\n\n';

export async function fuzzBodies(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const cr = await new ClockRig(bodyConfig()).start();
  try {
    return await runProperty("request bodies", bodyCase, async (c) => {
      const r = await cr.fresh();
      const body = bodyBytes(c);
      const f = r.request(c.path, body);
      noTrap(r, "after the request");
      const cluster = routedCluster(f);
      if (cluster !== null) {
        check(cluster in KEYS, `routed to unknown cluster ${cluster}`);
        upstreamCredentials(f.upstreamHeaders!, f.upstreamBody, KEYS[cluster]!, PROVIDER_KEYS, "request bodies");
        const bound = c.damage === 1 || c.path.includes("embeddings") ? 0 : tokenBound(c);
        const st = r.providerState(cluster);
        check(st !== undefined, `no state for ${cluster}`);
        check(st.tokensReserved >= BigInt(bound), `reserved ${st.tokensReserved} tokens at ${cluster} < bound ${bound} the provider may bill`);
        const stream = f.upstreamBody.includes('"stream":true') || /"stream"\s*:\s*true/.test(f.upstreamBody);
        if (stream) {
          f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
          f.callOnResponseBody(SSE_OK, true);
        } else f.respond(200, CHAT_OK);
      } else if (f.upstreamHeaders) {
        throw new Error(`request went upstream without a routed cluster: ${JSON.stringify(f.upstreamHeaders)}`);
      }
      f.complete();
      noTrap(r, "after the response");
      clientSeesNoKeys(f, "request bodies");
    }, numRuns, mode, seed);
  } finally {
    await cr.close();
  }
}

/** Linear work: a body with 8× the messages / duplicate members / nesting. */
export async function bodiesLinear(): Promise<LinearRow[]> {
  const cr = await new ClockRig(bodyConfig()).start();
  try {
    const shapes: Array<[string, (n: number) => string]> = [
      ["messages", (n) => JSON.stringify({ model: "gpt-4o", max_tokens: 5, messages: Array.from({ length: 1000 * n }, () => ({ role: "user", content: "hello there" })) })],
      ["duplicate keys", (n) => "{" + Array.from({ length: 2000 * n }, (_, i) => `"max\\u005ftokens":${i}`).join(",") + ',"model":"gpt-4o","messages":[]}'],
      ["nesting", (n) => `{"model":"gpt-4o","messages":[],"x":${"[".repeat(3000 * n)}${"]".repeat(3000 * n)}}`],
      ["multimodal parts", (n) => JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: Array.from({ length: 800 * n }, () => ({ type: "text", text: "abc\u00e9\\" })) }] })],
      // The Responses API: the scanner also reads stored-object references (lib/json_refs.ts), escaped keys and ids decoded.
      ["responses: replayed items, escaped keys and ids", (n) => `{"model":"gpt-4o","input":[` + Array.from({ length: 1500 * n },
        (_, i) => `{"type":"reasoning","\\u0069d":"rs_\\u0061${i}","summary":[],"content":[{"type":"input_file","file\\u005fid":"file-${i}"}]}`).join(",") + "]}"],
    ];
    return await linearShapes(cr, "request body", shapes, (t) => Buffer.from(t), (r, body, what) => {
      const f = r.request(what.startsWith("responses") ? "/v1/responses" : "/v1/chat/completions", body);
      if (f.upstreamHeaders) f.respond(200, CHAT_OK);
      f.complete();
    });
  } finally {
    await cr.close();
  }
}
