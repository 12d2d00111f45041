// A small synthetic replay run (no gateway, no mocks): for unit tests of the replay report
// (harness/replay/report.ts, html.ts). `empty: true` gives the same scenario with no traffic at all.
import type { Outcome } from "../../harness/replay/load.ts";
import type { RunResult, TargetName } from "../../harness/replay/runner.ts";
import { loadScenario } from "../../harness/replay/scenario.ts";
import type { RequestRecord } from "../../harness/providers/index.ts";
import { ROOT } from "./stack.ts";

const T0 = 1_800_000_000_000;

function record(seq: number, t: number, status: number, key: string, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    seq, time: T0 + t, method: "POST", path: "/v1/chat/completions", query: {}, headers: {}, rawHeaders: [],
    credential: { scheme: "api-key", value: key }, credentials: [{ scheme: "api-key", value: key }],
    surface: "openai", api: "chat", model: "gpt-4o", body: "", stream: false, includeUsage: false,
    status, outcome: status === 200 ? "ok" : `fault:status`, completed: true,
    ...(status === 200 ? { promptTokens: 400, reservedTokens: 1200, completionTokens: 8 } : {}),
    ...extra,
  } as RequestRecord;
}

/**
 * The outage scenario (2 providers, 13 s) with: PTU serving 0–3 s and 9–13 s, 503s 6–9 s; PAYG
 * serving 3–9 s; a health probe each second; the filter's log lines for an ejection, a failover
 * and the health flips; the timeline as it ran.
 */
export function fakeRun(opts: { target?: TargetName; empty?: boolean } = {}): RunResult {
  const sc = loadScenario(`${ROOT}harness/replay/scenarios/outage.yaml`);
  const target = opts.target ?? "ai-failover";
  const [ptu, payg] = sc.providers.map((p) => p.name) as [string, string];
  const ptuRecs: RequestRecord[] = [];
  const paygRecs: RequestRecord[] = [];
  const outcomes: Outcome[] = [];
  const logs: RunResult["logs"] = [];
  if (!opts.empty) {
    let seq = 0;
    for (let t = 0; t < 13_000; t += 250) {
      const onPtu = t < 3000 || t >= 6000;
      const status = t >= 6000 && t < 9000 ? 503 : 200;
      if (onPtu) ptuRecs.push(record(++seq, t, status, "ptu-key"));
      if (!onPtu || status !== 200) paygRecs.push(record(++seq, t + 5, 200, "payg-key"));
      outcomes.push({ phase: "steady", client: 0, start: t, end: t + 110, status: 200, provider: onPtu && status === 200 ? ptu : payg, attempts: status === 200 ? 1 : 2, stream: false, tokens: 1200 });
    }
    for (let t = 0; t < 13_000; t += 1000) {
      ptuRecs.push(record(++seq, t + 500, 200, "ptu-key", { api: "models", path: "/openai/models", reservedTokens: undefined }));
    }
    const log = (t: number, level: 2 | 3, message: string) => logs.push({ level, vm: "worker-0", message, time: T0 + t });
    log(3010, 3, `ai-failover: provider ${ptu} unavailable after status 503 (retry after 1000 ms)`);
    log(3010, 2, `ai-failover: failover ${ptu} → ${payg} (attempt 2, previous status 503)`);
    log(4200, 3, `ai-failover: provider ${ptu} marked unhealthy: connect-failure (last probe status 0)`);
    log(6600, 2, `ai-failover: provider ${ptu} is healthy again (status 200)`);
    log(6700, 2, `ai-failover: failover ${ptu} → ${payg} (attempt 2, previous status 503)`);
    log(7000, 2, `ai-failover: request routed somewhere (not an event)`);
  }
  return {
    scenario: sc,
    target,
    t0: T0,
    phases: [{ name: "steady", clients: 6, start: 0, end: 13_000 }],
    outcomes,
    providers: [
      { name: ptu, key: "ptu-key", priority: 0, tokensPerMinute: 10_000, records: ptuRecs, stats: {} as RunResult["providers"][number]["stats"] },
      { name: payg, key: "payg-key", priority: 1, records: paygRecs, stats: {} as RunResult["providers"][number]["stats"] },
    ],
    actions: opts.empty ? [] : sc.timeline.map((e) => ({ ...e, ranAt: e.atMs + 3 })),
    logs: target === "ai-failover" ? logs : [],
  };
}
