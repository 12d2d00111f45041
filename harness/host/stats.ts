/**
 * Process-wide stats by name (Envoy scope `wasmcustom.<name>`): metric ids are per VM, the
 * values they point at are shared by every VM (and by a reconfigured PluginHost).
 */
import type { MetricSnapshot } from "./types.ts";

export type StatType = "counter" | "gauge" | "histogram";

export interface Stat {
  name: string;
  type: StatType;
  value: bigint;
  /** Histograms: number of recorded samples. */
  samples: number;
}

export class Stats {
  private readonly stats = new Map<string, Stat>();

  stat(type: StatType, name: string): Stat {
    const key = `${type}\u0000${name}`;
    let s = this.stats.get(key);
    if (!s) {
      s = { name, type, value: 0n, samples: 0 };
      this.stats.set(key, s);
    }
    return s;
  }

  snapshot(): MetricSnapshot[] {
    return [...this.stats.values()].map((s) => ({ name: s.name, type: s.type, value: s.value }));
  }
}
