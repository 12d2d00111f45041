/**
 * envoy/docker-compose.yaml and envoy/higress-wasmplugin.yaml are runnable as they are:
 *  - the compose file mounts files that exist, where the bootstrap and Envoy's command expect them,
 *    and the bootstraps it mounts pass the gateway's Envoy-subset checker;
 *  - the WasmPlugin's defaultConfig (+ matchRules, converted to `_rules_` the way Higress does)
 *    is accepted by the real filter (build/ai-failover.wasm in the host), with the env vars its
 *    vmConfig names — and rejected without them.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { higressPluginConfig, loadBootstrap } from "../../../harness/gateway/index.ts";
import { PluginHost, PluginLoadError, type LogRecord } from "../../../harness/host/index.ts";
import { ROOT } from "../../support/stack.ts";

const COMPOSE = join(ROOT, "envoy/docker-compose.yaml");
const HIGRESS = join(ROOT, "envoy/higress-wasmplugin.yaml");

interface ComposeService {
  image: string;
  profiles?: string[];
  network_mode?: string;
  working_dir: string;
  environment?: string[];
  volumes: string[];
  command: string[];
}

describe("envoy/docker-compose.yaml", () => {
  const compose = parse(readFileSync(COMPOSE, "utf8")) as { services: Record<string, ComposeService> };
  const services = Object.entries(compose.services);

  it("defines the mock-backed service and the real-endpoint one (profile), both on Envoy 1.35", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["envoy", "envoy-real"]);
    for (const [, s] of services) expect(s.image).toMatch(/^envoyproxy\/envoy:v1\.35[.-]/);
    expect(compose.services["envoy-real"]!.profiles).toEqual(["real"]);
  });

  for (const [name, s] of services) {
    it(`${name}: every mounted file exists; Envoy's -c file is a mounted bootstrap the Envoy-subset checker accepts, whose wasm is mounted`, () => {
      const mounts = new Map<string, string>(); // container path → host path
      for (const v of s.volumes) {
        const [src, target] = v.split(":");
        const host = resolve(dirname(COMPOSE), src!);
        expect(existsSync(host), `${name}: ${src} (→ ${host}) does not exist`).toBe(true);
        mounts.set(target!, host);
      }
      const c = s.command.indexOf("-c");
      expect(s.command[0]).toBe("envoy");
      expect(c).toBeGreaterThan(0);
      const bootstrapHost = mounts.get(s.command[c + 1]!);
      expect(bootstrapHost, `${name}: -c ${s.command[c + 1]} is not mounted`).toBeDefined();
      const cfg = loadBootstrap(readFileSync(bootstrapHost!, "utf8"), { source: bootstrapHost, baseDir: ROOT });
      // Envoy resolves the module against its working directory: that path must be the mounted wasm.
      const local = readFileSync(bootstrapHost!, "utf8").match(/filename:\s*(\S+)/)![1]!;
      const inContainer = posix.isAbsolute(local) ? local : posix.join(s.working_dir, local);
      expect(mounts.get(inContainer), `${name}: ${inContainer} is not mounted`).toBe(join(ROOT, "build/ai-failover.wasm"));
      expect(cfg.wasm.allowOnHeadersStopIteration).toBe(true);
      // Keys read from the host environment must be passed into the container.
      for (const k of cfg.wasm.hostEnvKeys) expect(s.environment ?? [], `${name}: ${k} not passed through`).toContain(k);
    });
  }
});

describe("envoy/higress-wasmplugin.yaml", () => {
  const docs = parseAllDocuments(readFileSync(HIGRESS, "utf8")).map((d) => d.toJS());
  const plugin = docs.find((d) => d.kind === "WasmPlugin");
  const secret = docs.find((d) => d.kind === "Secret");

  it("is a Higress WasmPlugin with defaultConfig, matchRules, keys from the host env (fed by the Secret)", () => {
    expect(plugin.apiVersion).toBe("extensions.higress.io/v1alpha1");
    expect(plugin.metadata).toMatchObject({ name: "ai-failover", namespace: "higress-system" });
    const spec = plugin.spec;
    // Only fields of Higress' WasmPlugin proto (api/extensions/v1alpha1/wasmplugin.proto).
    const known = ["url", "sha256", "imagePullPolicy", "imagePullSecret", "verificationKey", "pluginConfig", "pluginName", "phase",
      "priority", "failStrategy", "vmConfig", "defaultConfig", "matchRules", "defaultConfigDisable"];
    expect(Object.keys(spec).filter((k) => !known.includes(k))).toEqual([]);
    for (const r of spec.matchRules) {
      expect(Object.keys(r).filter((k) => !["ingress", "domain", "service", "config", "configDisable"].includes(k))).toEqual([]);
      expect(r.ingress ?? r.domain).toBeDefined();
    }
    expect(spec.matchRules.some((r: { domain?: unknown }) => r.domain)).toBe(true);
    expect(spec.matchRules.some((r: { ingress?: unknown }) => r.ingress)).toBe(true);
    // Every apiKeyEnv is a HOST env var of the VM and a key of the Secret; no key is inline.
    const envNames = spec.vmConfig.env.map((e: { name: string; valueFrom: string }) => (expect(e.valueFrom).toBe("HOST"), e.name));
    const keyEnvs = spec.defaultConfig.providers.map((p: { auth: { apiKeyEnv?: string; apiKey?: string } }) => {
      expect(p.auth.apiKey).toBeUndefined();
      return p.auth.apiKeyEnv;
    });
    expect(envNames.sort()).toEqual([...keyEnvs].sort());
    expect(secret.metadata.namespace).toBe("higress-system");
    expect(Object.keys(secret.stringData).sort()).toEqual([...keyEnvs].sort());
  });

  it("ships the route set-up: an Ingress for the gateway's host, made a cluster_header route by an EnvoyFilter naming that Ingress's route", () => {
    const ingress = docs.find((d) => d.kind === "Ingress");
    const ef = docs.find((d) => d.kind === "EnvoyFilter");
    expect(ingress.spec.ingressClassName).toBe("higress");
    // Higress names an Ingress's route "<namespace>/<name>" (pkg/ingress/kube/common/tool.go GenerateUniqueRouteName).
    const patch = ef.spec.configPatches[0];
    expect(patch.applyTo).toBe("HTTP_ROUTE");
    expect(patch.match.routeConfiguration.vhost.route.name).toBe(`${ingress.metadata.namespace}/${ingress.metadata.name}`);
    expect(patch.patch.value.route.cluster_header).toBe("x-ai-failover-cluster");
    // The route removes the routing header (Higress: header_control.go `request-header-control-remove`
    // → the route's request_headers_to_remove); the filter leaves it for the router
    // (test/host/gateway/plugin-order.test.ts).
    expect(ingress.metadata.annotations["higress.io/request-header-control-remove"]).toBe("x-ai-failover-cluster");
    // Last of the plugins before the router (README "Plugin ordering").
    expect(plugin.spec.phase).toBe("UNSPECIFIED_PHASE");
    expect(plugin.spec.priority).toBeLessThan(10);
    // The matchRules' ingress names follow the same form.
    for (const r of plugin.spec.matchRules) for (const i of r.ingress ?? []) expect(i).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+$/);
  });

  async function load(environment: Record<string, string>): Promise<{ host?: PluginHost; error?: PluginLoadError; logs: LogRecord[] }> {
    const logs: LogRecord[] = [];
    const configuration = JSON.stringify(higressPluginConfig(plugin.spec));
    try {
      const host = await PluginHost.create({
        wasm: new Uint8Array(readFileSync(join(ROOT, "build/ai-failover.wasm"))),
        rootId: "ai-failover",
        vmId: "ai-failover",
        configuration,
        environment,
        workers: 1,
        allowOnHeadersStopIteration: true,
        logger: (r) => logs.push(r),
        logLevel: 2,
      });
      return { host, logs };
    } catch (e) {
      if (e instanceof PluginLoadError) return { error: e, logs };
      throw e;
    }
  }

  it("its defaultConfig + matchRules (as Higress delivers them) pass the filter's validation with the env vars set", async () => {
    const env = Object.fromEntries(plugin.spec.vmConfig.env.map((e: { name: string }) => [e.name, `test-key-for-${e.name}`]));
    const { host, error, logs } = await load(env);
    expect(error?.logs.map((l) => l.message).join("\n") ?? "", "configure rejected").toBe("");
    expect(host).toBeDefined();
    expect(logs.filter((l) => l.level >= 4)).toEqual([]);
    await host!.close();
  });

  it("the same config is rejected when the key variables are missing (the check above is not vacuous)", async () => {
    const { host, error } = await load({});
    await host?.close();
    expect(error).toBeInstanceOf(PluginLoadError);
    const text = error!.logs.map((l) => l.message).join("\n");
    for (const e of plugin.spec.vmConfig.env) expect(text).toContain(e.name);
  });
});

describe("Dockerfile (the Higress plugin image)", () => {
  // Higress's Wasm plugin image spec (higress.cn, "Wasm Plugin Image Specification"): built FROM
  // scratch, plugin.wasm at the image root in the last layer. No Docker engine here: the recipe
  // is checked as text, and the file it copies must be the built module.
  it("is FROM scratch and copies the built module to /plugin.wasm, and the build context holds only that file", () => {
    const lines = readFileSync(join(ROOT, "Dockerfile"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    // WASM: the Envoy build by default, or the Higress build (clusterLimits.redis) with --build-arg.
    expect(lines).toEqual(["FROM scratch", "ARG WASM=build/ai-failover.wasm", "COPY ${WASM} ./plugin.wasm"]);
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    expect(ignore).toEqual(["*", "!build/ai-failover.wasm", "!build/ai-failover-higress.wasm"]);
    for (const f of ["build/ai-failover.wasm", "build/ai-failover-higress.wasm"]) {
      expect(existsSync(join(ROOT, f)), `npm run build made ${f}, which the image can copy`).toBe(true);
    }
    // The WasmPlugin example points at such an image.
    const plugin = parseAllDocuments(readFileSync(HIGRESS, "utf8")).map((d) => d.toJS()).find((d) => d.kind === "WasmPlugin");
    expect(plugin.spec.url).toMatch(/^oci:\/\//);
  });
});
