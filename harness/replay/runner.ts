/**
 * Runs a scenario against one target:
 *   "ai-failover": the harness gateway on the scenario's bootstrap (real envoy/local.yaml with the
 *                  mocks' ports and the scenario's plugin edits), `workers` worker VMs;
 *   "baseline":    the APIM-style proxy of baseline.ts in front of the same kind of mocks.
 * Starts one mock per scenario provider (accepting exactly that provider's key), warms up, drives
 * the load phases back to back, applies the fault timeline, waits for the stragglers, stops
 * everything and returns what the clients and the mocks saw (see report.ts for the numbers).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway, type Gateway } from "../gateway/index.ts";
import type { LogRecord } from "../host/types.ts";
import { startMockProvider, type MockProvider, type MockProviderOptions, type RequestRecord } from "../providers/index.ts";
import { startBaseline, type Baseline } from "./baseline.ts";
import { scenarioBootstrap, type ResolvedProvider } from "./bootstrap.ts";
import { runPhase, type Outcome } from "./load.ts";
import type { Scenario, TimelineEntry } from "./scenario.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type TargetName = "ai-failover" | "baseline";

export type TimedLog = LogRecord & { time: number };

export interface ProviderRun {
  name: string;
  key: string;
  /** Priority in the plugin configuration. */
  priority: number;
  tokensPerMinute?: number;
  requestsPerMinute?: number;
  /** Every request the mock received (mock clock = Date.now; compare with RunResult.t0). */
  records: RequestRecord[];
  stats: ReturnType<MockProvider["stats"]>;
}

export interface PhaseSpan {
  name: string;
  clients: number;
  /** ms since t0. */
  start: number;
  end: number;
}

export interface RunResult {
  scenario: Scenario;
  target: TargetName;
  /** Date.now() when the load started. */
  t0: number;
  phases: PhaseSpan[];
  outcomes: Outcome[];
  providers: ProviderRun[];
  /** Timeline entries with when they actually ran (ms since t0). */
  actions: Array<TimelineEntry & { ranAt: number; error?: string }>;
  /** Gateway log lines (ai-failover target only; info and above unless logLevel says otherwise),
   *  each with the Date.now() it was logged at (compare with t0). */
  logs: TimedLog[];
}

/** What a test may do while the load runs (e.g. a real SDK client through the same target). */
export interface RunHooks {
  /** Called once per phase, when it starts; awaited before the run ends. */
  onPhase?: (phase: PhaseSpan, ctx: { url: string; t0: number }) => Promise<void> | void;
  /** Gateway log level (0 trace … 5 critical). Default 2 (info). */
  logLevel?: 0 | 1 | 2 | 3 | 4 | 5;
  /** Everything the gateway sends its clients (startGateway's clientTap). */
  clientTap?: (id: number, part: string) => void;
  /** The gateway's /stats/prometheus text at the end of the run (ai-failover target with an admin listener). */
  onMetrics?: (prometheusText: string) => void;
}

function mockOptions(sc: Scenario, p: ResolvedProvider): MockProviderOptions {
  const s = sc.providers.find((x) => x.name === p.name)!.mock;
  const limits = { tokensPerMinute: s.tokensPerMinute, requestsPerMinute: s.requestsPerMinute };
  const base = {
    name: p.name,
    keys: [p.key],
    windowMs: sc.windowMs,
    latencyMs: s.latencyMs,
    stream: s.stream,
    completionTokens: s.completionTokens,
    defaultLimits: limits.tokensPerMinute || limits.requestsPerMinute ? limits : undefined,
  };
  if (p.plugin.type === "azure-openai") {
    const deployments = Object.fromEntries(Object.entries(p.plugin.deployments ?? {}).map(([model, d]) => [d, { model, ...limits }]));
    return { kind: "azure", ...base, deployments };
  }
  return { kind: "openai", ...base, models: p.plugin.models?.length ? Object.fromEntries(p.plugin.models.map((m) => [m, { ...limits }])) : undefined };
}

async function apply(m: MockProvider, e: TimelineEntry): Promise<void> {
  switch (e.action) {
    case "setFault":
      return m.setFault(e.fault);
    case "clearFaults":
      return m.clearFaults();
    case "startOutage":
      return m.startOutage(e.mode, e.forMs);
    case "endOutage":
      return m.endOutage();
    case "setKeys":
      return m.setKeys(e.keys);
    case "setLatency":
      return m.setLatency(e.ms);
  }
}

export async function runScenario(sc: Scenario, target: TargetName, hooks: RunHooks = {}): Promise<RunResult> {
  const bootstrapText = readFileSync(join(ROOT, sc.bootstrap), "utf8");
  const boot = scenarioBootstrap(sc, bootstrapText);
  const mocks = new Map<string, MockProvider>();
  const logs: TimedLog[] = [];
  let gateway: Gateway | undefined;
  let baseline: Baseline | undefined;
  const timers: NodeJS.Timeout[] = [];
  const stop = async () => {
    for (const t of timers) clearTimeout(t);
    await gateway?.close();
    await baseline?.close();
    await Promise.all([...mocks.values()].map((m) => m.close()));
  };
  try {
    for (const p of boot.providers) mocks.set(p.name, await startMockProvider(mockOptions(sc, p)));
    const ports = Object.fromEntries([...mocks].map(([n, m]) => [n, m.port]));
    let url: string;
    if (target === "ai-failover") {
      gateway = await startGateway({
        bootstrapText: boot.text(ports),
        baseDir: ROOT,
        workers: sc.workers,
        logLevel: hooks.logLevel ?? 2,
        logger: (r) => {
          if (logs.length < 100_000) logs.push({ ...r, time: Date.now() });
        },
        clientTap: hooks.clientTap,
      });
      url = gateway.url;
    } else {
      baseline = await startBaseline({
        targets: boot.providers.map((p) => ({ provider: p, port: mocks.get(p.name)!.port })),
        minRemainingTokens: sc.baseline.minRemainingTokens,
        windowMs: sc.windowMs,
      });
      url = baseline.url;
    }
    await new Promise((r) => setTimeout(r, sc.warmupMs));

    const t0 = Date.now();
    const outcomes: Outcome[] = [];
    const actions: RunResult["actions"] = [];
    const pending: Array<Promise<unknown>> = [];
    for (const e of sc.timeline) {
      pending.push(
        new Promise<void>((resolve) => {
          timers.push(
            setTimeout(() => {
              const ranAt = Date.now() - t0;
              apply(mocks.get(e.provider)!, e).then(
                () => (actions.push({ ...e, ranAt }), resolve()),
                (err) => (actions.push({ ...e, ranAt, error: String(err) }), resolve()),
              );
            }, e.atMs),
          );
        }),
      );
    }
    const phases: PhaseSpan[] = [];
    let offset = 0;
    for (const [i, phase] of sc.load.entries()) {
      const wait = t0 + offset - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const span = { name: phase.name, clients: phase.clients, start: Date.now() - t0, end: offset + phase.durationMs };
      phases.push(span);
      pending.push(runPhase({ url, phase, t0, seed: sc.seed + 1000 * i, timeoutMs: sc.requestTimeoutMs, out: outcomes }));
      if (hooks.onPhase) pending.push(Promise.resolve(hooks.onPhase(span, { url, t0 })));
      offset += phase.durationMs;
    }
    await Promise.all(pending);
    if (hooks.onMetrics && gateway?.adminUrl) hooks.onMetrics(await (await fetch(`${gateway.adminUrl}/stats/prometheus`)).text());
    const providers: ProviderRun[] = boot.providers.map((p) => {
      const m = mocks.get(p.name)!;
      const s = sc.providers.find((x) => x.name === p.name)!.mock;
      return {
        name: p.name,
        key: p.key,
        priority: p.plugin.priority ?? 0,
        tokensPerMinute: s.tokensPerMinute,
        requestsPerMinute: s.requestsPerMinute,
        records: [...m.records],
        stats: m.stats(),
      };
    });
    outcomes.sort((a, b) => a.start - b.start);
    actions.sort((a, b) => a.ranAt - b.ranAt);
    return { scenario: sc, target, t0, phases, outcomes, providers, actions, logs };
  } finally {
    await stop();
  }
}
