import type { LogRecord } from "./types.ts";

/** The plugin could not be loaded or configured (Envoy would reject the filter config). */
export class PluginLoadError extends Error {
  readonly logs: LogRecord[];
  constructor(message: string, logs: LogRecord[] = []) {
    super(message);
    this.name = "PluginLoadError";
    this.logs = logs;
  }
}

/**
 * Thrown by the host *only* where Envoy traps the VM too (a host call during the start section,
 * a restricted callback while the allocator runs). Never used for bad arguments.
 */
export class HostTrap extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostTrap";
  }
}
