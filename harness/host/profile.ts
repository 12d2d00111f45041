/**
 * Where a filter's time goes, separated from the host's: every call into the VM (proxy_on_*,
 * malloc, _initialize …) and every host import (env.*, WASI) is a frame on one stack; the time
 * between two frame events is charged to the frame on top ("self" time). Self time of export
 * frames is time inside the module (malloc called by a host import counts as module time too);
 * self time of import frames is time in this host's JavaScript. Everything is also charged to
 * the outermost export of the stack (the callback the host made: the "root"), so a callback's
 * inside-module time is its own wasm time without the host imports nested in it.
 *
 * Off unless PluginOptions.profile is set: the VM then binds timed import wrappers; otherwise the
 * only trace left is one null check per call into the VM.
 *
 * Clock: performance.now() (sub-µs resolution in Node). Each frame costs two clock reads and some
 * bookkeeping; calibrate() measures what that adds to a frame's own self time (`selfMs`, per
 * frame) and to its parent's (`parentMs`, per nested frame), and corrected() subtracts both.
 */

export type FrameKind = "module" | "host";

/** Accumulated frame times, per root callback and per frame name. */
export class ProfileSink {
  /** rootId → per-name-id arrays. */
  readonly rows = new Map<number, ProfileRow>();
  row(root: number): ProfileRow {
    let r = this.rows.get(root);
    if (!r) {
      r = new ProfileRow();
      this.rows.set(root, r);
    }
    return r;
  }
}

const CAPACITY = 512;

export class ProfileRow {
  /** Frames entered, by name id. */
  readonly calls = new Float64Array(CAPACITY);
  /** Self time (ms) by name id, clock overhead included. */
  readonly self = new Float64Array(CAPACITY);
  /** Frames entered directly inside a frame of this name, by name id. */
  readonly children = new Float64Array(CAPACITY);
  /** Root frames (times the root callback was called). */
  roots = 0;
}

export interface Calibration {
  /** Clock and bookkeeping charged to a frame's own self time, per frame (ms). */
  selfMs: number;
  /** Charged to the enclosing frame, per nested frame (ms). */
  parentMs: number;
}

export interface FrameStat {
  name: string;
  kind: FrameKind;
  calls: number;
  /** Self time in ms, calibrated clock overhead subtracted. */
  selfMs: number;
}

export interface RootStat {
  /** The callback the host made (outermost export). */
  name: string;
  calls: number;
  /** Calibrated ms inside the module (the callback's own wasm and every nested malloc etc.). */
  moduleMs: number;
  /** Calibrated ms in host imports called from it. */
  hostMs: number;
  /** Every frame under this root, by name (the root itself included). */
  frames: FrameStat[];
}

export interface ProfileSummary {
  moduleMs: number;
  hostMs: number;
  /** Host imports called (import frames). */
  hostCalls: number;
  roots: RootStat[];
  /** Frames by name over all roots. */
  frames: FrameStat[];
}

export class CallProfiler {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];
  readonly kinds: FrameKind[] = [];
  private readonly stack = new Int32Array(1024);
  private depth = 0;
  private last = 0;
  private row: ProfileRow;
  private sinkRef: ProfileSink;
  calibration: Calibration = { selfMs: 0, parentMs: 0 };

  /** `clock`: ms, monotonic (tests pass a scripted one). */
  constructor(private readonly clock: () => number = () => performance.now()) {
    this.sinkRef = new ProfileSink();
    this.row = this.sinkRef.row(0);
  }

  /** The id of a frame name (registered on first use). */
  id(name: string, kind: FrameKind): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      if (this.names.length >= CAPACITY) throw new Error(`CallProfiler: more than ${CAPACITY} frame names`);
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
      this.kinds.push(kind);
    }
    return id;
  }

  get sink(): ProfileSink {
    return this.sinkRef;
  }

  /** Where frames are charged from now on. Only between VM calls (empty stack). */
  set sink(s: ProfileSink) {
    if (this.depth !== 0) throw new Error("CallProfiler: the sink changes only between VM calls");
    this.sinkRef = s;
  }

  get active(): boolean {
    return this.depth > 0;
  }

  enter(id: number): void {
    const t = this.clock();
    const d = this.depth;
    if (d > 0) {
      const top = this.stack[d - 1]!;
      const row = this.row;
      row.self[top]! += t - this.last;
      row.children[top]!++;
      row.calls[id]!++;
    } else {
      const row = (this.row = this.sinkRef.row(id));
      row.roots++;
      row.calls[id]!++;
    }
    this.stack[d] = id;
    this.depth = d + 1;
    this.last = t;
  }

  exit(): void {
    const t = this.clock();
    const d = --this.depth;
    this.row.self[this.stack[d]!]! += t - this.last;
    this.last = t;
  }

  /**
   * Measures the clock overhead per frame: a root frame with `n` empty nested frames, `rounds`
   * times; medians. Uses a scratch sink (the current one is left as it was).
   */
  calibrate(n = 2000, rounds = 15): Calibration {
    const saved = this.sinkRef;
    const root = this.id("(calibration root)", "host");
    const leaf = this.id("(calibration frame)", "host");
    const self: number[] = [];
    const parent: number[] = [];
    // Round 0 warms the JIT and is dropped.
    for (let r = 0; r <= rounds; r++) {
      const s = new ProfileSink();
      this.sink = s;
      this.enter(root);
      for (let i = 0; i < n; i++) {
        this.enter(leaf);
        this.exit();
      }
      this.exit();
      const row = s.row(root);
      if (r === 0) continue;
      const leafSelf = row.self[leaf]! / n;
      self.push(leafSelf);
      // The root's own last segment (its exit) is one frame's self overhead, not a nested frame's.
      parent.push((row.self[root]! - leafSelf) / n);
    }
    this.sink = saved;
    const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!;
    this.calibration = { selfMs: med(self), parentMs: med(parent) };
    return this.calibration;
  }

  /** A sink's figures, calibrated (clock overhead subtracted; may go slightly negative on noise). */
  summarize(sink: ProfileSink): ProfileSummary {
    const { selfMs, parentMs } = this.calibration;
    const all = new Map<number, FrameStat>();
    const roots: RootStat[] = [];
    let moduleMs = 0;
    let hostMs = 0;
    let hostCalls = 0;
    for (const [rootId, row] of sink.rows) {
      if (row.roots === 0) continue;
      const frames: FrameStat[] = [];
      let m = 0;
      let h = 0;
      for (let id = 0; id < this.names.length; id++) {
        const calls = row.calls[id]!;
        if (calls === 0) continue;
        const kind = this.kinds[id]!;
        const ms = row.self[id]! - calls * selfMs - row.children[id]! * parentMs;
        frames.push({ name: this.names[id]!, kind, calls, selfMs: ms });
        if (kind === "module") m += ms;
        else {
          h += ms;
          hostCalls += calls;
        }
        const a = all.get(id) ?? { name: this.names[id]!, kind, calls: 0, selfMs: 0 };
        a.calls += calls;
        a.selfMs += ms;
        all.set(id, a);
      }
      roots.push({ name: this.names[rootId]!, calls: row.roots, moduleMs: m, hostMs: h, frames });
      moduleMs += m;
      hostMs += h;
    }
    return { moduleMs, hostMs, hostCalls, roots, frames: [...all.values()] };
  }
}
