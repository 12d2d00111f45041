/**
 * The filter in a real Envoy 1.35 (testcontainers), in front of the mock providers running here.
 *
 * Where no Docker engine is reachable (detected with testcontainers' own runtime detection,
 * bounded by a timeout) the Envoy test is reported as SKIPPED with the reason — never as passed.
 * The container bootstrap is envoy/local.yaml with only what a container needs changed (listener
 * and admin on 0.0.0.0, clusters reaching the host's mocks through testcontainers' exposed host
 * ports); that transformation is checked everywhere, Docker or not.
 *
 *   AI_FAILOVER_ENVOY_IMAGE   image to run (default envoyproxy/envoy:v1.35-latest)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startMockProviders, type StartedMock } from "../../../harness/cli/start.ts";
import { loadBootstrap } from "../../../harness/gateway/index.ts";
import { deadPort, localBootstrap, ROOT } from "../../support/stack.ts";

const ENVOY_IMAGE = process.env.AI_FAILOVER_ENVOY_IMAGE ?? "envoyproxy/envoy:v1.35-latest";
const DETECT_TIMEOUT_MS = 15_000;
/** Where the container sees the host's exposed ports (testcontainers' SSHd sidecar). */
const HOST_ALIAS = "host.testcontainers.internal";
const WORKDIR = "/ai-failover"; // envoy runs here, so local.yaml's build/ai-failover.wasm resolves

type Docker = { ok: true; info: string } | { ok: false; reason: string };

/** testcontainers' runtime detection (env, docker config, socket, …), bounded by a timeout. */
async function detectDocker(): Promise<Docker> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${DETECT_TIMEOUT_MS} ms`)), DETECT_TIMEOUT_MS);
      }),
    ]);
    const i = client.info;
    return { ok: true, info: `${i.containerRuntime.host} (server ${i.containerRuntime.serverVersion}, ${i.containerRuntime.operatingSystem})` };
  } catch (e) {
    return { ok: false, reason: (e as Error).message.split("\n")[0] || String(e) };
  } finally {
    clearTimeout(timer);
  }
}

interface SocketAddress {
  address: string;
  port_value: number;
}

/**
 * envoy/local.yaml for a container: listener and admin on 0.0.0.0 (same ports), each cluster
 * STRICT_DNS to `hostAlias:<port of that cluster's mock>`. Everything else — filter config, keys,
 * wasm path, routes — stays as users get it.
 */
export function containerBootstrap(localYaml: string, mockPorts: Record<string, number>, hostAlias = HOST_ALIAS): string {
  const b = parse(localYaml);
  b.admin.address.socket_address.address = "0.0.0.0";
  for (const l of b.static_resources.listeners) l.address.socket_address.address = "0.0.0.0";
  for (const c of b.static_resources.clusters) {
    const port = mockPorts[c.name];
    if (port === undefined) throw new Error(`no mock port for cluster ${c.name}`);
    c.type = "STRICT_DNS";
    c.dns_lookup_family = "V4_ONLY";
    for (const group of c.load_assignment.endpoints)
      for (const e of group.lb_endpoints) {
        const sa: SocketAddress = e.endpoint.address.socket_address;
        sa.address = hostAlias;
        sa.port_value = port;
      }
  }
  return stringify(b);
}

function clusterPorts(bootstrapText: string): Record<string, number> {
  const cfg = loadBootstrap(bootstrapText, { source: "bootstrap", baseDir: ROOT });
  return Object.fromEntries([...cfg.clusters.entries()].map(([name, c]) => [name, c.endpoints[0]!.port]));
}

const docker = await detectDocker();
if (!docker.ok) {
  process.stderr.write(`[real-envoy] SKIPPED: no Docker engine reachable: ${docker.reason}\n`);
}

describe("the container bootstrap (checked with or without Docker)", () => {
  it("is envoy/local.yaml with 0.0.0.0 listeners and DNS clusters to the host alias; the gateway's Envoy-subset checker accepts it", () => {
    const local = readFileSync(join(ROOT, "envoy/local.yaml"), "utf8");
    const text = containerBootstrap(local, { "aoai-east": 40001, "aoai-west": 40002 });
    const cfg = loadBootstrap(text, { source: "container", baseDir: ROOT });
    expect([cfg.listener.address, cfg.listener.port]).toEqual(["0.0.0.0", 10000]);
    expect([cfg.admin?.address, cfg.admin?.port]).toEqual(["0.0.0.0", 9901]);
    expect(clusterPorts(text)).toEqual({ "aoai-east": 40001, "aoai-west": 40002 });
    for (const name of ["aoai-east", "aoai-west"]) expect(cfg.clusters.get(name)!.endpoints[0]!.address).toBe(HOST_ALIAS);
    // Same filter, same configuration and keys, same wasm path (resolved in the container's workdir).
    expect(cfg.wasm.configuration).toBe(loadBootstrap(local, { source: "local", baseDir: ROOT }).wasm.configuration);
    expect(text).toContain("filename: build/ai-failover.wasm");
    expect(text).toContain("allow_on_headers_stop_iteration: true");
  });
});

describe(`real Envoy (${ENVOY_IMAGE}) via testcontainers`, () => {
  let mocks: StartedMock[] = [];
  let stopMocks: (() => Promise<void>) | undefined;
  let container: import("testcontainers").StartedTestContainer | undefined;
  let envoyUrl = "";
  let adminUrl = "";
  let envoyLog = "";

  beforeAll(async () => {
    if (!docker.ok) return;
    const { GenericContainer, TestContainers, Wait } = await import("testcontainers");
    // The mocks on free ports here, accepting exactly the keys local.yaml gives the filter.
    const hostBootstrap = localBootstrap({ east: await deadPort(), west: await deadPort() });
    const started = await startMockProviders({ root: ROOT, bootstrapText: hostBootstrap });
    mocks = started.mocks;
    stopMocks = started.stop;
    const ports = clusterPorts(hostBootstrap);
    await TestContainers.exposeHostPorts(...Object.values(ports));
    const bootstrap = containerBootstrap(readFileSync(join(ROOT, "envoy/local.yaml"), "utf8"), ports);
    try {
      container = await new GenericContainer(ENVOY_IMAGE)
        .withWorkingDir(WORKDIR)
        .withCopyContentToContainer([{ content: bootstrap, target: `${WORKDIR}/envoy.yaml` }])
        .withCopyFilesToContainer([{ source: join(ROOT, "build/ai-failover.wasm"), target: `${WORKDIR}/build/ai-failover.wasm` }])
        .withCommand(["envoy", "-c", `${WORKDIR}/envoy.yaml`, "--concurrency", "2", "--log-level", "info"])
        .withExposedPorts(10000, 9901)
        .withLogConsumer((s: Readable) => s.on("data", (c) => (envoyLog += String(c))))
        .withWaitStrategy(Wait.forHttp("/ready", 9901).forStatusCode(200))
        .withStartupTimeout(120_000)
        .start();
    } catch (e) {
      throw new Error(`Envoy did not start: ${(e as Error).message}\n--- envoy log ---\n${envoyLog}`);
    }
    const host = container.getHost();
    envoyUrl = `http://${host}:${container.getMappedPort(10000)}`;
    adminUrl = `http://${host}:${container.getMappedPort(9901)}`;
  }, 600_000);

  afterAll(async () => {
    await container?.stop();
    await stopMocks?.();
  }, 120_000);

  it("a chat completion goes to the preferred provider with that provider's key only; decision header set", async (ctx) => {
    if (!docker.ok) ctx.skip(`no Docker engine reachable: ${docker.reason}`);
    const r = await fetch(`${envoyUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer client-own-token", "api-key": "client-api-key" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Say hello" }] }),
    });
    const body = await r.text();
    expect(r.status, `${body}\n--- envoy log ---\n${envoyLog}`).toBe(200);
    expect(r.headers.get("x-ai-failover-provider")).toBe("aoai-east-ptu");
    expect(r.headers.get("server")).toBe("envoy");
    expect(JSON.parse(body).choices[0].message.content.length).toBeGreaterThan(0);

    const east = mocks.find((m) => m.name === "aoai-east-ptu")!;
    const chat = east.mock.records.filter((x) => x.path.endsWith("/chat/completions"));
    expect(chat.map((x) => x.path)).toEqual(["/openai/deployments/gpt4o-ptu/chat/completions"]);
    expect(chat[0]!.headers["api-key"]).toBe(east.key);
    // Every provider saw its own key and nothing else (health checks included): no foreign, no
    // empty, no client credential.
    for (const m of mocks) {
      for (const c of m.mock.credentialsSeen()) expect(c, m.name).toEqual({ scheme: "api-key", value: m.key });
    }
    // The client never gets a provider credential back.
    const all = JSON.stringify([...r.headers]) + body;
    for (const m of mocks) expect(all).not.toContain(m.key);
  });

  it("admin /stats/prometheus serves the filter's custom stats without the envoy_ prefix", async (ctx) => {
    if (!docker.ok) ctx.skip(`no Docker engine reachable: ${docker.reason}`);
    const text = await (await fetch(`${adminUrl}/stats/prometheus`)).text();
    expect(text).toMatch(/^# TYPE ai_failover_\w+ (counter|gauge|histogram)$/m);
  });
});
