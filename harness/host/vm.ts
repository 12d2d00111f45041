/**
 * One wasm VM instance (base, canary or a worker), Envoy's WasmBase + V8 for one thread:
 * instantiation with the start section guarded, calls into the module with trap capture,
 * the current/effective context, deferred after-call actions, the allocator, timers.
 */
import { WasmResult } from "./abi.ts";
import { EMPTY } from "./bytes.ts";
import { HostContext, RootContext } from "./context.ts";
import { HostTrap } from "./errors.ts";
import { HOSTCALLS, type Hostcall } from "./hostcalls/index.ts";
import type { LinkedModule } from "./link.ts";
import { VmMemory } from "./memory.ts";
import type { ResolvedOptions } from "./options.ts";
import type { ProcessState } from "./process-state.ts";
import type { CallProfiler } from "./profile.ts";
import type { PendingGrpcCall } from "./grpc-callout.ts";
import { RedisCallouts } from "./redis-callout.ts";
import type { QueueTarget } from "./shared-queue.ts";
import type { Stat } from "./stats.ts";
import type { TraceRecorder } from "./trace.ts";
import type { LogLevel, LogRecord } from "./types.ts";

export interface VmEnv {
  opts: ResolvedOptions;
  process: ProcessState;
  trace: TraceRecorder | null;
  /** Set with PluginOptions.profile: times every call into the VM and every host import. */
  profiler: CallProfiler | null;
  log(record: LogRecord): void;
  queueTarget: QueueTarget;
}

export type CallOutcome = { called: false } | { called: true; trapped: true } | { called: true; trapped: false; value: number };

/** Host calls Envoy still allows while the allocator runs (WasmBase::allocMemory). */
const ALLOWED_DURING_MALLOC = new Set([
  "env.proxy_log",
  "wasi_unstable.fd_write",
  "wasi_snapshot_preview1.fd_write",
  "wasi_unstable.clock_time_get",
  "wasi_snapshot_preview1.clock_time_get",
]);

/** Host calls allowed while _initialize/_start run (WasmBase::startVm), baseline subset. */
const ALLOWED_DURING_START = new Set(
  [
    "env.emscripten_notify_memory_growth",
    "env.proxy_log",
    ...["wasi_unstable", "wasi_snapshot_preview1"].flatMap((m) =>
      [
        "fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get", "clock_time_get",
        "random_get", "fd_fdstat_get", "fd_prestat_get", "fd_prestat_dir_name",
      ].map((n) => `${m}.${n}`),
    ),
  ],
);

function trapMessage(e: unknown): string {
  if (e instanceof Error) return `Uncaught ${e.name}: ${e.message}`;
  return `Uncaught ${String(e)}`;
}

export interface PendingHttpCall {
  abort: AbortController;
  timer?: NodeJS.Timeout;
  /** The router's per-try timer (x-envoy-upstream-rq-per-try-timeout-ms), cleared when headers arrive. */
  perTry?: NodeJS.Timeout;
  done: boolean;
}

export class WasmVm {
  readonly memory: VmMemory;
  readonly contexts = new Map<number, HostContext>();
  readonly vmContext = new RootContext(0);
  root: RootContext | null = null;
  failed = false;
  failMessage = "";
  closed = false;

  private instance!: WebAssembly.Instance;
  private wasmMemory!: WebAssembly.Memory;
  private phase: "instantiate" | "run" = "instantiate";
  private restricted: Set<string> | null = null;
  private current: HostContext | null = null;
  private effectiveId = 0;
  private afterActions: Array<() => void> = [];
  /** Set by send_local_response: the status of the current callback becomes a stop. */
  stopNextIteration = false;
  private nextContextId = 1;

  // Per-VM id spaces (proxy-wasm-cpp-host WasmBase).
  private nextHttpCallId = 0;
  private nextGrpcCallId = 1;
  private nextCounterId = 0;
  private nextGaugeId = 1;
  private nextHistogramId = 2;
  readonly metrics = new Map<number, Stat>();
  readonly httpCalls = new Map<number, PendingHttpCall>();
  readonly grpcCalls = new Map<number, PendingGrpcCall>();
  /** Higress's redis calls (hostcalls registered only when the host plays Higress). */
  readonly redis: RedisCallouts = new RedisCallouts(this);
  private tickTimer: NodeJS.Timeout | null = null;
  private tickPeriod = 0;
  /** on_done returned false: proxy_done is now accepted (Envoy pending_done_). */
  pendingDone = false;
  /** Set when proxy_done was called for the root context during shutdown. */
  doneCalled = false;

  private constructor(
    readonly name: string,
    readonly env: VmEnv,
    readonly linked: LinkedModule,
  ) {
    this.memory = new VmMemory(() => this.wasmMemory);
    this.contexts.set(0, this.vmContext);
  }

  get opts(): ResolvedOptions {
    return this.env.opts;
  }

  /**
   * Instantiates the module (its start section runs here; any host call then is fatal) and runs
   * the WASI entry point. Returns the VM or Envoy's failure message.
   */
  static create(name: string, env: VmEnv, linked: LinkedModule, module: WebAssembly.Module): WasmVm | string {
    const vm = new WasmVm(name, env, linked);
    const imports: WebAssembly.Imports = {};
    for (const imp of linked.info.imports) {
      const ns = (imports[imp.module] ??= {});
      if (imp.kind === "function") {
        ns[imp.name] = vm.wrap(`${imp.module}.${imp.name}`, HOSTCALLS.get(`${imp.module}.${imp.name}`)!);
      } else if (imp.kind === "memory" && imp.memory) {
        const m = imp.memory;
        vm.wasmMemory = new WebAssembly.Memory(
          m.maximum === undefined ? { initial: m.initial } : { initial: m.initial, maximum: m.maximum },
        );
        ns[imp.name] = vm.wasmMemory;
      }
    }
    try {
      vm.instance = new WebAssembly.Instance(module, imports);
    } catch (e) {
      if (vm.startViolation) {
        return (
          `Wasm module called ${vm.startViolation} during instantiation (start section), before any ` +
          `context exists: Envoy crashes here. Top-level code may only register root contexts.`
        );
      }
      return `Failed to create new Wasm instance: ${trapMessage(e)}`;
    }
    vm.phase = "run";
    if (!vm.wasmMemory) {
      const memExport = Object.values(vm.instance.exports).find((x) => x instanceof WebAssembly.Memory);
      if (!memExport) return "Failed to create new Wasm instance: the module has no memory";
      vm.wasmMemory = memExport as WebAssembly.Memory;
    }
    // WasmBase::startVm: WASI reactor or command entry point, with restricted host calls.
    const fns = linked.functions;
    const entries = fns.has("_initialize")
      ? ["_initialize", fns.has("main") ? "main" : fns.has("__main_void") ? "__main_void" : ""]
      : ["_start"];
    for (const entry of entries) {
      if (!entry || !fns.has(entry)) continue;
      vm.restricted = ALLOWED_DURING_START;
      const out = vm.call(vm.vmContext, entry, entry === "main" ? [0, 0] : []);
      vm.restricted = null;
      if (out.called && out.trapped) return vm.failMessage;
    }
    return vm;
  }

  private startViolation: string | null = null;

  /**
   * Wraps a host function: phase/restriction checks, u32 normalisation, never throws into the
   * module. With a profiler, the whole wrapper is one timed host frame (a separate closure, so an
   * unprofiled VM runs exactly the plain wrapper).
   */
  private wrap(key: string, impl: Hostcall): (...args: Array<number | bigint>) => number | undefined {
    const plain = this.wrapPlain(key, impl);
    const prof = this.env.profiler;
    if (!prof) return plain;
    const id = prof.id(key, "host");
    return (...raw: Array<number | bigint>) => {
      prof.enter(id);
      try {
        return plain(...raw);
      } finally {
        prof.exit();
      }
    };
  }

  private wrapPlain(key: string, impl: Hostcall): (...args: Array<number | bigint>) => number | undefined {
    return (...raw: Array<number | bigint>) => {
      const args = raw.map((a) => (typeof a === "number" ? a >>> 0 : a));
      if (this.phase === "instantiate") {
        this.startViolation ??= key;
        throw new HostTrap(`host function ${key} called during instantiation`);
      }
      if (this.restricted && !this.restricted.has(key)) {
        this.env.log({ level: 4, vm: this.name, message: `restricted_callback: ${key}` });
        throw new HostTrap("restricted_callback");
      }
      let result: number | void;
      try {
        result = (impl as (vm: WasmVm, ...a: Array<number | bigint>) => number | void)(this, ...args);
      } catch (e) {
        if (e instanceof HostTrap) throw e;
        this.env.log({ level: 4, vm: this.name, message: `host error in ${key}: ${(e as Error)?.stack ?? e}` });
        result = WasmResult.InternalFailure;
      }
      this.env.trace?.record(this.name, key, args, typeof result === "number" ? result : undefined);
      return typeof result === "number" ? result : undefined;
    };
  }

  // ---- contexts ----------------------------------------------------------------------------

  allocContextId(): number {
    while (this.contexts.has(this.nextContextId)) this.nextContextId++;
    return this.nextContextId++;
  }

  /** contextOrEffectiveContext(). */
  context(): HostContext {
    if (this.effectiveId !== 0) {
      const c = this.contexts.get(this.effectiveId);
      if (c) return c;
    }
    return this.current ?? this.vmContext;
  }

  setEffectiveContext(id: number): number {
    if (!this.contexts.has(id)) return WasmResult.BadArgument;
    this.effectiveId = id;
    return WasmResult.Ok;
  }

  // ---- calls into the VM -------------------------------------------------------------------

  /** A call into the module is running (host calls made now are inside it). */
  get inCall(): boolean {
    return this.current !== null;
  }

  has(name: string): boolean {
    return this.linked.functions.has(name);
  }

  /**
   * Calls an export with `ctx` as the current context (effective context reset for the call).
   * A trap fails the VM. Deferred actions are *not* run here: see afterCall().
   */
  call(ctx: HostContext, name: string, args: number[]): CallOutcome {
    if (this.failed || !this.has(name)) return { called: false };
    const fn = this.instance.exports[name] as (...a: number[]) => number | undefined;
    const savedCurrent = this.current;
    const savedEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    let value: number | undefined;
    const prof = this.env.profiler;
    try {
      if (prof) {
        prof.enter(prof.id(name, "module"));
        try {
          value = fn(...args);
        } finally {
          prof.exit();
        }
      } else value = fn(...args);
    } catch (e) {
      this.env.trace?.record(this.name, name, args);
      this.fail(`Function: ${name} failed: ${trapMessage(e)}`);
      return { called: true, trapped: true };
    } finally {
      this.current = savedCurrent;
      this.effectiveId = savedEffective;
    }
    const v = typeof value === "number" ? value >>> 0 : 0;
    this.env.trace?.record(this.name, name, args, typeof value === "number" ? v : undefined);
    return { called: true, trapped: false, value: v };
  }

  /** Queues an action to run once the current VM call has returned (no re-entrancy). */
  defer(action: () => void): void {
    this.afterActions.push(action);
  }

  /** DeferAfterCallActions: clears the stop flag, then runs queued actions in order. */
  afterCall(): void {
    this.stopNextIteration = false;
    while (this.afterActions.length > 0) this.afterActions.shift()!();
  }

  /** The module's allocator, with Envoy's restricted callbacks. Returns 0 on failure. */
  alloc(size: number): number {
    if (this.failed) return 0;
    const malloc = this.instance.exports[this.linked.allocator] as (n: number) => number;
    const savedRestricted = this.restricted;
    const savedCurrent = this.current;
    const savedEffective = this.effectiveId;
    this.restricted = ALLOWED_DURING_MALLOC;
    this.current = this.vmContext;
    this.effectiveId = 0;
    let p: number;
    const prof = this.env.profiler;
    try {
      if (prof) {
        prof.enter(prof.id(this.linked.allocator, "module"));
        try {
          p = malloc(size) >>> 0;
        } finally {
          prof.exit();
        }
      } else p = malloc(size) >>> 0;
    } catch (e) {
      this.fail(`Function: ${this.linked.allocator} failed: ${trapMessage(e)}`);
      return 0;
    } finally {
      this.restricted = savedRestricted;
      this.current = savedCurrent;
      this.effectiveId = savedEffective;
    }
    this.env.trace?.record(this.name, this.linked.allocator, [size], p);
    if (p === 0 || !this.memory.inBounds(p, size)) return 0;
    return p;
  }

  /** WasmBase::copyToPointerSize: allocate exactly `data.length`, copy, write ptr and size. */
  copyToPointerSize(data: Uint8Array, ptrPtr: number, sizePtr: number): boolean {
    let p = 0;
    if (data.length > 0) {
      p = this.alloc(data.length);
      if (p === 0) return false;
      if (!this.memory.write(p, data)) return false;
    }
    if (!this.memory.writeU32(ptrPtr, p)) return false;
    return this.memory.writeU32(sizePtr, data.length);
  }

  // ---- failure -------------------------------------------------------------------------------

  /** Called (in a microtask) after the VM failed, e.g. to fail streams waiting on it. */
  onFailed: (() => void) | null = null;

  fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.failMessage = message;
    this.env.log({ level: 5, vm: this.name, message: `Wasm VM failed ${message}` });
    this.stopTimers();
    const hook = this.onFailed;
    if (hook) queueMicrotask(hook);
  }

  // ---- logging ---------------------------------------------------------------------------------

  log(level: LogLevel, message: string): void {
    this.env.log({ level, vm: this.name, message });
  }

  // ---- ids ---------------------------------------------------------------------------------------

  nextHttpCallToken(): number {
    this.nextHttpCallId = (this.nextHttpCallId + 4) >>> 0;
    return this.nextHttpCallId;
  }

  /** WasmBase::nextGrpcCallId: 5, 9, 13… (type bits 01). */
  nextGrpcCallToken(): number {
    this.nextGrpcCallId = (this.nextGrpcCallId + 4) >>> 0;
    return this.nextGrpcCallId;
  }

  nextMetricId(type: 0 | 1 | 2): number {
    if (type === 0) return (this.nextCounterId += 4);
    if (type === 1) return (this.nextGaugeId += 4);
    return (this.nextHistogramId += 4);
  }

  // ---- timers --------------------------------------------------------------------------------------

  setTickPeriod(ms: number): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    this.tickPeriod = ms;
    if (ms > 0 && !this.closed && !this.failed) this.armTick();
  }

  private armTick(): void {
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      if (this.closed || this.failed || !this.root) return;
      if (this.has("proxy_on_tick")) {
        this.call(this.root, "proxy_on_tick", [this.root.id]);
        this.afterCall();
      }
      if (this.tickPeriod > 0 && !this.tickTimer && !this.closed && !this.failed) this.armTick();
    }, this.tickPeriod);
  }

  stopTimers(): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    this.tickPeriod = 0;
  }

  /** Cancels outstanding http, gRPC and (Higress) redis calls (no callbacks), like the root context's destructor. */
  cancelHttpCalls(): void {
    for (const call of this.httpCalls.values()) {
      call.done = true;
      if (call.timer) clearTimeout(call.timer);
      if (call.perTry) clearTimeout(call.perTry);
      call.abort.abort();
    }
    this.httpCalls.clear();
    for (const call of this.grpcCalls.values()) {
      call.done = true;
      if (call.timer) clearTimeout(call.timer);
      call.abort.abort();
    }
    this.grpcCalls.clear();
    this.redis.cancelAll();
  }

  // ---- start sequence ------------------------------------------------------------------------------

  /**
   * ContextBase::onStart + onConfigure for root context 1: on_context_create(1, 0) and
   * on_configure with the plugin configuration readable; on_vm_start(1, vm_config_size).
   * Returns null or Envoy's failure message.
   */
  startRoot(): string | null {
    const root = new RootContext(this.allocContextId());
    this.root = root;
    this.contexts.set(root.id, root);
    if (this.has("proxy_on_context_create")) {
      root.configWindow = true;
      const out = this.call(root, "proxy_on_context_create", [root.id, 0]);
      root.configWindow = false;
      root.created = true;
      this.afterCall();
      if (out.called && out.trapped) return this.failMessage;
    }
    root.created = true;
    if (this.has("proxy_on_vm_start")) {
      const out = this.call(root, "proxy_on_vm_start", [root.id, this.opts.vmConfiguration.length]);
      this.afterCall();
      if (out.called && out.trapped) return this.failMessage;
      if (out.called && out.value === 0) return "Failed to start base Wasm";
    }
    if (this.has("proxy_on_configure")) {
      root.configWindow = true;
      const out = this.call(root, "proxy_on_configure", [root.id, this.opts.configuration.length]);
      root.configWindow = false;
      this.afterCall();
      if (out.called && out.trapped) return this.failMessage;
      if (out.called && out.value === 0) return "Failed to configure base Wasm plugin";
    }
    return null;
  }

  /** Shutdown of the root context: on_done, then on_delete (now, or after proxy_done). */
  shutdown(): Promise<void> {
    this.closed = true;
    this.stopTimers();
    this.cancelHttpCalls();
    const root = this.root;
    if (!root || this.failed || !root.created) return Promise.resolve();
    let done = true;
    if (this.has("proxy_on_done")) {
      const out = this.call(root, "proxy_on_done", [root.id]);
      this.afterCall();
      done = !out.called || out.trapped || out.value !== 0;
    }
    const finish = (): void => {
      if (this.failed) return;
      if (this.has("proxy_on_delete")) {
        this.call(root, "proxy_on_delete", [root.id]);
        this.afterCall();
      }
      this.contexts.delete(root.id);
    };
    if (done || this.doneCalled) {
      finish();
      return Promise.resolve();
    }
    // on_done returned false: Envoy waits for proxy_done; bounded here.
    this.pendingDone = true;
    return new Promise((resolve) => {
      const started = Date.now();
      const poll = (): void => {
        if (this.doneCalled || this.failed || Date.now() - started > 2000) {
          finish();
          resolve();
        } else setTimeout(poll, 5);
      };
      poll();
    });
  }

  /** Empty Uint8Array helper for hostcalls. */
  static readonly EMPTY = EMPTY;
}
