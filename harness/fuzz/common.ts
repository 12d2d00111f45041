/**
 * Shared machinery of the standing fuzz suites (harness/fuzz/, run by test/robustness/fuzz-*.test.ts and
 * `npm run bench -- --fuzz`): one product rig per class with a fake clock, the invariants every
 * case is checked against, and a runner that either asserts (vitest: stops at the first failure
 * and shrinks it) or counts (bench: runs every case and reports how many failed).
 *
 * Plain `Error`s, not vitest's `expect`, so the bench can run the same properties outside vitest.
 */
import fc from "fast-check";
import { compilePluginModule, type HeaderList } from "../host/index.ts";
import { EAST_KEY, OAI_KEY, productWasm, rig, WEST_KEY, type Flow, type HostRig } from "../rig/host-rig.ts";

export { EAST_KEY, OAI_KEY, WEST_KEY };
/** A fourth provider key (rules, domains). */
export const DOM_KEY = "dom-key-4444444444-qqqq";
export const PROVIDER_KEYS = [EAST_KEY, WEST_KEY, OAI_KEY, DOM_KEY];

/** FUZZ_CASES=10000 (or the bench's --fuzz) runs every class with that many cases. */
export function casesPerClass(defaultRuns: number): number {
  const n = Number(process.env.FUZZ_CASES ?? "");
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : defaultRuns;
}

let compiled: WebAssembly.Module | undefined;
/** build/ai-failover.wasm compiled once per process (a rig per case stays cheap). */
export function productModule(): WebAssembly.Module {
  compiled ??= compilePluginModule(productWasm());
  return compiled;
}

export class Failure extends Error {}
export function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Failure(msg);
}

/**
 * A rig whose clock the fuzz drives: `fresh()` moves it two hours on, so every provider window,
 * cooldown and ejection of the previous case has ended and each case starts from a fresh window.
 */
export class ClockRig {
  nowMs = 1_800_000_000_000n;
  r!: HostRig;
  cases = 0;

  constructor(readonly config: unknown, readonly opts: Record<string, unknown> = {}) {}

  async start(): Promise<this> {
    this.r = await rig(this.config, {
      wasm: productModule(), logLevel: 3, clockNs: () => this.nowMs * 1_000_000n, ...this.opts,
    });
    return this;
  }

  /** The next case: time moves on; a rig that marked a credential bad (it stays out) is replaced. */
  async fresh(): Promise<HostRig> {
    this.nowMs += 7_200_000n;
    this.cases++;
    this.r.logs.length = 0;
    this.r.script.calls.length = 0;
    const bad = ["east", "west", "oai", "dom"].some((p) => this.r.providerState(p)?.credentialBad);
    if (bad || this.cases % 500 === 0) {
      await this.r.close();
      await this.start();
    }
    return this.r;
  }

  close(): Promise<void> { return this.r?.close() ?? Promise.resolve(); }
}

// ---- invariants -----------------------------------------------------------------------------

/** No VM trapped: no critical log ("Wasm VM failed …") and no worker VM marked failed. */
export function noTrap(r: HostRig, what = ""): void {
  const crit = r.traps().map((l) => l.message);
  check(crit.length === 0, `VM trap ${what}: ${crit.join(" | ").slice(0, 400)}`);
  const slots = (r.host as unknown as { slots: Array<{ vm: { failed: boolean } }> }).slots;
  check(slots.every((s) => !s.vm.failed), `a worker VM failed ${what}`);
}

/** Every header name a client or provider may use to carry a credential (lower case). */
export const CREDENTIAL_HEADERS = [
  "authorization", "api-key", "x-api-key", "api_key", "x_api_key", "ocp-apim-subscription-key", "ocp_apim_subscription_key",
  "subscription-key", "x-functions-key", "cookie", "proxy-authorization", "openai-api-key", "openai_api_key",
  "azure-api-key", "azure_api_key", "x-goog-api-key", "anthropic-api-key",
];

const text = (h: HeaderList | null | undefined): string => (h ?? []).map(([k, v]) => `${k}: ${v}`).join("\n");

/**
 * What went upstream carries exactly one credential, the chosen provider's (`ownKey`), in its
 * scheme, and none of `forbidden` (other providers' keys, client secrets) anywhere.
 */
export function upstreamCredentials(headers: HeaderList, extra: string, ownKey: string, forbidden: string[], what: string): void {
  const creds = headers.filter(([k]) => CREDENTIAL_HEADERS.includes(k.toLowerCase()));
  check(creds.length === 1, `${what}: ${creds.length} credential headers upstream: ${JSON.stringify(creds)}`);
  const [name, value] = creds[0]!;
  check(value === ownKey || value === "Bearer " + ownKey, `${what}: upstream ${name} is not the provider's own key`);
  const all = text(headers) + "\n" + extra;
  for (const s of forbidden) if (s !== ownKey) check(!all.includes(s), `${what}: foreign secret ${s.slice(0, 10)}… upstream`);
}

/** Nothing the client gets (headers, body, trailers) holds a provider key. */
export function clientSeesNoKeys(f: Flow, what: string): void {
  const all = text(f.responseHeaders) + "\n" + Buffer.concat(f.responseData).toString("latin1") + "\n" + text(f.responseTrailers);
  for (const k of PROVIDER_KEYS) check(!all.includes(k), `${what}: provider key ${k.slice(0, 10)}… reached the client`);
}

/** The provider a forwarded request went to (by the cluster the filter set), or null. */
export function routedCluster(f: Flow): string | null {
  return f.upstreamHeaders ? (f.up("x-ai-failover-cluster") ?? null) : null;
}

// ---- running a property ---------------------------------------------------------------------

export interface ClassResult {
  name: string;
  cases: number;
  failures: number;
  seconds: number;
  firstFailure?: string;
}

/**
 * Runs `prop` for `numRuns` cases. "assert": fc.assert (throws the shrunk counterexample).
 * "count": every case runs; a failing case is counted and the run goes on.
 */
export async function runProperty<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  predicate: (t: T) => Promise<void>,
  numRuns: number,
  mode: "assert" | "count",
  seed?: number,
): Promise<ClassResult> {
  const t0 = performance.now();
  if (mode === "assert") {
    await fc.assert(fc.asyncProperty(arb, predicate), { numRuns, seed, endOnFailure: false });
    return { name, cases: numRuns, failures: 0, seconds: (performance.now() - t0) / 1000 };
  }
  let failures = 0;
  let firstFailure: string | undefined;
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (t) => {
      cases++;
      try {
        await predicate(t);
      } catch (e) {
        failures++;
        firstFailure ??= `${(e as Error).message}\n  input: ${fc.stringify(t).slice(0, 600)}`;
      }
    }),
    { numRuns, seed },
  );
  return { name, cases, failures, seconds: (performance.now() - t0) / 1000, firstFailure };
}

/** Best of `reps` wall times of `f` (ms). */
export async function bestTime(f: () => Promise<void> | void, reps = 5): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * Work linear in input size: the best time for 8× the input stays within 3× of 8× the time for
 * the input (a quadratic step would take 64×), with `slackMs` for fixed costs and timer noise.
 */
export async function linear(what: string, run: (scale: number) => Promise<void> | void, slackMs = 15): Promise<{ small: number; big: number }> {
  await run(1); // warm-up
  const small = await bestTime(() => run(1));
  const big = await bestTime(() => run(8));
  check(big <= 24 * small + slackMs, `${what}: 8× the input took ${big.toFixed(1)} ms vs ${small.toFixed(1)} ms (not linear)`);
  return { small, big };
}

export type LinearRow = { what: string; small: number; big: number };

/**
 * Linear work of each input shape: made at 1× and 8× (`make(n)`), turned into what `run` sends
 * (`prepare`), each run in a fresh rig of `cr`; no trap after any.
 */
export async function linearShapes<T>(cr: ClockRig, label: string, shapes: Array<[string, (n: number) => string]>,
  prepare: (text: string) => T, run: (r: HostRig, input: T, what: string) => void): Promise<LinearRow[]> {
  const out: LinearRow[] = [];
  for (const [what, make] of shapes) {
    const inputs = [1, 8].map((n) => prepare(make(n)));
    const t = await linear(`${label} (${what})`, async (scale) => {
      const r = await cr.fresh();
      run(r, inputs[scale === 1 ? 0 : 1]!, what);
      noTrap(r);
    });
    out.push({ what, ...t });
  }
  return out;
}

export const sleep = (ms = 0): Promise<void> => new Promise((res) => setTimeout(res, ms));
