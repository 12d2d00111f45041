/**
 * PluginHost: loads and links a filter strictly, then runs it like Envoy does: a base VM, a
 * canary VM that must configure successfully, and one VM per worker; streams are pinned to a
 * worker per downstream connection; failed VMs follow the failure policy.
 */
import { PluginLoadError } from "./errors.ts";
import { HttpStreamImpl } from "./http-stream.ts";
import { checkModule, type LinkedModule } from "./link.ts";
import { resolveOptions, type ResolvedOptions } from "./options.ts";
import { ProcessState } from "./process-state.ts";
import type { QueueTarget } from "./shared-queue.ts";
import { CallProfiler } from "./profile.ts";
import { TraceRecorder } from "./trace.ts";
import type { HttpStream, LogRecord, MetricSnapshot, PluginOptions, StreamCallbacks, TraceRecord } from "./types.ts";
import { WasmVm, type VmEnv } from "./vm.ts";

const moduleBytes = new WeakMap<WebAssembly.Module, Uint8Array>();

/** Compiles a module and remembers its bytes, so PluginHost.create can check it strictly. */
export function compilePluginModule(bytes: Uint8Array): WebAssembly.Module {
  const m = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  moduleBytes.set(m, bytes);
  return m;
}

interface WorkerSlot {
  index: number;
  vm: WasmVm;
  generation: number;
}

export class PluginHost {
  readonly process: ProcessState;
  readonly workerCount: number;
  private readonly slots: WorkerSlot[] = [];
  private readonly connections = new Map<number, number>();
  private nextWorker = 0;
  private closed = false;

  private constructor(
    private readonly opts: ResolvedOptions,
    private readonly linked: LinkedModule,
    private readonly module: WebAssembly.Module,
    process: ProcessState,
    private readonly trace: TraceRecorder | null,
    private readonly logs: LogRecord[],
    private readonly prof: CallProfiler | null,
  ) {
    this.process = process;
    this.workerCount = opts.workers;
  }

  static async create(options: PluginOptions, process: ProcessState = new ProcessState()): Promise<PluginHost> {
    const opts = resolveOptions(options);
    const logs: LogRecord[] = [];
    let bytes: Uint8Array | undefined;
    let module: WebAssembly.Module | undefined;
    if (options.wasm instanceof WebAssembly.Module) {
      module = options.wasm;
      bytes = moduleBytes.get(module);
      if (!bytes) {
        throw new PluginLoadError(
          "PluginHost needs the module bytes to check import and export signatures: pass the bytes or a module from compilePluginModule()",
        );
      }
    } else {
      bytes = options.wasm;
    }
    if (opts.flavour === "higress" && opts.allowOnHeadersStopIteration) {
      // Higress's Envoy has no such field (its proxy-wasm fork decides by ABI version instead).
      throw new PluginLoadError("allow_on_headers_stop_iteration is not a field of Higress's wasm plugin configuration", logs);
    }
    const linkResult = checkModule(bytes, opts.flavour);
    if (!linkResult.ok) {
      logs.push({ level: 5, vm: "base", message: `Wasm VM failed ${linkResult.message}` });
      throw new PluginLoadError(linkResult.message, logs);
    }
    try {
      module ??= await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      throw new PluginLoadError(`Failed to load Wasm bytecode: ${(e as Error).message}`, logs);
    }
    const trace = opts.trace ? new TraceRecorder() : null;
    const host = new PluginHost(opts, linkResult.module, module, process, trace, logs, opts.profile ? new CallProfiler() : null);
    host.loading = true;
    try {
      const base = host.newVm("base", { notify: () => {} });
      base.stopTimers();
      const canary = host.newVm("canary", { notify: () => {} });
      const err = canary.startRoot();
      canary.closed = true;
      canary.stopTimers();
      canary.cancelHttpCalls();
      if (err) throw new PluginLoadError(err, logs);
      for (let i = 0; i < opts.workers; i++) {
        const slot: WorkerSlot = { index: i, vm: undefined as unknown as WasmVm, generation: 0 };
        slot.vm = host.startWorkerVm(slot);
        host.slots.push(slot);
      }
    } catch (e) {
      for (const s of host.slots) {
        s.vm.closed = true;
        s.vm.stopTimers();
        s.vm.cancelHttpCalls();
      }
      throw e;
    } finally {
      host.loading = false;
    }
    return host;
  }

  private loading = false;

  private vmEnv(queueTarget: QueueTarget): VmEnv {
    return {
      opts: this.opts,
      process: this.process,
      trace: this.trace,
      profiler: this.prof,
      queueTarget,
      log: (record) => {
        if (this.loading) this.logs.push(record);
        if (record.level >= this.opts.logLevel) this.opts.logger?.(record);
      },
    };
  }

  private newVm(name: string, target: QueueTarget): WasmVm {
    const vm = WasmVm.create(name, this.vmEnv(target), this.linked, this.module);
    if (typeof vm === "string") {
      this.logs.push({ level: 5, vm: name, message: `Wasm VM failed ${vm}` });
      throw new PluginLoadError(vm, this.logs);
    }
    return vm;
  }

  /** A worker VM with the full start sequence; throws PluginLoadError on failure. */
  private startWorkerVm(slot: WorkerSlot): WasmVm {
    const target: QueueTarget = {
      notify: (contextId, token) => {
        const vm = slot.vm;
        if (!vm || vm.failed || vm.closed) return;
        const ctx = vm.contexts.get(contextId);
        if (!ctx || !vm.has("proxy_on_queue_ready")) return;
        vm.call(ctx, "proxy_on_queue_ready", [contextId, token]);
        vm.afterCall();
      },
    };
    const name = slot.generation === 0 ? `worker-${slot.index}` : `worker-${slot.index}#${slot.generation}`;
    const vm = this.newVm(name, target);
    const err = vm.startRoot();
    if (err) {
      vm.closed = true;
      vm.stopTimers();
      vm.cancelHttpCalls();
      throw new PluginLoadError(err, this.logs);
    }
    vm.onFailed = () => {
      for (const ctx of vm.contexts.values()) if (ctx instanceof HttpStreamImpl) ctx.onVmFailed();
    };
    return vm;
  }

  newStream(connectionId: number, callbacks: StreamCallbacks): HttpStream {
    if (this.closed) throw new Error("PluginHost is closed");
    let worker = this.connections.get(connectionId);
    if (worker === undefined) {
      worker = this.nextWorker;
      this.nextWorker = (this.nextWorker + 1) % this.workerCount;
      this.connections.set(connectionId, worker);
    }
    const slot = this.slots[worker]!;
    let usable = true;
    if (slot.vm.failed) {
      if (this.opts.failurePolicy === "FAIL_RELOAD") this.reload(slot);
      else if (this.opts.failurePolicy === "FAIL_OPEN") usable = false;
    }
    return new HttpStreamImpl(worker, slot.vm, callbacks, this.opts, usable);
  }

  /**
   * The downstream connection closed: forget which worker it was pinned to, so the map holds
   * live connections only. Streams already created keep their worker; an id seen again later is
   * a new connection (next worker in round robin), as a new socket would be in Envoy.
   */
  connectionClosed(connectionId: number): void {
    this.connections.delete(connectionId);
  }

  /** Connections currently pinned to a worker (for tests: it must not grow with closed connections). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** FAIL_RELOAD: a fresh VM for the worker (start section, root context, configure). */
  private reload(slot: WorkerSlot): void {
    const old = slot.vm;
    slot.generation++;
    try {
      slot.vm = this.startWorkerVm(slot);
      old.closed = true;
      old.cancelHttpCalls();
    } catch (e) {
      slot.vm = old;
      this.opts.logger?.({ level: 4, vm: `worker-${slot.index}`, message: `VM reload failed: ${(e as Error).message}` });
    }
  }

  metrics(): MetricSnapshot[] {
    return this.process.stats.snapshot();
  }

  traceRecords(): TraceRecord[] {
    return this.trace?.records ?? [];
  }

  /** With PluginOptions.profile: the timer of every VM call and host import (all VMs of this host). */
  profiler(): CallProfiler | null {
    return this.prof;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.vm.shutdown()));
  }
}
