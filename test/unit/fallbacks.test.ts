// Model rewrites and model fallbacks (issue 19 item 8) through the unit build:
// - an OpenAI provider's `models` as an object (model → the provider's own name), read and checked;
// - top-level `fallbacks` / `contextWindowFallbacks`: every problem by its JSON path, rules
//   inheriting or overriding them like any top-level section;
// - the pure helpers the request calls (plan/fallback.ts) and the upstream request planned for a
//   fallback model (plan/upstream.ts), including whether a provider could take the body unchanged
//   (header mode, provider/route.ts takesBodyAsSent).
// Table-driven: each case states its input and the exact result.
import { describe, expect, it } from "vitest";
import { configSummary, planFallback, planUpstreamFor } from "../.build/unit/unit.js";

const OA_KEY = "sk-test-openai-0123456789abcdef";
const AZ_KEY = "0123456789abcdef0123456789abcdef";

/** OpenAI provider whose models have other names there (dated snapshots). */
const oaMap = () => ({
  name: "oa", type: "openai", cluster: "oa", host: "api.openai.com",
  models: { "gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1-2025-04-14" },
  auth: { apiKey: OA_KEY },
});
/** OpenAI-compatible provider with a plain model list. */
const oaList = () => ({ name: "compat", type: "openai", cluster: "compat", host: "llm.example.com", models: ["gpt-4o", "gpt-4o-mini"], auth: { apiKey: OA_KEY + "x" } });
const az = (extra: Record<string, unknown> = {}) => ({
  name: "az", type: "azure-openai", cluster: "az", host: "az.openai.azure.com", apiVersion: "2024-10-21",
  deployments: { "gpt-4o": "gpt4o-ptu", "gpt-4o-mini": "mini", "gpt-35-turbo": "g35" }, auth: { apiKey: AZ_KEY }, ...extra,
});
const base = (extra: Record<string, unknown> = {}) => ({ providers: [az(), oaMap(), oaList()], ...extra });

type Summary = { config?: any; errors?: string[] };
const run = (cfg: unknown): Summary => JSON.parse(configSummary(JSON.stringify(cfg), ""));
function errorsOf(cfg: unknown): string[] {
  const r = run(cfg);
  expect(r.config, "expected errors, got a config").toBeUndefined();
  return r.errors!;
}
function configOf(cfg: unknown): any {
  const r = run(cfg);
  expect(r.errors, "expected a config").toBeUndefined();
  return r.config;
}

const NOT_SERVED = (m: string) => `model "${m}" is served by no provider (name it in a provider's deployments or models)`;

describe("OpenAI provider `models` as a map: model → the provider's name for it", () => {
  it("reads the map: the keys are the models served, the values the names sent; a list keeps working", () => {
    const c = configOf(base());
    expect(c.providers[1].models).toEqual(["gpt-4o", "gpt-4o-mini", "gpt-4.1"]);
    expect(c.providers[1].modelMap).toEqual(oaMap().models);
    expect(c.providers[2].models).toEqual(["gpt-4o", "gpt-4o-mini"]);
    expect(c.providers[2].modelMap).toEqual({});
    expect(c.providers[0].modelMap).toEqual({});
  });

  it("the map is not part of the provider's record: renaming a model keeps its shared state", () => {
    const fp = (models: unknown) => configOf({ providers: [{ ...oaMap(), models }] }).providers[0].fingerprint;
    expect(fp({ "gpt-4o": "gpt-4o-2024-11-20" })).toBe(fp(["gpt-4o"]));
  });

  it.each([
    ["an empty model key", { "": "x" }, ['providers[0].models[""]: model name (the key) must not be empty']],
    ["an empty name", { "gpt-4o": "" }, ["providers[0].models.gpt-4o: must not be empty"]],
    ["a name that is not a string", { "gpt-4o": 4, "gpt-4.1": null }, [
      "providers[0].models.gpt-4o: expected a string, found a number",
      'providers[0].models["gpt-4.1"]: expected a string, found null',
    ]],
    ["neither list nor object", "gpt-4o", ["providers[0].models: expected an array, found a string"]],
  ] as [string, unknown, string[]][])("%s is an error at its path", (_n, models, expected) => {
    expect(errorsOf({ providers: [{ ...oaMap(), models }] })).toEqual(expected);
  });

  it("Azure providers still take no models (their map is deployments)", () => {
    expect(errorsOf({ providers: [{ ...az(), models: { "gpt-4o": "x" } }] }))
      .toEqual(['providers[0].models: not allowed for type "azure-openai": list the models as keys of deployments']);
  });
});

describe("fallbacks and contextWindowFallbacks: validation", () => {
  it("a valid configuration is read as written", () => {
    const c = configOf(base({
      fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-35-turbo"], "gpt-4.1": ["gpt-4o"] },
      contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o", "gpt-4o": "gpt-4.1" },
    }));
    expect(c.fallbacks).toEqual({ "gpt-4o": ["gpt-4o-mini", "gpt-35-turbo"], "gpt-4.1": ["gpt-4o"] });
    expect(c.contextWindowFallbacks).toEqual({ "gpt-4o-mini": "gpt-4o", "gpt-4o": "gpt-4.1" });
    const none = configOf(base());
    expect([none.fallbacks, none.contextWindowFallbacks]).toEqual([{}, {}]);
  });

  it("lists that point at each other are accepted: a list is not followed transitively, so nothing loops", () => {
    const c = configOf(base({ fallbacks: { "gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": ["gpt-4o"] } }));
    expect(c.fallbacks).toEqual({ "gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": ["gpt-4o"] });
  });

  const nine = Array.from({ length: 9 }, (_, i) => `m${i}`);
  const chain = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, `m${i + 1}`]));
  /** An OpenAI provider without a models list serves any model. */
  const anyModel = { providers: [{ ...oaList(), models: undefined }] };

  it.each([
    ["fallbacks not an object", { fallbacks: ["gpt-4o-mini"] }, ["fallbacks: expected an object, found an array"]],
    ["a list that is not a list", { fallbacks: { "gpt-4o": "gpt-4o-mini" } }, ["fallbacks.gpt-4o: expected an array, found a string"]],
    ["an empty list", { fallbacks: { "gpt-4o": [] } }, ['fallbacks.gpt-4o: must list 1 to 8 models to use instead of "gpt-4o", found 0']],
    ["a list of 9", { fallbacks: { "gpt-4o": nine } }, ['fallbacks.gpt-4o: must list 1 to 8 models to use instead of "gpt-4o", found 9']],
    ["a model falling back to itself", { fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-4o"] } },
      ['fallbacks.gpt-4o[1]: model "gpt-4o" cannot fall back to itself']],
    ["a duplicate", { fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-4o-mini"] } }, ['fallbacks.gpt-4o[1]: duplicate value "gpt-4o-mini"']],
    ["models no provider serves, key and entries", { fallbacks: { "gpt-5": ["gpt-4o"], "gpt-4o": ["o3", "gpt-4o-mini", "o4"] } }, [
      `fallbacks.gpt-5: ${NOT_SERVED("gpt-5")}`, `fallbacks.gpt-4o[0]: ${NOT_SERVED("o3")}`, `fallbacks.gpt-4o[2]: ${NOT_SERVED("o4")}`,
    ]],
    ["bad entries", { fallbacks: { "gpt-4o": ["", 4, null], "": ["gpt-4o"] } }, [
      "fallbacks.gpt-4o[0]: must not be empty", "fallbacks.gpt-4o[1]: expected a string, found a number",
      "fallbacks.gpt-4o[2]: expected a string, found null", 'fallbacks[""]: model name (the key) must not be empty',
    ]],
    ["a key with a dot is quoted in its path", { fallbacks: { "gpt-4.1": ["gpt-4.1"] } }, ['fallbacks["gpt-4.1"][0]: model "gpt-4.1" cannot fall back to itself']],
    ["too many entries", { fallbacks: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`m${i}`, ["gpt-4o"]])) },
      ["fallbacks: at most 256 models, found 257"]],
    ["contextWindowFallbacks not an object", { contextWindowFallbacks: "gpt-4.1" }, ["contextWindowFallbacks: expected an object, found a string"]],
    ["a context fallback that is a list", { contextWindowFallbacks: { "gpt-4o": ["gpt-4.1"] } }, ["contextWindowFallbacks.gpt-4o: expected a string, found an array"]],
    ["a context fallback to itself", { contextWindowFallbacks: { "gpt-4o": "gpt-4o" } }, ['contextWindowFallbacks.gpt-4o: model "gpt-4o" cannot fall back to itself']],
    ["a context fallback no provider serves", { contextWindowFallbacks: { "gpt-4o": "gpt-4o-128k", "o1": "gpt-4o" } }, [
      `contextWindowFallbacks.gpt-4o: ${NOT_SERVED("gpt-4o-128k")}`, `contextWindowFallbacks.o1: ${NOT_SERVED("o1")}`,
    ]],
    ["a loop, reported once at its first member", { contextWindowFallbacks: { "gpt-4o": "gpt-4.1", "gpt-4.1": "gpt-4o" } },
      ["contextWindowFallbacks.gpt-4o: falls back in a loop: gpt-4o → gpt-4.1 → gpt-4o; a chain must end at a model without an entry"]],
    ["a chain running into a loop is reported with the loop", { contextWindowFallbacks: { "gpt-35-turbo": "gpt-4o-mini", "gpt-4o-mini": "gpt-4o", "gpt-4o": "gpt-4.1", "gpt-4.1": "gpt-4o-mini" } },
      ['contextWindowFallbacks.gpt-4o-mini: falls back in a loop: gpt-4o-mini → gpt-4o → gpt-4.1 → gpt-4o-mini; a chain must end at a model without an entry']],
  ] as [string, Record<string, unknown>, string[]][])("%s", (_n, extra, expected) => {
    expect(errorsOf(base(extra))).toEqual(expected);
  });

  it("contextWindowFallbacks chains: 8 steps at most, reported at the chain's head", () => {
    expect(configOf({ ...anyModel, contextWindowFallbacks: chain(8) }).contextWindowFallbacks).toEqual(chain(8));
    expect(errorsOf({ ...anyModel, contextWindowFallbacks: chain(9) }))
      .toEqual(["contextWindowFallbacks.m0: the chain m0 → m1 → m2 → m3 → m4 → m5 → m6 → m7 → m8 → m9 has 9 steps; at most 8"]);
    // The largest maps: one chain through all 256 entries, and one loop through all of them.
    const long = errorsOf({ ...anyModel, contextWindowFallbacks: chain(256) });
    expect(long).toHaveLength(1);
    expect(long[0]).toMatch(/^contextWindowFallbacks\.m0: the chain m0 → m1 → .* → m256 has 256 steps; at most 8$/);
    const loop = errorsOf({ ...anyModel, contextWindowFallbacks: { ...chain(255), m255: "m0" } });
    expect(loop).toHaveLength(1);
    expect(loop[0]).toMatch(/^contextWindowFallbacks\.m0: falls back in a loop: m0 → m1 → .* → m255 → m0; a chain must end at a model without an entry$/);
    // Two chains joining, one of them too long: reported at its own head only.
    expect(errorsOf({ ...anyModel, contextWindowFallbacks: { ...chain(9), x: "m5" } }))
      .toEqual(["contextWindowFallbacks.m0: the chain m0 → m1 → m2 → m3 → m4 → m5 → m6 → m7 → m8 → m9 has 9 steps; at most 8"]);
  });

  it("providers in error: no served-check (their own errors say what is wrong)", () => {
    const bad = { ...oaMap(), host: "https://api.openai.com" };
    expect(errorsOf({ providers: [bad], fallbacks: { "gpt-4o": ["gpt-9"] } }))
      .toEqual(['providers[0].host: must not include a scheme: drop "https://" and write "api.openai.com" (TLS is configured on the Envoy cluster)']);
  });

  it("_rules_: a rule inherits the global fallbacks, checked against its own providers; it may override or clear them", () => {
    const global = base({ fallbacks: { "gpt-4o": ["gpt-35-turbo"] }, contextWindowFallbacks: { "gpt-4o": "gpt-4.1" } });
    const c = configOf({
      ...global,
      _rules_: [
        { _match_route_: ["a"] },
        { _match_route_: ["b"], fallbacks: { "gpt-4o": ["gpt-4o-mini"] }, contextWindowFallbacks: null },
        { _match_route_: ["c"], fallbacks: {}, contextWindowFallbacks: {} },
      ],
    });
    expect(c.rules.map((r: any) => [r.config.fallbacks, r.config.contextWindowFallbacks])).toEqual([
      [{ "gpt-4o": ["gpt-35-turbo"] }, { "gpt-4o": "gpt-4.1" }],
      [{ "gpt-4o": ["gpt-4o-mini"] }, { "gpt-4o": "gpt-4.1" }],
      [{}, {}],
    ]);
    // A rule whose providers do not serve an inherited fallback: the combination is the rule's error.
    expect(errorsOf({ ...global, _rules_: [{ _match_route_: ["r"], providers: [oaMap()] }] })).toEqual([
      `_rules_[0]: fallbacks.gpt-4o[0]: ${NOT_SERVED("gpt-35-turbo")}`,
    ]);
    // A rule's own fallbacks are reported inside the rule.
    expect(errorsOf({ ...base(), _rules_: [{ _match_route_: ["r"], fallbacks: { "gpt-4o": ["gpt-4o"] } }] }))
      .toEqual(['_rules_[0].fallbacks.gpt-4o[0]: model "gpt-4o" cannot fall back to itself']);
  });
});

describe("nextFallbackModel / contextFallbackModel", () => {
  const cfg = JSON.stringify(base({
    fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-35-turbo"], "gpt-4o-mini": ["gpt-4o"] },
    contextWindowFallbacks: { "gpt-4o-mini": "gpt-4o", "gpt-4o": "gpt-4.1" },
  }));
  const NONE = "\u0000";
  const next = (model: string, tried: string[], consumer: string[] | null = null) => planFallback(cfg, "", 0, model, tried.join(","), consumer === null ? NONE : consumer.join(","));
  const ctx = (model: string, tried: string[], consumer: string[] | null = null) => planFallback(cfg, "", 1, model, tried.join(","), consumer === null ? NONE : consumer.join(","));

  it.each([
    ["the first of the list", "gpt-4o", [], null, "gpt-4o-mini"],
    ["the requested model listed as tried changes nothing", "gpt-4o", ["gpt-4o"], null, "gpt-4o-mini"],
    ["the next one not tried", "gpt-4o", ["gpt-4o", "gpt-4o-mini"], null, "gpt-35-turbo"],
    ["none left", "gpt-4o", ["gpt-4o-mini", "gpt-35-turbo"], null, ""],
    ["a model without a list", "gpt-4.1", [], null, ""],
    ["no model", "", [], null, ""],
    // Lists are not followed transitively: gpt-4o-mini's list (→ gpt-4o) is never used for gpt-4o.
    ["the list of a fallback is not used", "gpt-4o", ["gpt-4o", "gpt-4o-mini", "gpt-35-turbo"], null, ""],
    ["lists pointing at each other never bring a model back", "gpt-4o-mini", ["gpt-4o-mini", "gpt-4o"], null, ""],
    ["a consumer's allow-list skips what it may not use", "gpt-4o", [], ["gpt-4o", "gpt-35-turbo"], "gpt-35-turbo"],
    ["a consumer without a list may use any", "gpt-4o", [], [], "gpt-4o-mini"],
    ["a consumer allowed none of them", "gpt-4o", [], ["gpt-4o"], ""],
  ] as [string, string, string[], string[] | null, string][])("nextFallbackModel: %s", (_n, model, tried, consumer, want) => {
    expect(next(model, tried, consumer)).toBe(want);
  });

  it.each([
    ["the entry", "gpt-4o-mini", [], null, "gpt-4o"],
    ["the entry of the larger model", "gpt-4o", [], null, "gpt-4.1"],
    ["the end of the chain", "gpt-4.1", [], null, ""],
    ["a model without an entry", "gpt-35-turbo", [], null, ""],
    ["one the consumer may not use is skipped along the chain", "gpt-4o-mini", [], ["gpt-4o-mini", "gpt-4.1"], "gpt-4.1"],
    ["one already tried is skipped along the chain", "gpt-4o-mini", ["gpt-4o"], null, "gpt-4.1"],
    ["nothing usable along the chain", "gpt-4o-mini", ["gpt-4.1"], ["gpt-4o-mini", "gpt-4.1"], ""],
  ] as [string, string, string[], string[] | null, string][])("contextFallbackModel: %s", (_n, model, tried, consumer, want) => {
    expect(ctx(model, tried, consumer)).toBe(want);
  });

  it("an invalid configuration gives no helper anything to work on", () => {
    expect(planFallback(JSON.stringify(base({ fallbacks: { "gpt-4o": ["gpt-4o"] } })), "", 0, "gpt-4o", "", NONE)).toBe("!config");
  });
});

describe("the upstream request for a model (the client's or a fallback)", () => {
  const CHAT = 1;
  const RESPONSES = 4;
  const cfg = JSON.stringify({ providers: [az(), { ...az({ name: "az1", host: "az1.openai.azure.com", api: "v1", apiVersion: undefined }) }, oaMap(), oaList(),
    { ...oaList(), name: "odd", host: "odd.example.com", auth: { apiKey: OA_KEY + "odd" }, models: { "gpt-4o": 'gpt-4o "custom"\n' } }] });
  const body = (model: string | null) => JSON.stringify({ ...(model === null ? {} : { model }), messages: [{ role: "user", content: "hi" }] });
  const plan = (provider: string, kind: number, model: string, sent: string, headerOnly = false) => {
    const r = JSON.parse(planUpstreamFor(cfg, "", provider, kind, model, sent, headerOnly));
    return { path: r.path, model: r.model, bodyModel: JSON.parse(r.body).model ?? null, bodyChanged: r.bodyChanged, takesBodyAsSent: r.takesBodyAsSent };
  };

  it.each([
    // provider, api, attempt's model, the client's body model → path, body model, changed, could take the body unchanged
    ["OpenAI map: the provider's name", "oa", CHAT, "gpt-4o", "gpt-4o", "/v1/chat/completions", "gpt-4o-2024-08-06", true, false],
    ["OpenAI map, a fallback: the fallback's name there", "oa", CHAT, "gpt-4o-mini", "gpt-4o", "/v1/chat/completions", "gpt-4o-mini-2024-07-18", true, false],
    ["OpenAI list: the body as sent", "compat", CHAT, "gpt-4o", "gpt-4o", "/v1/chat/completions", "gpt-4o", false, true],
    ["OpenAI list, a fallback: the fallback's name", "compat", CHAT, "gpt-4o-mini", "gpt-4o", "/v1/chat/completions", "gpt-4o-mini", true, false],
    ["Azure classic: the path names the deployment, the body is left", "az", CHAT, "gpt-4o", "gpt-4o", "/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21", "gpt-4o", false, true],
    ["Azure classic, a fallback: its deployment in the path and the body", "az", CHAT, "gpt-4o-mini", "gpt-4o", "/openai/deployments/mini/chat/completions?api-version=2024-10-21", "mini", true, true],
    ["Azure classic, a fallback, a body without a model: nothing inserted", "az", CHAT, "gpt-4o-mini", null, "/openai/deployments/mini/chat/completions?api-version=2024-10-21", null, false, true],
    ["Azure v1, a fallback: its deployment in the body", "az1", CHAT, "gpt-4o-mini", "gpt-4o", "/openai/v1/chat/completions", "mini", true, false],
    ["Azure classic, the Responses API, a fallback", "az", RESPONSES, "gpt-35-turbo", "gpt-4o", "/openai/v1/responses", "g35", true, false],
    ["a name that needs escaping stays valid JSON", "odd", CHAT, "gpt-4o", "gpt-4o", "/v1/chat/completions", 'gpt-4o "custom"\n', true, false],
  ] as [string, string, number, string, string | null, string, string | null, boolean, boolean][])(
    "%s", (_n, provider, kind, model, sent, path, bodyModel, changed, asSent) => {
      const sentBody = sent === null ? JSON.stringify({ messages: [{ role: "user", content: "hi" }] }) : body(sent);
      expect(plan(provider, kind, model, sentBody)).toEqual({ path, model, bodyModel, bodyChanged: changed, takesBodyAsSent: asSent });
    });

  it("header mode: the body goes as sent (never rewritten), and takesBodyAsSent says which providers can take it", () => {
    expect(plan("oa", CHAT, "gpt-4o", body("gpt-4o"), true)).toEqual({ path: "/v1/chat/completions", model: "gpt-4o", bodyModel: "gpt-4o", bodyChanged: false, takesBodyAsSent: false });
    expect(plan("compat", CHAT, "gpt-4o", body("gpt-4o"), true).takesBodyAsSent).toBe(true);
    // A fallback in header mode: only a provider that reads the model from the path can take it.
    expect(plan("compat", CHAT, "gpt-4o-mini", body("gpt-4o"), true).takesBodyAsSent).toBe(false);
    expect(plan("az", CHAT, "gpt-4o-mini", body("gpt-4o"), true)).toMatchObject({ path: "/openai/deployments/mini/chat/completions?api-version=2024-10-21", bodyChanged: false, takesBodyAsSent: true });
    expect(plan("az1", CHAT, "gpt-4o-mini", body("gpt-4o"), true).takesBodyAsSent).toBe(false);
  });
});
