/**
 * Records every host call (`module.name`, e.g. `env.proxy_log`) and every call into the VM
 * (the export name, e.g. `proxy_on_request_headers`), like Envoy's trace-level
 * `[vm->host]` / `[host->vm]` lines.
 */
import type { TraceRecord } from "./types.ts";

export class TraceRecorder {
  readonly records: TraceRecord[] = [];
  record(vm: string, call: string, args: Array<number | bigint | string>, result?: number): void {
    const r: TraceRecord = { vm, call, args };
    if (result !== undefined) r.result = result;
    this.records.push(r);
  }
}
