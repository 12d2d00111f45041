// Issue 19 item 3: OpenAI counts rate limits per model (its x-ratelimit-* headers are the model's),
// so on an OpenAI-type provider one model's 429 must not send another model to the fallback.
// Through the gateway: an OpenAI primary (priority 0) and an OpenAI fallback (priority 1), both mocks
// keeping one window per model as OpenAI does.
//  - gpt-4o's 429 (retry-after 5 s) cools gpt-4o only: gpt-4o-mini stays on the primary, gpt-4o
//    goes to the fallback until the retry-after ends, then comes back (open model list and listed models);
//  - x-ratelimit-remaining-tokens learned for gpt-4o do not hold gpt-4o-mini back;
//  - a 503 still counts against the provider as a whole;
//  - model names come from clients: per-model records are bounded (shared-data keys are never
//    deleted) — 10,000 random model names make at most 32 records, and names the provider does not
//    serve (404) make none.
import { afterEach, describe, expect, it } from "vitest";
import type { PluginHost } from "../../harness/host/index.ts";
import type { MockProviderOptions } from "../../harness/providers/index.ts";
import { credentialAudit, EAST_KEY, post, sleep, startStack, WEST_KEY, type ClientResponse, type Stack } from "../support/stack.ts";

const PRIMARY = "oai-primary";
const FALLBACK = "oai-fallback";
const A = "gpt-4o";
const B = "gpt-4o-mini";
/** The bound on per-model records of a provider with an open model list (docs/operations.md, capacity). */
const OPEN_MODELS_BOUND = 32;

let s: Stack | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

async function openaiPair(opts: {
  /** The gateway's `models` for the primary (absent: an open list). */
  models?: string[];
  /** What the primary / fallback mocks serve (absent: any model, unlimited). */
  primaryModels?: MockProviderOptions["models"];
  fallbackModels?: MockProviderOptions["models"];
  /** The gateway's `models` for the primary as an object: model → the provider's name for it. */
  modelMap?: Record<string, string>;
  /** The gateway's `limits` for the primary. */
  primaryLimits?: Record<string, unknown>;
  extra?: Record<string, unknown>;
} = {}): Promise<Stack> {
  s = await startStack({
    east: { kind: "openai", name: PRIMARY, deployments: undefined, models: opts.primaryModels, windowMs: 60_000 } as Partial<MockProviderOptions>,
    west: { kind: "openai", name: FALLBACK, deployments: undefined, models: opts.fallbackModels, windowMs: 60_000 } as Partial<MockProviderOptions>,
    edit: (cfg) => ({
      ...cfg,
      providers: [
        {
          name: PRIMARY, type: "openai", cluster: "aoai-east", host: "api.openai.com", auth: { apiKeyEnv: "AOAI_EAST_KEY" }, priority: 0,
          ...(opts.models ? { models: opts.models } : {}),
          ...(opts.modelMap ? { models: opts.modelMap } : {}),
          ...(opts.primaryLimits ? { limits: opts.primaryLimits } : {}),
        },
        { name: FALLBACK, type: "openai", cluster: "aoai-west", host: "fallback.example.com", auth: { apiKeyEnv: "AOAI_WEST_KEY" }, priority: 1 },
      ],
      healthCheck: { enabled: false },
      ...opts.extra,
    }),
  });
  return s;
}

const ask = (model: string, i: number, headers: Record<string, string> = {}, maxTokens = 8): Promise<ClientResponse> =>
  post(s!.gateway.url, "/v1/chat/completions", { model, messages: [{ role: "user", content: `q${i}` }], max_tokens: maxTokens }, headers);

const servedBy = (r: ClientResponse) => String(r.headers["x-ai-failover-provider"]);

/** Scripts the primary mock (only it: the fallback ignores the script). */
const atPrimary = (h: Record<string, string>) => ({ "x-mock-target": PRIMARY, ...h });

/** The shared-data keys of per-model records of `provider` (any record fingerprint). */
function modelKeys(provider: string): string[] {
  const host = s!.gateway.host as unknown as PluginHost;
  return host.process.sharedData.keys("ai-failover").filter((k) => k.startsWith(`ai-failover/provider/${provider}/`) && k.includes("/model/"));
}

function noForeignCredentials(): void {
  expect(credentialAudit(s!.east, EAST_KEY)).toEqual([]);
  expect(credentialAudit(s!.west, WEST_KEY)).toEqual([]);
}

describe.each([
  { list: "an open model list", models: undefined },
  { list: "listed models", models: [A, B] },
])("OpenAI-type primary with $list: per-model cooldowns", ({ models }) => {
  it("gpt-4o's 429 (retry-after 5 s) sends gpt-4o to the fallback until it ends; gpt-4o-mini stays on the primary", async () => {
    await openaiPair({ models });
    // Both models served by the primary first.
    expect(servedBy(await ask(A, 0))).toBe(PRIMARY);
    expect(servedBy(await ask(B, 0))).toBe(PRIMARY);
    const t0 = Date.now();
    const limited = await ask(A, 1, atPrimary({ "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "5000" }));
    expect(limited.status).toBe(200);
    expect(servedBy(limited)).toBe(FALLBACK);
    expect(s!.east.records.filter((r) => r.status === 429).map((r) => r.model)).toEqual([A]);
    // gpt-4o-mini is not gpt-4o's limit: it stays on the primary.
    for (let i = 1; i <= 3; i++) {
      const r = await ask(B, i);
      expect(r.status).toBe(200);
      expect(servedBy(r)).toBe(PRIMARY);
    }
    // gpt-4o goes to the fallback while its own cooldown lasts …
    const during = await ask(A, 2);
    expect(during.status).toBe(200);
    expect(servedBy(during)).toBe(FALLBACK);
    // … and back to the primary once it ends (not before: the primary saw no gpt-4o meanwhile).
    let back: ClientResponse | undefined;
    for (let i = 3; Date.now() - t0 < 20_000; i++) {
      const r = await ask(A, i);
      expect(r.status).toBe(200);
      if (servedBy(r) === PRIMARY) { back = r; break; }
      await sleep(200);
    }
    expect(back, "gpt-4o never came back to the primary").toBeDefined();
    const primaryA = s!.east.records.filter((r) => r.model === A && r.time > t0);
    expect(primaryA.map((r) => r.status)).toEqual([429, 200]);
    expect(primaryA[1]!.time - t0).toBeGreaterThanOrEqual(4900);
    expect(s!.west.records.filter((r) => r.model === B)).toEqual([]);
    expect(s!.logs.some((l) => l.message.includes(`provider ${PRIMARY} model ${A} rate limited`))).toBe(true);
    noForeignCredentials();
  });
});

describe("OpenAI-type primary with a models map: the record is the provider's model", () => {
  it("a 429 for \"smart\" (gpt-4o there) cools \"smart-alias\" (gpt-4o too), not \"fast\" (gpt-4o-mini)", async () => {
    await openaiPair({ modelMap: { smart: A, "smart-alias": A, fast: B } });
    expect(servedBy(await ask("smart", 0, atPrimary({ "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "30000" })))).toBe(FALLBACK);
    const alias = await ask("smart-alias", 0);
    expect(alias.status).toBe(200);
    expect(servedBy(alias)).toBe(FALLBACK);
    const fast = await ask("fast", 0);
    expect(fast.status).toBe(200);
    expect(servedBy(fast)).toBe(PRIMARY);
    // What the primary saw: its own names, gpt-4o once (the 429), gpt-4o-mini after it.
    expect(s!.east.records.map((r) => `${r.model} ${r.status}`)).toEqual([`${A} 429`, `${B} 200`]);
    noForeignCredentials();
  });
});

describe("OpenAI-type primary: learned x-ratelimit-remaining-* are the model's", () => {
  it.each([
    // The third answer said 76 remain: the fourth goes to the fallback at once.
    { spill: "none", limits: undefined, onPrimary: 3 },
    // The provider's limits.minRemainingTokens apply to each model's report: after two, 184 remain,
    // a third (~108) would leave fewer than 150.
    { spill: "minRemainingTokens 150", limits: { minRemainingTokens: 150 }, onPrimary: 2 },
  ])("gpt-4o's remaining tokens move gpt-4o to the fallback before any 429; gpt-4o-mini is not held back (spill: $spill)", async ({ limits, onPrimary }) => {
    // gpt-4o has 400 tokens a minute at the primary; gpt-4o-mini is unlimited. ~108 tokens a request.
    await openaiPair({ primaryModels: { [A]: { tokensPerMinute: 400 }, [B]: {} }, primaryLimits: limits });
    const by: Record<string, string[]> = { [A]: [], [B]: [] };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      for (const m of [A, B]) {
        const r = await ask(m, i, {}, 100);
        statuses.push(r.status);
        by[m]!.push(servedBy(r));
      }
    }
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    expect(by[A]).toEqual([...Array(onPrimary).fill(PRIMARY), ...Array(6 - onPrimary).fill(FALLBACK)]);
    expect(by[B]).toEqual(Array(6).fill(PRIMARY));
    expect(s!.east.records.filter((r) => r.status === 429)).toEqual([]);
    noForeignCredentials();
  });
});

describe("OpenAI-type primary: provider-wide faults stay provider-wide", () => {
  it("a 503 for gpt-4o ejects the provider for gpt-4o-mini too", async () => {
    await openaiPair({ extra: { cooldown: { consecutiveFailures: 1, baseEjection: "30s" } } });
    expect(servedBy(await ask(B, 0))).toBe(PRIMARY);
    const failed = await ask(A, 0, atPrimary({ "x-mock-status": "503" }));
    expect(failed.status).toBe(200);
    expect(servedBy(failed)).toBe(FALLBACK);
    const r = await ask(B, 1);
    expect(r.status).toBe(200);
    expect(servedBy(r)).toBe(FALLBACK);
    expect(s!.east.records.filter((x) => x.model === B)).toHaveLength(1);
    noForeignCredentials();
  });
});

describe("per-model records are bounded (model names come from clients)", () => {
  it("10,000 random model names on an open-list provider make at most 32 records; beyond them a 429 counts provider-wide", async () => {
    await openaiPair();
    // Two real models first: they get records of their own.
    expect(servedBy(await ask(A, 0))).toBe(PRIMARY);
    expect(servedBy(await ask(B, 0))).toBe(PRIMARY);
    expect(modelKeys(PRIMARY)).toHaveLength(2);
    // A hostile client: 10,000 distinct names (the mock, like an open OpenAI-compatible server, answers them all).
    let next = 0;
    const bad: number[] = [];
    const client = async () => {
      while (next < 10_000) {
        const i = next++;
        const r = await ask(`rnd-${i}-${Math.random().toString(36).slice(2)}`, i);
        if (r.status !== 200) bad.push(r.status);
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    expect(bad).toEqual([]);
    expect(s!.east.records.length).toBeGreaterThanOrEqual(10_002);
    const keys = modelKeys(PRIMARY);
    expect(keys).toHaveLength(OPEN_MODELS_BOUND);
    // Keyed by a hash of the name: a client's text never becomes part of a key.
    expect(keys.filter((k) => !/\/model\/#[0-9a-f]{16}$/.test(k))).toEqual([]);
    // The whole store: the providers' states, the fallback's records (none used), the directory — nothing near 10,000.
    const host = s!.gateway.host as unknown as PluginHost;
    expect(host.process.sharedData.keys("ai-failover").length).toBeLessThan(OPEN_MODELS_BOUND + 10);

    // gpt-4o has a record: its 429 cools gpt-4o only.
    expect(servedBy(await ask(A, 1, atPrimary({ "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "30000" })))).toBe(FALLBACK);
    expect(servedBy(await ask(B, 1))).toBe(PRIMARY);
    // A model past the bound has none: its 429 cools the provider as a whole (the old, safe behaviour).
    expect(servedBy(await ask("late-model", 0, atPrimary({ "x-mock-fault": "rate-limit", "x-mock-retry-after-ms": "30000" })))).toBe(FALLBACK);
    expect(servedBy(await ask(B, 2))).toBe(FALLBACK);
    expect(modelKeys(PRIMARY)).toHaveLength(OPEN_MODELS_BOUND);
    noForeignCredentials();
  }, 180_000);

  it("names the provider does not serve (404 model_not_found) make no record", async () => {
    await openaiPair({ primaryModels: [A, B], fallbackModels: [A, B] });
    for (let i = 0; i < 200; i++) {
      const r = await ask(`nonexistent-${i}`, i);
      expect(r.status).toBe(404);
    }
    expect(modelKeys(PRIMARY)).toEqual([]);
    expect(modelKeys(FALLBACK)).toEqual([]);
    expect(servedBy(await ask(A, 0))).toBe(PRIMARY);
    expect(modelKeys(PRIMARY)).toHaveLength(1);
    noForeignCredentials();
  });
});
