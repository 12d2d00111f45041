/**
 * The numbers of a run, from what the clients got and what each mock recorded:
 *  - per phase: client 2xx / 429 / 5xx / other / no answer, who served, retries, latency;
 *  - per provider: chat requests, health probes, rejections for exceeding its limit (the mock's
 *    own `rate-limited-*` outcomes, not scripted faults), admitted tokens per rate-limit window
 *    and utilization of the budget (windows rebuilt from the records exactly as the mock anchors
 *    them: at the first admission attempt after the previous window ended);
 *  - credential audit: every request whose credentials are not exactly the provider's own key;
 *  - arrivals per time slice (e.g. to see a Retry-After pause).
 */
import type { Outcome } from "./load.ts";
import type { ProviderRun, RunResult } from "./runner.ts";

export interface PhaseReport {
  name: string;
  clients: number;
  requests: number;
  ok: number;
  c429: number;
  c5xx: number;
  /** 4xx other than 429. */
  c4xx: number;
  /** No HTTP answer (connection error, client timeout). */
  noAnswer: number;
  /** 200 streams that did not end with [DONE]. */
  brokenStreams: number;
  /** Answered after more than one attempt (ai-failover only). */
  retried: number;
  servedBy: Record<string, number>;
  /** Tokens (prompt estimate + max_tokens) of the requests each provider answered with 2xx. */
  tokensBy: Record<string, number>;
  p50: number;
  p95: number;
}

export interface WindowReport {
  /** ms since t0. */
  start: number;
  end: number;
  /** The phase running when the window opened. */
  phase: string;
  admittedTokens: number;
  admittedRequests: number;
  /** Rejections for exceeding the limit in this window. */
  rejected: number;
  /** admittedTokens / tokensPerMinute (undefined when the provider has no token limit). */
  utilization?: number;
  /** Closed before the load ended (a window cut by the end of the run is not judged). */
  complete: boolean;
}

export interface ProviderReport {
  name: string;
  priority: number;
  tokensPerMinute?: number;
  chat: number;
  probes: number;
  /** Rejected by the mock's rate limiter (outcome rate-limited-tokens / -requests). */
  limitRejections: number;
  /** Chat answers by status. */
  byStatus: Record<number, number>;
  windows: WindowReport[];
  /** Lowest utilization among the complete windows of each phase. */
  minUtilizationByPhase: Record<string, number>;
  /** Chat requests received per slice of `sliceMs` from t0. */
  slices: number[];
}

/** One check of a run, with what was seen. */
export interface Expectation {
  /** Short name, e.g. "clients". */
  name: string;
  /** What is expected, one line. */
  expect: string;
  ok: boolean;
  /** What the run showed, one line. */
  seen: string;
}

export interface Report {
  scenario: string;
  /** The scenario's `description`. */
  description: string;
  target: string;
  windowMs: number;
  sliceMs: number;
  phases: PhaseReport[];
  providers: ProviderReport[];
  /** Every foreign, empty, missing or duplicated credential seen by any mock. */
  credentialProblems: string[];
  /** Client non-2xx/no-answer outcomes, first few, for the log. */
  failures: Outcome[];
  /** The checks every replay is held to (see expectationsOf). */
  expectations: Expectation[];
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export function phaseReport(name: string, clients: number, os: Outcome[]): PhaseReport {
  const servedBy: Record<string, number> = {};
  const tokensBy: Record<string, number> = {};
  for (const o of os) {
    if (o.status >= 200 && o.status < 300) {
      const p = o.provider ?? "?";
      servedBy[p] = (servedBy[p] ?? 0) + 1;
      tokensBy[p] = (tokensBy[p] ?? 0) + o.tokens;
    }
  }
  return {
    name,
    clients,
    requests: os.length,
    ok: os.filter((o) => o.status >= 200 && o.status < 300).length,
    c429: os.filter((o) => o.status === 429).length,
    c5xx: os.filter((o) => o.status >= 500).length,
    c4xx: os.filter((o) => o.status >= 400 && o.status < 500 && o.status !== 429).length,
    noAnswer: os.filter((o) => o.status === 0).length,
    brokenStreams: os.filter((o) => o.streamDone === false).length,
    retried: os.filter((o) => (o.attempts ?? 1) > 1).length,
    servedBy,
    tokensBy,
    p50: pct(os.map((o) => o.end - o.start), 50),
    p95: pct(os.map((o) => o.end - o.start), 95),
  };
}

const isProbe = (r: ProviderRun["records"][number]) => r.api === "models";
export const isLimitRejection = (r: ProviderRun["records"][number]) => r.outcome.startsWith("rate-limited");

/** Windows rebuilt from the records, the way the mock's RateWindow anchors them. */
export function windowsOf(p: ProviderRun, res: RunResult): WindowReport[] {
  const W = res.scenario.windowMs;
  const loadEnd = res.phases.length ? res.phases[res.phases.length - 1]!.end : 0;
  const phaseAt = (t: number) => [...res.phases].reverse().find((ph) => t >= ph.start)?.name ?? res.phases[0]?.name ?? "";
  const byKey = new Map<string, WindowReport[]>();
  const admissions = p.records
    .filter((r) => r.reservedTokens !== undefined || isLimitRejection(r))
    .sort((a, b) => a.time - b.time);
  for (const r of admissions) {
    const key = r.deployment ?? r.model ?? "";
    const ws = byKey.get(key) ?? (byKey.set(key, []), byKey.get(key)!);
    const t = r.time - res.t0;
    let w = ws[ws.length - 1];
    if (!w || t >= w.end) {
      w = { start: t, end: t + W, phase: phaseAt(t), admittedTokens: 0, admittedRequests: 0, rejected: 0, complete: t + W <= loadEnd };
      ws.push(w);
    }
    if (r.reservedTokens !== undefined) {
      w.admittedTokens += r.reservedTokens;
      w.admittedRequests += 1;
    } else w.rejected += 1;
  }
  const all = [...byKey.values()].flat().sort((a, b) => a.start - b.start);
  if (p.tokensPerMinute) for (const w of all) w.utilization = w.admittedTokens / p.tokensPerMinute;
  return all;
}

export function credentialProblems(p: ProviderRun): string[] {
  const problems: string[] = [];
  for (const r of p.records) {
    const where = `${p.name} #${r.seq} ${r.method} ${r.path}`;
    if (r.credentials.length !== 1) problems.push(`${where}: ${r.credentials.length} credentials`);
    for (const c of r.credentials) {
      if (c.value === "") problems.push(`${where}: empty credential (${c.scheme})`);
      else if (c.value !== p.key) problems.push(`${where}: foreign credential ${c.scheme} ${c.value.slice(0, 12)}…`);
    }
  }
  return problems;
}

export function analyze(res: RunResult): Report {
  const sc = res.scenario;
  const phases = res.phases.map((ph) => phaseReport(ph.name, ph.clients, res.outcomes.filter((o) => o.phase === ph.name)));
  const total = res.phases.length ? res.phases[res.phases.length - 1]!.end : 0;
  const nSlices = Math.ceil(total / sc.sliceMs);
  const providers = res.providers.map((p): ProviderReport => {
    const chat = p.records.filter((r) => !isProbe(r));
    const byStatus: Record<number, number> = {};
    for (const r of chat) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const windows = windowsOf(p, res);
    const minUtilizationByPhase: Record<string, number> = {};
    for (const w of windows) {
      if (!w.complete || w.utilization === undefined) continue;
      minUtilizationByPhase[w.phase] = Math.min(minUtilizationByPhase[w.phase] ?? Infinity, w.utilization);
    }
    const slices = new Array<number>(nSlices).fill(0);
    for (const r of chat) {
      const i = Math.floor((r.time - res.t0) / sc.sliceMs);
      if (i >= 0 && i < nSlices) slices[i]! += 1;
    }
    return {
      name: p.name,
      priority: p.priority,
      tokensPerMinute: p.tokensPerMinute,
      chat: chat.length,
      probes: p.records.length - chat.length,
      limitRejections: p.records.filter(isLimitRejection).length,
      byStatus,
      windows,
      minUtilizationByPhase,
      slices,
    };
  });
  const report: Report = {
    scenario: sc.name,
    description: sc.description,
    target: res.target,
    windowMs: sc.windowMs,
    sliceMs: sc.sliceMs,
    phases,
    providers,
    credentialProblems: res.providers.flatMap(credentialProblems),
    failures: res.outcomes.filter((o) => o.status < 200 || o.status >= 300).slice(0, 20),
    expectations: [],
  };
  report.expectations = expectationsOf(report);
  return report;
}

/**
 * What every replay is held to, whatever the scenario (the `*-scenario.test.ts` tests check
 * more, per scenario): every client request answered 2xx, every 200 stream complete, no provider
 * rejected a request for exceeding its own limit, and each provider saw only its own key.
 */
export function expectationsOf(r: Report): Expectation[] {
  const sum = (f: (p: PhaseReport) => number) => r.phases.reduce((n, p) => n + f(p), 0);
  const requests = sum((p) => p.requests);
  const bad = requests - sum((p) => p.ok);
  const broken = sum((p) => p.brokenStreams);
  const limit = r.providers.reduce((n, p) => n + p.limitRejections, 0);
  const detail = (parts: Array<[number, string]>) => parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(", ");
  return [
    {
      name: "clients",
      expect: "every client request answered 2xx",
      ok: requests > 0 && bad === 0,
      seen: requests === 0 ? "no client requests" : bad === 0 ? `${requests}/${requests} 2xx`
        : `${bad} of ${requests} not 2xx (${detail([[sum((p) => p.c429), "429"], [sum((p) => p.c5xx), "5xx"], [sum((p) => p.c4xx), "other 4xx"], [sum((p) => p.noAnswer), "no answer"]])})`,
    },
    {
      name: "streams",
      expect: "every 200 stream ends with data: [DONE]",
      ok: broken === 0,
      seen: broken === 0 ? "no stream cut short" : `${broken} streams cut short`,
    },
    {
      name: "limits",
      expect: "no provider rejects a request for exceeding its own limit",
      ok: limit === 0,
      seen: limit === 0 ? "0 limit-429s" : `${limit} limit-429s (${r.providers.filter((p) => p.limitRejections).map((p) => `${p.name} ${p.limitRejections}`).join(", ")})`,
    },
    {
      name: "credentials",
      expect: "each provider sees only its own key",
      ok: r.credentialProblems.length === 0,
      seen: r.credentialProblems.length === 0 ? "0 foreign/empty/missing" : `${r.credentialProblems.length} foreign/empty/missing`,
    },
  ];
}

/** One line: "PASS 4/4 expectations met" or "FAIL 2/4 met — clients: 3 of 120 not 2xx (3 5xx); …". */
export function verdict(r: Report): string {
  const failed = r.expectations.filter((e) => !e.ok);
  const n = r.expectations.length;
  if (failed.length === 0) return `PASS ${n}/${n} expectations met`;
  return `FAIL ${n - failed.length}/${n} met — ${failed.map((e) => `${e.name}: ${e.seen}`).join("; ")}`;
}

// ---- text ----------------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()).join("\n");
}

const pc = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : `${Math.round(x * 100)}%`);

/** `legend` under a table: "name: meaning" entries wrapped to ~100 columns, indented. */
function legend(entries: Array<[string, string]>): string {
  const lines: string[] = [];
  let line = "";
  for (const [k, v] of entries) {
    const item = `${k}: ${v}`;
    if (line && line.length + item.length + 3 > 100) lines.push(line), (line = "");
    line = line ? `${line} · ${item}` : item;
  }
  if (line) lines.push(line);
  return lines.map((l) => `  ${l}`).join("\n");
}

export function formatReport(r: Report): string {
  const out: string[] = [];
  out.push(`== ${r.scenario} · target ${r.target} · window ${r.windowMs}ms = 1 simulated minute (×${(60_000 / r.windowMs).toFixed(1)} compression)`);
  if (r.description) out.push(`   ${r.description}`);
  out.push(
    "units: times and latencies in ms (slices in s) since the load started; tokens = prompt estimate + max_tokens " +
      "(what Azure counts at admission); TPM = tokens per window",
  );
  const provNames = r.providers.map((p) => p.name);
  out.push(
    table([
      ["phase", "clients", "requests", "2xx", "429", "5xx", "4xx", "no-answer", "retried", "p50 ms", "p95 ms", ...provNames.map((n) => `by ${n}`)],
      ...r.phases.map((p) => [
        p.name, String(p.clients), String(p.requests), String(p.ok), String(p.c429), String(p.c5xx), String(p.c4xx), String(p.noAnswer),
        String(p.retried), String(p.p50), String(p.p95), ...provNames.map((n) => String(p.servedBy[n] ?? 0)),
      ]),
    ]),
  );
  out.push(
    legend([
      ["clients", "closed-loop virtual clients"],
      ["requests", "sent by the clients"],
      ["2xx 429 5xx 4xx", "client-visible statuses (4xx: other than 429)"],
      ["no-answer", "connection error or client timeout"],
      ["retried", "answered after more than one attempt"],
      ["p50/p95 ms", "client latency, send to last byte"],
      ["by <provider>", "2xx answers that provider served"],
    ]),
  );
  out.push("");
  out.push(
    table([
      ["provider", "prio", "TPM", "chat", "probes", "limit-429s", "statuses", "windows: admitted tokens (utilization; * = cut by end of run)"],
      ...r.providers.map((p) => [
        p.name, String(p.priority), p.tokensPerMinute ? String(p.tokensPerMinute) : "-", String(p.chat), String(p.probes), String(p.limitRejections),
        Object.entries(p.byStatus).map(([s, n]) => `${s}:${n}`).join(" "),
        p.windows.map((w) => `${w.admittedTokens}${p.tokensPerMinute ? ` (${pc(w.utilization)})` : ""}${w.complete ? "" : "*"}`).join(" "),
      ]),
    ]),
  );
  out.push(
    legend([
      ["prio", "priority in the plugin configuration (0 first)"],
      ["TPM", "the mock's token limit per window (- none)"],
      ["chat", "chat requests the mock received"],
      ["probes", "health checks (models endpoint)"],
      ["limit-429s", "rejected by the mock for exceeding its limit (scripted faults not counted)"],
      ["statuses", "status:count of the chat answers (0: reset or no answer)"],
      ["windows", "tokens admitted per rate-limit window, in order"],
    ]),
  );
  out.push(`credentials: ${r.credentialProblems.length} foreign/empty/missing${r.credentialProblems.length ? "\n  " + r.credentialProblems.slice(0, 10).join("\n  ") : ""}`);
  out.push(`expectations: ${verdict(r)}`);
  for (const e of r.expectations) out.push(`  ${e.ok ? "ok  " : "FAIL"} ${e.name}: ${e.expect} — ${e.seen}`);
  return out.join("\n");
}

/** Requests each provider received per slice. */
export function formatSlices(r: Report, sliceMs: number): string {
  const n = Math.max(...r.providers.map((p) => p.slices.length));
  return [
    table([
      ["chat requests per " + sliceMs + "ms", ...Array.from({ length: n }, (_, i) => String((i * sliceMs) / 1000))],
      ...r.providers.map((p) => [p.name, ...p.slices.map(String)]),
    ]),
    legend([["columns", "slice start in s since the load started"], ["cells", "chat requests the provider received in that slice"]]),
  ].join("\n");
}

/** Ours beside the baseline, per phase. */
export function formatComparison(reports: Report[]): string {
  const rows: string[][] = [["phase", "target", "requests", "client 2xx", "client 429", "client 5xx", "client other", "provider limit-429s", "PTU min utilization", "served by priority 0"]];
  for (const ph of reports[0]?.phases ?? []) {
    for (const r of reports) {
      const p = r.phases.find((x) => x.name === ph.name)!;
      const top = [...r.providers].sort((a, b) => a.priority - b.priority)[0];
      const limit = r.providers.reduce((n, pr) => n + pr.windows.filter((w) => w.phase === ph.name).reduce((m, w) => m + w.rejected, 0), 0);
      rows.push([
        ph.name, r.target, String(p.requests), String(p.ok), String(p.c429), String(p.c5xx), String(p.c4xx + p.noAnswer + p.brokenStreams), String(limit),
        pc(top?.minUtilizationByPhase[ph.name]), top ? String(p.servedBy[top.name] ?? 0) : "-",
      ]);
    }
  }
  return table(rows);
}
