/**
 * What cluster-wide limits cost per request (issue 11): one gateway replica (2 workers) in front of
 * a mock PTU, with clusterLimits off, per request (one ShouldRateLimit per request) and leased
 * (blocks of `leaseTokens`), against the rate limit service stand-in on a real redis-server; and
 * the Higress build with clusterLimits.redis (one EVAL per request, or leased) on the same
 * redis-server, against its own baseline (the Higress build on a host playing Higress, off).
 * Latency percentiles of the client's whole request, sequential clients at a fixed concurrency.
 * `npm run bench` runs it (main.ts: 400 requests, 100 with --quick) and puts its table in the
 * report; skipped, with the reason, where there is no redis-server.
 *
 *   node --import tsx harness/bench/cluster-limits.ts [requests=400] [concurrency=4]
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { startGateway } from "../gateway/index.ts";
import { startMockProvider } from "../providers/index.ts";
import { RateLimitConfig } from "../ratelimit/config.ts";
import { startRateLimitService } from "../ratelimit/server.ts";
import { withRlsCluster } from "../ratelimit/bootstrap.ts";
import { findRedisServer, RedisServer } from "../redis/server.ts";
import { withHigressBuild, withoutStopIterationFlag, withRedisCluster } from "../redis/bootstrap.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
import { EAST_KEY, WEST_KEY } from "../keys.ts";

export interface ClusterLimitsRow {
  mode: string;
  /** Which build and host: the Envoy build, or the Higress build on a host playing Higress. */
  build: "envoy" | "higress";
  p50: number;
  p99: number;
  /** Against the "off" row of the same build. */
  addedP50: number;
  addedP99: number;
  /** ShouldRateLimit calls or EVALs per request (the ticks' calls included). */
  callsPerRequest: number;
}

export interface ClusterLimitsResult {
  /** Why it did not run (no redis-server). */
  skipped?: string;
  requests: number;
  concurrency: number;
  rows: ClusterLimitsRow[];
}

function bootstrap(ports: { east: number; west: number; rls: number; redis: number }, cluster: unknown, higress: boolean): string {
  let y = readFileSync(new URL("../../envoy/local.yaml", import.meta.url), "utf8")
    .replace("port_value: 10000", "port_value: 0").replace("port_value: 9901", "port_value: 0")
    .replace("port_value: 18081", `port_value: ${ports.east}`).replace("port_value: 18082", `port_value: ${ports.west}`);
  const start = y.indexOf("value: |");
  const js = y.indexOf("{", start);
  const je = y.indexOf("\n                  - name: envoy.filters.http.router", js);
  const cfg = JSON.parse(y.slice(js, je));
  cfg.healthCheck = { enabled: false };
  cfg.providers[0].limits = { tokensPerMinute: 100000000 };
  if (cluster) cfg.clusterLimits = cluster;
  y = y.slice(0, js) + JSON.stringify(cfg) + y.slice(je);
  if (higress) y = withRedisCluster(withoutStopIterationFlag(withHigressBuild(y)), ports.redis);
  return withRlsCluster(y, ports.rls);
}

function post(agent: http.Agent, url: string): Promise<number> {
  const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 50 });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url + "/v1/chat/completions", { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/** The table: `requests` per mode after `warmup` unrecorded ones, `concurrency` clients. */
export async function runClusterLimitsBench(opts: { requests: number; concurrency: number; warmup?: number; progress?: (m: string) => void }): Promise<ClusterLimitsResult> {
  const N = opts.requests;
  const C = opts.concurrency;
  const out: ClusterLimitsResult = { requests: N, concurrency: C, rows: [] };
  const found = findRedisServer();
  if ("reason" in found) {
    out.skipped = found.reason;
    return out;
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: C });
  const redis = await RedisServer.start({ bin: found.bin });
  const rls = await startRateLimitService({ redisPort: redis.port, config: RateLimitConfig.fromYaml(
    "domain: ai-failover\ndescriptors:\n  - key: provider\n    value: aoai-east-ptu\n    rate_limit: { unit: minute, requests_per_unit: 100000000 }\n") });
  const east = await startMockProvider({ kind: "azure", name: "aoai-east", keys: [EAST_KEY], deployments: { "gpt4o-ptu": { model: "gpt-4o-2024-08-06" } } });
  const west = await startMockProvider({ kind: "azure", name: "aoai-west", keys: [WEST_KEY], deployments: { "gpt4o-payg": { model: "gpt-4o-2024-08-06" } } });
  const redisEngine = { service: "redis.dns", timeout: "100ms" };
  // [name, clusterLimits, Higress build on a Higress host]
  const modes: Array<[string, unknown, boolean]> = [
    // The harness's own JIT warms up on the first gateway: not reported.
    ["warm-up", null, false],
    ["off", null, false],
    ["RLS per request", { rateLimitService: { cluster: "ratelimit", timeout: "100ms" } }, false],
    ["RLS lease 5000", { rateLimitService: { cluster: "ratelimit", timeout: "100ms" }, leaseTokens: 5000 }, false],
    ["off (Higress build)", null, true],
    ["redis per request", { redis: redisEngine }, true],
    ["redis lease 5000", { redis: redisEngine, leaseTokens: 5000 }, true],
  ];
  let base50 = 0, base99 = 0;
  const evals = async () => {
    const info = String(await redis.client().command(["INFO", "commandstats"]));
    const m = /cmdstat_eval:calls=(\d+)/.exec(info);
    return m ? Number(m[1]) : 0;
  };
  try {
    for (const [name, cluster, higress] of modes) {
      opts.progress?.(`cluster limits: ${name}`);
      const gw = await startGateway({
        bootstrapText: bootstrap({ east: east.port, west: west.port, rls: rls.port, redis: redis.port }, cluster, higress), baseDir: ROOT, workers: 2,
        hostOptions: { flavour: higress ? "higress" : "envoy" },
      });
      for (let i = 0; i < (opts.warmup ?? 50); i++) await post(agent, gw.url); // warm-up
      const lat: number[] = [];
      let next = 0;
      const calls0 = rls.calls.length;
      const evals0 = await evals();
      await Promise.all(Array.from({ length: C }, async () => { while (next++ < N) lat.push(await post(agent, gw.url)); }));
      // Engine calls per request: ShouldRateLimit calls, or EVALs (the tick's looks included).
      const calls = rls.calls.length - calls0 + (higress ? (await evals()) - evals0 : 0);
      lat.sort((a, b) => a - b);
      const p50 = pct(lat, 50), p99 = pct(lat, 99);
      if (name === "warm-up") { await gw.close(); continue; }
      if (name.startsWith("off")) { base50 = p50; base99 = p99; }
      out.rows.push({ mode: name, build: higress ? "higress" : "envoy", p50, p99, addedP50: p50 - base50, addedP99: p99 - base99, callsPerRequest: calls / N });
      await gw.close();
    }
  } finally {
    agent.destroy();
    await Promise.all([east.close(), west.close(), rls.close()]);
    await redis.stop();
  }
  return out;
}

/** The result as Markdown (a heading-less paragraph and table). */
export function renderClusterLimits(r: ClusterLimitsResult): string {
  if (r.skipped !== undefined) return `Skipped: ${r.skipped} (the engines need redis-server).`;
  const rows = r.rows.map((x) => `| ${x.mode} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.addedP50.toFixed(2)} | ${x.addedP99.toFixed(2)} | ${x.callsPerRequest.toFixed(3)} |`);
  return `${r.requests} requests per mode, concurrency ${r.concurrency}, 1 replica × 2 workers, the rate limit service stand-in and redis-server on ` +
    "127.0.0.1; added = over the \"off\" row of the same build (the Higress build on a host playing Higress for Redis). Engine calls include the ticks' calls.\n\n" +
    "| mode | p50 ms | p99 ms | added p50 | added p99 | engine calls / request |\n|---|---:|---:|---:|---:|---:|\n" + rows.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runClusterLimitsBench({ requests: Number(process.argv[2] ?? 400), concurrency: Number(process.argv[3] ?? 4) });
  console.log(renderClusterLimits(r));
}
