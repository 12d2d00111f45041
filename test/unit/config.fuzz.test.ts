// Property-based: whatever text reaches the configuration parser, it returns a config or a
// list of errors — it never traps (an abort would kill the Envoy VM; here it would throw).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configSummary } from "../.build/unit/unit.js";

const AZURE_KEY = "0123456789abcdef0123456789abcdef";
const OPENAI_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz";
const CONSUMER_KEY = "team-a-9f8e7d6c5b4a";
const SECRETS = [AZURE_KEY, OPENAI_KEY, CONSUMER_KEY];
const ENV = `OAI_KEY=${OPENAI_KEY}\nEMPTY=`;
/** CONFIG_FUZZ_SCALE=20 for a longer hunt; CI runs the default. */
// >1: a longer hunt; <1: the fast tier's share (npm run test:fast runs a quarter of the cases).
const SCALE = Math.max(0.05, Number(process.env.CONFIG_FUZZ_SCALE ?? "1") || 1);

const valid = () => ({
  providers: [
    {
      name: "aoai", type: "azure-openai", cluster: "aoai", host: "aoai.openai.azure.com", apiVersion: "2024-10-21",
      deployments: { "gpt-4o": "gpt4o", "gpt-4o-mini": "mini" }, auth: { apiKey: AZURE_KEY }, limits: { tokensPerMinute: 1000 },
    },
    { name: "oai", type: "openai", cluster: "oai", host: "api.openai.com", models: { "gpt-4o": "gpt-4o-2024-08-06" }, auth: { apiKeyEnv: "OAI_KEY" }, priority: 1 },
  ],
  fallbacks: { "gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": ["gpt-4o"] },
  contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o" },
  healthCheck: { interval: "10s", timeout: "2s" },
  retry: { maxAttempts: 3, onStatus: [429, 503] },
  consumers: [{ name: "team-a", apiKey: CONSUMER_KEY }],
  streaming: { allow: true },
  _rules_: [{ _match_route_: ["r1"], retry: { maxAttempts: 2 } }],
});

type Outcome = { config?: unknown; errors?: string[] };

/** Calls the module; a trap would throw here. Checks the shape of the answer. */
function outcome(text: string): Outcome {
  const raw = configSummary(text, ENV);
  const out = JSON.parse(raw) as Outcome;
  const hasConfig = out.config !== undefined;
  const hasErrors = out.errors !== undefined;
  expect(hasConfig !== hasErrors).toBe(true);
  if (hasErrors) {
    expect(out.errors!.length).toBeGreaterThan(0);
    for (const e of out.errors!) expect(typeof e).toBe("string");
  }
  return out;
}

/** Phase 1 accepts exactly what JavaScript's JSON.parse accepts (bar its own depth limit). */
function syntaxAgrees(text: string, out: Outcome): void {
  const syntax = (out.errors ?? []).filter((e) => e.startsWith("configuration: invalid JSON at"));
  if (syntax.some((e) => e.includes("nesting deeper than"))) return;
  let jsOk = true;
  try {
    JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text); // we skip a leading BOM
  } catch {
    jsOk = false;
  }
  expect(syntax.length, `JSON.parse ${jsOk ? "accepts" : "rejects"} ${JSON.stringify(text).slice(0, 200)}`).toBe(jsOk ? 0 : 1);
}

function noSecrets(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
}

// Values the walker cares about: schema words as keys, near-valid scalars.
const words = [
  "providers", "name", "type", "cluster", "host", "basePath", "api", "apiVersion", "deployments", "models", "auth",
  "apiKey", "apiKeyEnv", "priority", "weight", "limits", "tokensPerMinute", "healthCheck", "path", "interval",
  "timeout", "retry", "maxAttempts", "onStatus", "cooldown", "consumers", "streaming", "defaults", "maxTokens",
  "seed", "logLevel", "fallbacks", "contextWindowFallbacks", "gpt-4o", "gpt-4o-mini", "_rules_", "_match_route_", "_match_domain_", "_match_service_", "_match_route_prefix_", "upstreamTimeout", "maxRequestBodyBytes",
];
const scalars = fc.oneof(
  fc.constantFrom("azure-openai", "openai", "10s", "1.5s", "500ms", "2m", "-1s", "", "/v1", "https://x", "h:99999",
    "2024-10-21", "OAI_KEY", "EMPTY", "UNSET", "info", "*.example.com", "classic", "v1"),
  fc.integer({ min: -5, max: 70000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalars, tie("obj"), tie("arr")),
  obj: fc.dictionary(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 8 })), tie("tree"), { maxKeys: 6 }),
  arr: fc.array(tie("tree"), { maxLength: 4 }),
}));

/** A JSON path (keys / indices) to every node of `v`. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) paths((v as any)[k], [...at, k], out);
  return out;
}

function replaceAt(root: any, path: (string | number)[], value: unknown): any {
  if (path.length === 0) return value;
  const copy = structuredClone(root);
  let o = copy;
  for (const p of path.slice(0, -1)) o = o[p];
  o[path[path.length - 1]] = value;
  return copy;
}

/** Random whitespace between the tokens of a compact JSON text (strings kept intact). */
function respace(compact: string, spaces: string[]): string {
  let out = "";
  let k = 0;
  let inString = false;
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i];
    if (inString) {
      out += c;
      if (c === "\\") out += compact[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if ("{}[],:".includes(c)) out += spaces[k++ % spaces.length] + c + spaces[k++ % spaces.length];
    else {
      if (c === '"') inString = true;
      out += c;
    }
  }
  return out;
}

describe("configuration parser never traps", () => {
  it("arbitrary text (including full Unicode and control characters); syntax verdict = JSON.parse's", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 100 }), fc.string({ maxLength: 300 })), (text) => {
        syntaxAgrees(text, outcome(text));
      }),
      { numRuns: Math.max(1, Math.round(1500 * SCALE)) },
    );
  }, 30000 * SCALE);

  it("arbitrary JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: "binary" }), (v) => {
        outcome(JSON.stringify(v) ?? "null");
      }),
      { numRuns: Math.max(1, Math.round(800 * SCALE)) },
    );
  }, 30000 * SCALE);

  it("random objects in the schema's vocabulary", () => {
    fc.assert(
      fc.property(tree, (v) => {
        outcome(JSON.stringify(v));
        outcome(JSON.stringify({ providers: [v], _rules_: [v] }));
      }),
      { numRuns: Math.max(1, Math.round(800 * SCALE)) },
    );
  }, 30000 * SCALE);

  it("random edits of a valid configuration's text; syntax verdict = JSON.parse's", () => {
    const base = JSON.stringify(valid(), null, 1);
    expect(outcome(base).config).toBeDefined();
    const edit = fc.oneof(
      fc.tuple(fc.constant("delete"), fc.nat(base.length), fc.integer({ min: 1, max: 20 }), fc.constant("")),
      fc.tuple(fc.constant("insert"), fc.nat(base.length), fc.constant(0), fc.oneof(fc.constantFrom("{", "}", "[", "]", '"', ":", ",", "\\", "-", "0", "e", "\n", "\u0000", "\u00a0", "\ud800", "null", ' "x"', ",,", "1e999"), fc.string({ maxLength: 3 }))),
      fc.tuple(fc.constant("replace"), fc.nat(base.length), fc.integer({ min: 1, max: 3 }), fc.string({ unit: "binary", maxLength: 3 })),
      fc.tuple(fc.constant("truncate"), fc.nat(base.length), fc.constant(0), fc.constant("")),
      fc.tuple(fc.constant("duplicate"), fc.nat(base.length), fc.integer({ min: 1, max: 60 }), fc.constant("")),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = base;
        for (const [kind, at, n, s] of edits) {
          const i = Math.min(at, text.length);
          if (kind === "delete") text = text.slice(0, i) + text.slice(i + n);
          else if (kind === "insert") text = text.slice(0, i) + s + text.slice(i);
          else if (kind === "replace") text = text.slice(0, i) + s + text.slice(i + n);
          else if (kind === "truncate") text = text.slice(0, i);
          else text = text.slice(0, i) + text.slice(i, i + n) + text.slice(i);
        }
        syntaxAgrees(text, outcome(text));
      }),
      { numRuns: Math.max(1, Math.round(1500 * SCALE)) },
    );
  }, 30000 * SCALE);

  it("random values replacing any node of a valid configuration; secrets never echoed", () => {
    const base = valid();
    const all = paths(base);
    fc.assert(
      fc.property(fc.constantFrom(...all), fc.oneof(tree, fc.jsonValue({ maxDepth: 3 })), (path, value) => {
        const text = JSON.stringify(replaceAt(base, path, value));
        const raw = configSummary(text, ENV);
        noSecrets(raw);
        outcome(text);
      }),
      { numRuns: Math.max(1, Math.round(1500 * SCALE)) },
    );
  }, 30000 * SCALE);

  it("whitespace does not change the result (phase 1 and json-as agree on valid JSON)", () => {
    const compact = JSON.stringify(valid());
    const expected = configSummary(compact, ENV);
    expect(JSON.parse(expected).config).toBeDefined();
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[ \t\r\n]{0,3}$/), { minLength: 1, maxLength: 7 }), (spaces) => {
        expect(configSummary(respace(compact, spaces), ENV)).toBe(expected);
      }),
      { numRuns: Math.max(1, Math.round(300 * SCALE)) },
    );
  }, 30000 * SCALE);
});
