// Checklist 9 (+ logs, properties, WASI): several worker VMs plus a canary sharing process state.
import { afterEach, describe, expect, it } from "vitest";
import { PluginHost, PluginLoadError, ProcessState } from "../../harness/host/index.ts";
import { fixtureWasm, recorder, fixtureRequest, fixtureRig, sleep, type HostRig } from "../../harness/rig/host-rig.ts";

let t: HostRig;
afterEach(async () => {
  await t?.host.close();
});

describe("VMs, configuration and process-wide state (checklist 9)", () => {
  it("starts a canary and N workers, each with root context 1; config readable only in root create/configure", async () => {
    t = await fixtureRig({ workers: 3, vmConfiguration: "vmcfg" });
    const vms = new Set(t.logs.filter((l) => l.message.startsWith("configure size=2 config=ok")).map((l) => l.vm));
    expect([...vms].sort()).toEqual(["canary", "worker-0", "worker-1", "worker-2"]);
    expect(t.lines("root create id=1 config=ok")).toHaveLength(4);
    // on_vm_start: vm_config size given, plugin configuration not readable (NotFound).
    expect(t.lines("vm_start id=1 size=5 config-rc=<rc:1>")).toHaveLength(4);
    expect(t.host.workerCount).toBe(3);
  });

  it("rejects the plugin when on_configure returns false or traps, attaching the logs", async () => {
    for (const [config, msg] of [["reject", "Failed to configure base Wasm plugin"], ["trap", "Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable"]]) {
      const err = await PluginHost.create({ wasm: fixtureWasm("filter"), rootId: "r", configuration: config! }).catch((e) => e);
      expect(err).toBeInstanceOf(PluginLoadError);
      expect(err.message).toBe(msg);
      expect((err as PluginLoadError).logs.some((l) => l.message === `configure size=${config!.length} config=${config}`)).toBe(true);
    }
  });

  it("assigns a worker per connection on first sight, round robin; stream context ids are per VM", async () => {
    t = await fixtureRig({ workers: 2 });
    const a = t.host.newStream(10, recorder());
    const b = t.host.newStream(20, recorder());
    const c = t.host.newStream(10, recorder());
    expect([a.worker, b.worker, c.worker]).toEqual([0, 1, 0]);
    expect(a.contextId).toBe(2);
    expect(b.contextId).toBe(2);
    expect(c.contextId).toBe(3);
  });

  it("serves properties: plugin_root_id/vm_id/name, stream properties, filter state; not legacy top-level names", async () => {
    t = await fixtureRig({ pluginName: "pname", properties: { "custom\u0000key": "cv" } });
    const s = t.host.newStream(1, recorder());
    s.setProperty(["route_name"], "r1");
    s.decodeHeaders(fixtureRequest("props"), true);
    const id = s.contextId;
    // Only Envoy's top-level names are served: a custom top-level name and the legacy route_name
    // (removed in Envoy 1.33; use xds.route_name) are NotFound.
    expect(t.lines(`${id} root_id=`)).toEqual([`${id} root_id=test-root vm_id=vm-a name=pname path=/v1/chat custom=<rc:1> stream=<rc:1> missing=<rc:1>`]);
    // proxy_set_property stores filter state readable by the stream; plugin config is NotFound outside configure.
    expect(t.lines(`${id} state=v1 state-nested=<rc:1> config-in-stream=<rc:1>`)).toHaveLength(1);
  });

  it("shares data across workers by vm_id with one global CAS counter (CasMismatch rules)", async () => {
    t = await fixtureRig();
    const run = (conn: number, extra: Array<[string, string]>): string => {
      const s = t.host.newStream(conn, recorder());
      s.decodeHeaders(fixtureRequest("shared", extra), true);
      s.complete();
      return t.lines(`${s.contextId} shared`).at(-1)!.replace(/^\d+ /, "");
    };
    const first = run(1, [["x-key", "k"], ["x-value", "v1"], ["x-cas", "0"]]);
    const cas1 = Number(/cas=(\d+)/.exec(first)![1]);
    expect(first).toBe(`shared set=0 get=0 value=v1 cas=${cas1}`);
    // Another worker, stale CAS → CasMismatch (8), value unchanged.
    expect(run(2, [["x-key", "k"], ["x-value", "v2"], ["x-cas", String(cas1 + 100)]])).toBe(`shared set=8 get=0 value=v1 cas=${cas1}`);
    // Matching CAS succeeds and takes the next global CAS.
    expect(run(2, [["x-key", "k"], ["x-value", "v3"], ["x-cas", String(cas1)]])).toBe(`shared set=0 get=0 value=v3 cas=${cas1 + 1}`);
    // A missing key with a non-zero CAS succeeds.
    expect(run(1, [["x-key", "other"], ["x-value", "o"], ["x-cas", "77"]])).toBe(`shared set=0 get=0 value=o cas=${cas1 + 2}`);
  });

  it("keeps shared data and stats when a new PluginHost shares the ProcessState (reconfiguration)", async () => {
    const process = new ProcessState();
    const first = await fixtureRig({}, process);
    const s = first.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("shared", [["x-key", "keep"], ["x-value", "me"], ["x-cas", "0"]]), true);
    await first.host.close();
    t = await fixtureRig({ configuration: "ok2" }, process);
    const s2 = t.host.newStream(1, recorder());
    s2.decodeHeaders(fixtureRequest("shared", [["x-key", "keep"], ["x-value", "me2"], ["x-cas", "1"]]), true);
    expect(t.lines("shared set=0 get=0 value=me2")).toHaveLength(1);
  });

  it("metrics: per-VM ids, process-wide values by name, counters only increase", async () => {
    t = await fixtureRig();
    for (const conn of [1, 2]) {
      const s = t.host.newStream(conn, recorder());
      s.decodeHeaders(fixtureRequest("metrics"), true);
    }
    // Same ids on each worker (4 = first counter, 5 = first gauge); values shared by name.
    const lines = t.lines(" metrics ids=");
    expect(lines[0]).toContain("metrics ids=4,5 inc=0 neg=2 zero=2 rec=0 grec=0 ginc=0 c=5 g=5 badType=2 unknown=1");
    expect(lines[1]).toContain("metrics ids=4,5 inc=0 neg=2 zero=2 rec=0 grec=0 ginc=0 c=10 g=5");
    expect(t.host.metrics().sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "level", type: "gauge", value: 5n },
      { name: "reqs", type: "counter", value: 10n },
    ]);
  });

  it("queues: resolve/enqueue/dequeue, on_queue_ready delivered later to the registering VM's root", async () => {
    t = await fixtureRig({ workers: 1 });
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("queue"), true);
    expect(t.lines("queue resolve=0 same=yes enqueue=0 unknown=1 missing=1")).toHaveLength(1);
    expect(t.lines("queue_ready")).toEqual([]);
    await sleep(5);
    expect(t.lines("queue_ready id=1")).toHaveLength(1);
    expect(t.lines("queue_ready")[0]).toMatch(/rc=0 data=hello-2$/);
    expect(t.lines("queue_again rc=7")).toHaveLength(1);
  });

  it("ticks: per-VM timer, delivered to root context 1, never during start", async () => {
    t = await fixtureRig({ workers: 2, configuration: "tick:5" });
    expect(t.lines("tick id=1")).toEqual([]);
    await sleep(40);
    const vms = new Set(t.logs.filter((l) => l.message === "tick id=1").map((l) => l.vm));
    expect([...vms].sort()).toEqual(["worker-0", "worker-1"]);
    await t.host.close();
    const n = t.lines("tick id=1").length;
    await sleep(20);
    expect(t.lines("tick id=1").length).toBe(n);
  });

  it("effective context: unknown id → BadArgument; root id valid; lasts until the callback returns", async () => {
    t = await fixtureRig();
    const s = t.host.newStream(1, recorder());
    s.decodeHeaders(fixtureRequest("effective"), true);
    expect(t.lines(`${s.contextId} effective bad=2 self=0 root=0`)).toHaveLength(1);
    // Effective context = root: request headers are not the root's.
    expect(t.lines(`${s.contextId} via-root=<rc:2>`)).toHaveLength(1);
  });

  it("WASI: fd_write to the log (fd1 info, fd2 error), environ from vm env only, random source, proc_exit returns", async () => {
    const logs: Array<{ level: number; message: string }> = [];
    const err = await PluginHost.create({
      wasm: fixtureWasm("wasi"), rootId: "r", configuration: "", workers: 1, environment: { ONLY: "this" },
      random: (b) => b.fill(7), clockNs: () => 42n, logLevel: 0, logger: (l) => logs.push(l),
    }).catch((e) => e);
    // proc_exit logged and returned; the module's own unreachable then trapped on_configure.
    expect(err.message).toBe("Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable");
    const m = logs.filter((l) => l.message === "to stdout" || l.message === "to stderr").map((l) => [l.level, l.message]);
    expect(m.slice(0, 2)).toEqual([[2, "to stdout"], [4, "to stderr"]]);
    expect(logs.some((l) => l.message === "bad fd errno=8")).toBe(true);
    expect(logs.some((l) => l.message === "environ count=1 first=ONLY=this")).toBe(true);
    expect(logs.some((l) => l.message === "random=7,7")).toBe(true);
    expect(logs.some((l) => l.message === "clock=42")).toBe(true);
    expect(logs.some((l) => l.message === "after proc_exit")).toBe(true);
  });
});
