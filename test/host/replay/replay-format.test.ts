// The scenario files and their loader (harness/replay/scenario.ts, bootstrap.ts): every file in the
// repository loads; a broken file is rejected with every problem and its path; the bootstrap given
// to the gateway is the real envoy/local.yaml with only the scenario's edits and the mocks' ports.
// The text report (report.ts) on a synthetic run: description, units, legends, expectations.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { loadBootstrap } from "../../../harness/gateway/index.ts";
import { scenarioBootstrap } from "../../../harness/replay/bootstrap.ts";
import { loadScenario, parseScenario, ScenarioError } from "../../../harness/replay/scenario.ts";
import { buildRequest, rng } from "../../../harness/replay/load.ts";
import { estimatePromptTokens } from "../../../harness/providers/index.ts";
import { analyze, formatReport, formatSlices, verdict } from "../../../harness/replay/report.ts";
import { fakeRun } from "../../support/replay-fake.ts";
import { LOCAL_YAML, ROOT } from "../../support/stack.ts";

const DIR = `${ROOT}harness/replay/scenarios/`;

describe("replay scenario files", () => {
  it("every scenario in the repository loads", () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual(["key-revoked.yaml", "outage.yaml", "ptu-payg.yaml", "retry-after.yaml"]);
    for (const f of files) expect(loadScenario(DIR + f).name).toBe(f.replace(".yaml", ""));
  });

  it("rejects a broken scenario with every problem and its path", () => {
    const doc = YAML.parse(readFileSync(DIR + "ptu-payg.yaml", "utf8"));
    doc.windowMs = "6 seconds";
    doc.load[1].clients = "32x";
    doc.load[0].request.promptTokens = [600, 300];
    doc.load[0].thinkTime = "1s";
    doc.timeline = [{ at: "1s", provider: "aoai-north", action: "startOutage" }, { at: "2s", provider: "aoai-east-ptu", action: "explode" }];
    let err: ScenarioError | undefined;
    try {
      parseScenario(doc, "broken.yaml");
    } catch (e) {
      err = e as ScenarioError;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err!.problems).toEqual([
      `windowMs: expected a duration like "500ms", "6s", "2m" (or milliseconds), got "6 seconds"`,
      "load[0].thinkTime: unknown field (expected one of: phase, clients, duration, think, request)",
      "load[0].request.promptTokens: expected an integer 8..1000000 or [min, max], got - 600\n- 300",
      `load[1].clients: expected an integer 1..1000, got "32x"`,
      `timeline[0].provider: unknown provider "aoai-north" (scenario providers: aoai-east-ptu, aoai-west-payg)`,
      `timeline[1].action: expected one of setFault, clearFaults, startOutage, endOutage, setKeys, setLatency, got "explode"`,
    ]);
    expect(err!.message).toContain("broken.yaml: invalid scenario");
  });

  it("the gateway bootstrap is envoy/local.yaml with the scenario's plugin edits and the mocks' ports", () => {
    const sc = loadScenario(DIR + "ptu-payg.yaml");
    const boot = scenarioBootstrap(sc, LOCAL_YAML);
    expect(boot.providers.map((p) => [p.name, p.key])).toEqual([
      ["aoai-east-ptu", "mockkey-east-Qz7WkP3xRmT9vLs2"],
      ["aoai-west-payg", "mockkey-west-Hy4NqJ8wXcV6bGt5"],
    ]);
    // Valid for the gateway's strict bootstrap checker, listener and admin on ephemeral ports.
    const cfg = loadBootstrap(boot.text({ "aoai-east-ptu": 41001, "aoai-west-payg": 41002 }), { source: "scenario", baseDir: ROOT });
    expect(Object.fromEntries([...cfg.clusters].map(([n, c]) => [n, c.endpoints.map((e) => e.port)]))).toEqual({ "aoai-east": [41001], "aoai-west": [41002] });
    const plugin = JSON.parse(cfg.wasm.configuration);
    expect(plugin.providers.map((p: any) => p.limits)).toEqual([
      { tokensPerMinute: 10000, requestsPerMinute: 60, window: "6s" },
      { tokensPerMinute: 100000, requestsPerMinute: 600, window: "6s" },
    ]);
    expect(plugin.healthCheck.interval).toBe("1s");
    expect(plugin.retry).toEqual({ maxAttempts: 3, onStatus: [429, 500, 502, 503, 504] });
    // `limits: null` removes the field (outage scenario: no budget).
    const outage = scenarioBootstrap(loadScenario(DIR + "outage.yaml"), LOCAL_YAML);
    expect(outage.plugin.providers.every((p: any) => p.limits === undefined)).toBe(true);
  });

  it("request bodies hit the drawn size exactly as the mocks (and Azure) estimate it", () => {
    const sc = loadScenario(DIR + "ptu-payg.yaml");
    const r = rng(1);
    for (let i = 0; i < 50; i++) {
      const q = buildRequest(sc.load[0]!.request, r);
      const prompt = estimatePromptTokens("chat", q.body);
      expect(prompt).toBeGreaterThanOrEqual(300);
      expect(prompt).toBeLessThanOrEqual(600);
      expect(q.tokens).toBe(prompt + (q.body.max_tokens as number));
      expect(q.tokens).toBeGreaterThanOrEqual(1100);
      expect(q.tokens).toBeLessThanOrEqual(1400);
    }
  });
});

describe("replay text report", () => {
  it("starts with the scenario's description and a units line; legends under each table; the expectations with a verdict", () => {
    const text = [formatReport(analyze(fakeRun())), formatSlices(analyze(fakeRun()), 500)].join("\n");
    const lines = text.split("\n");
    expect(lines[0]).toBe("== outage · target ai-failover · window 6000ms = 1 simulated minute (×10.0 compression)");
    expect(lines[1]).toBe("   primary refused, then 503s, then recovered; spillover healthy throughout");
    expect(lines[2]).toMatch(/^units: times and latencies in ms \(slices in s\) since the load started; tokens = prompt estimate \+ max_tokens/);
    // Every column of both tables is explained under it.
    for (const col of ["clients:", "requests:", "no-answer:", "retried:", "p50/p95 ms:", "by <provider>:", "prio:", "TPM:", "chat:", "probes:", "limit-429s:", "statuses:", "windows:", "columns:", "cells:"]) {
      expect(text, col).toContain(`${col} `);
    }
    expect(text).toContain("expectations: PASS 4/4 expectations met");
    expect(text).toContain("  ok   clients: every client request answered 2xx — 52/52 2xx");
  });

  it("a failed expectation says what was seen in the verdict line", () => {
    const run = fakeRun();
    run.outcomes[3]!.status = 503;
    run.outcomes[4]!.status = 0;
    run.providers[1]!.records[0]!.credentials = [{ scheme: "api-key", value: "ptu-key" }];
    const r = analyze(run);
    expect(verdict(r)).toBe("FAIL 2/4 met — clients: 2 of 52 not 2xx (1 5xx, 1 no answer); credentials: 1 foreign/empty/missing");
    expect(formatReport(r)).toContain("  FAIL credentials: each provider sees only its own key — 1 foreign/empty/missing");
  });
});
