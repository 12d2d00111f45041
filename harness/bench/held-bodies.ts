/**
 * Worker VM memory under concurrent large bodies (npm run bench, "Large bodies"): a gateway in its
 * own process (2 workers, like the other bench gateways) with bodies up to 8 MiB allowed, and
 *   1. `concurrency` requests of `bodyBytes` at once, held by a slow first provider (each body is
 *      kept in the VM for failover while its request is in flight: plugin/request/held_bodies.ts, within
 *      retry.maxHeldBodyBytes), memory sampled while they are held (peak) and after they finish;
 *   2. the same round again: freed blocks are reused (AssemblyScript's TLSF), so the memory after
 *      the second round should be where the first left it (a wasm memory never shrinks: growth is
 *      all one can see);
 *   3. `failovers` requests at once whose first provider answers 503 and whose second answers
 *      `answerBytes` (a failover attempt's answer arrives whole and is copied into the VM once).
 * Own mock providers (the second answers long completions). 127.0.0.1 only.
 */
import http from "node:http";
import YAML from "yaml";
import { startMockProvider, type MockProvider } from "../providers/index.ts";
import { benchBootstrap, EAST_KEY, GatewayProcess, WEST_KEY } from "./stack.ts";

export interface HeldBodiesSettings {
  concurrency: number;
  bodyBytes: number;
  /** The first provider's delay before its answer: the bodies are held this long. */
  slowMs: number;
  failovers: number;
  answerBytes: number;
}

export interface HeldBodiesResult extends HeldBodiesSettings {
  /** Per worker VM, bytes. */
  warm: number[];
  peak: number[];
  afterFirst: number[];
  peakSecond: number[];
  afterSecond: number[];
  afterFailovers: number[];
  /** Statuses of the rounds ("200": n, …) and of the failover requests; answer bytes received per failover. */
  roundStatuses: Record<string, number>;
  failoverStatuses: Record<string, number>;
  failoverAnswerBytes: number;
  /** Warnings the filter logged (a body not kept for failover is one). */
  warnings: number;
  firstWarnings: string[];
  /** The first answer other than 200 (status and its first bytes), if any. */
  firstFailure?: string;
  durationS: number;
  skipped?: string;
}

/** ~11 bytes per generated completion word ("moreNNNNNN "). */
const BYTES_PER_WORD = 11;

function post(agent: http.Agent, port: number, body: Buffer, headers: Record<string, string>): Promise<{ status: number; bytes: number; head: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/v1/chat/completions", method: "POST", agent, timeout: 120_000,
      headers: { "content-type": "application/json", "content-length": String(body.length), ...headers } }, (res) => {
      let bytes = 0;
      let head = "";
      res.on("data", (d: Buffer) => {
        if (bytes < 300) head += d.toString("utf8", 0, Math.min(d.length, 300 - bytes));
        bytes += d.length;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, head }));
      res.on("error", () => resolve({ status: -1, bytes, head }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: -1, bytes: 0, head: String(e) }));
    req.end(body);
  });
}

function chatOf(bytes: number, maxTokens: number): Buffer {
  const head = '{"model":"gpt-4o","max_tokens":' + maxTokens + ',"messages":[{"role":"user","content":"';
  const tail = '"}]}';
  return Buffer.from(head + "x".repeat(Math.max(0, bytes - head.length - tail.length)) + tail);
}

const tally = (into: Record<string, number>, status: number) => void (into[String(status)] = (into[String(status)] ?? 0) + 1);
const maxOf = (a: number[], b: number[]) => a.map((x, i) => Math.max(x, b[i] ?? 0));

export async function runHeldBodiesBench(wasmPath: string, s: HeldBodiesSettings, progress: (m: string) => void): Promise<HeldBodiesResult> {
  const began = performance.now();
  const words = Math.ceil(s.answerBytes / BYTES_PER_WORD);
  const huge = { tokensPerMinute: 1e12, requestsPerMinute: 1e12 };
  const common = { kind: "azure" as const, defaultLimits: huge };
  const east: MockProvider = await startMockProvider({ ...common, name: "aoai-east", keys: [EAST_KEY], completionTokens: 16, deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } } });
  const west: MockProvider = await startMockProvider({ ...common, name: "aoai-west", keys: [WEST_KEY], completionTokens: words, deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
  const g = new GatewayProcess("ai-failover (large bodies)");
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  try {
    const doc = YAML.parse(benchBootstrap("ai-failover", wasmPath, { east: east.port, west: west.port }));
    const wasm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config;
    const cfg = JSON.parse(wasm.configuration.value);
    cfg.maxRequestBodyBytes = 8 * 1024 * 1024;
    cfg.healthCheck = { enabled: false };
    wasm.configuration.value = JSON.stringify(cfg);
    // Envoy's buffer limit (per_connection_buffer_limit_bytes) raised with maxRequestBodyBytes.
    await g.start(YAML.stringify(doc), 60_000, { bufferLimitBytes: 16 * 1024 * 1024 });

    // Warm-up: small requests, a few failovers.
    const small = chatOf(2000, 50);
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      post(agent, g.port, small, i % 4 === 0 ? { "x-mock-target": "aoai-east", "x-mock-status": "503" } : { "x-mock-target": "aoai-west", "x-mock-completion-tokens": "16" })));
    const warm = (await g.stats()).workerMemory;

    const big = chatOf(s.bodyBytes, 50);
    let failure: string | undefined;
    const round = async (): Promise<{ peak: number[]; statuses: Record<string, number> }> => {
      const statuses: Record<string, number> = {};
      let peak = warm.map(() => 0);
      let done = false;
      const sampling = (async () => {
        while (!done) {
          peak = maxOf((await g.stats()).workerMemory, peak);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const rs = await Promise.all(Array.from({ length: s.concurrency }, () =>
        post(agent, g.port, big, { "x-mock-target": "aoai-east", "x-mock-latency-ms": String(s.slowMs) })));
      done = true;
      await sampling;
      for (const r of rs) {
        tally(statuses, r.status);
        if (r.status !== 200) failure ??= `${r.status} ${r.head}`;
      }
      east.reset();
      return { peak, statuses };
    };
    progress(`large bodies: ${s.concurrency} × ${(s.bodyBytes / 1e6).toFixed(1)} MB held ${s.slowMs} ms, round 1`);
    const r1 = await round();
    const afterFirst = (await g.stats()).workerMemory;
    progress("large bodies: round 2");
    const r2 = await round();
    const afterSecond = (await g.stats()).workerMemory;
    const roundStatuses: Record<string, number> = {};
    for (const [k, v] of [...Object.entries(r1.statuses), ...Object.entries(r2.statuses)]) roundStatuses[k] = (roundStatuses[k] ?? 0) + v;

    progress(`large bodies: ${s.failovers} failovers to ${(s.answerBytes / 1e6).toFixed(1)} MB answers`);
    const ask = chatOf(2000, words + 100);
    const fs = await Promise.all(Array.from({ length: s.failovers }, () => post(agent, g.port, ask, { "x-mock-target": "aoai-east", "x-mock-status": "503" })));
    const failoverStatuses: Record<string, number> = {};
    for (const r of fs) {
      tally(failoverStatuses, r.status);
      if (r.status !== 200) failure ??= `${r.status} ${r.head}`;
    }
    const end = await g.stats();
    return {
      ...s, warm, peak: maxOf(r1.peak, afterFirst), afterFirst, peakSecond: maxOf(r2.peak, afterSecond), afterSecond,
      afterFailovers: end.workerMemory, roundStatuses, failoverStatuses,
      failoverAnswerBytes: Math.round(fs.reduce((a, r) => a + r.bytes, 0) / Math.max(1, fs.length)),
      warnings: end.logLines[3]! + end.logLines[4]! + end.logLines[5]!, firstWarnings: end.firstWarnings, firstFailure: failure,
      durationS: (performance.now() - began) / 1000,
    };
  } finally {
    agent.destroy();
    await g.close(5000).catch(() => {});
    await Promise.all([east.close(), west.close()]);
  }
}
