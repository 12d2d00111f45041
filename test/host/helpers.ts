import { readFileSync } from "node:fs";
import { PluginHost, ProcessState, type HeaderList, type LogRecord, type PluginOptions, type StreamCallbacks } from "../../harness/host/index.ts";

const buildDir = new URL("../.build/host/", import.meta.url);

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`${name}.wasm`, buildDir)));
}

export interface TestHost {
  host: PluginHost;
  logs: LogRecord[];
  /** Log messages (any VM) containing `needle`. */
  lines(needle?: string): string[];
}

export async function startHost(opts: Partial<PluginOptions> = {}, process?: ProcessState): Promise<TestHost> {
  const logs: LogRecord[] = [];
  const host = await PluginHost.create(
    {
      wasm: fixture("filter"),
      rootId: "test-root",
      vmId: "vm-a",
      configuration: "ok",
      workers: 2,
      logger: (r) => logs.push(r),
      logLevel: 0,
      ...opts,
    },
    process,
  );
  return {
    host,
    logs,
    lines: (needle = "") => logs.map((l) => l.message).filter((m) => m.includes(needle)),
  };
}

export type StreamEvent =
  | { ev: "reqHeaders"; headers: HeaderList; end: boolean }
  | { ev: "reqData"; data: string; end: boolean }
  | { ev: "reqTrailers"; trailers: HeaderList }
  | { ev: "localReply"; status: number }
  | { ev: "respHeaders"; headers: HeaderList; end: boolean }
  | { ev: "respData"; data: string; end: boolean }
  | { ev: "respTrailers"; trailers: HeaderList }
  | { ev: "reset"; reason: string };

export function recorder(): StreamCallbacks & { events: StreamEvent[]; kinds(): string[] } {
  const events: StreamEvent[] = [];
  const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
  return {
    events,
    kinds: () => events.map((e) => e.ev),
    onRequestHeaders: (headers, end) => events.push({ ev: "reqHeaders", headers, end }),
    onRequestData: (d, end) => events.push({ ev: "reqData", data: text(d), end }),
    onRequestTrailers: (trailers) => events.push({ ev: "reqTrailers", trailers }),
    onLocalReply: (status) => events.push({ ev: "localReply", status }),
    onResponseHeaders: (headers, end) => events.push({ ev: "respHeaders", headers, end }),
    onResponseData: (d, end) => events.push({ ev: "respData", data: text(d), end }),
    onResponseTrailers: (trailers) => events.push({ ev: "respTrailers", trailers }),
    onReset: (reason) => events.push({ ev: "reset", reason }),
  };
}

export function req(test: string, extra: HeaderList = []): HeaderList {
  return [[":method", "POST"], [":path", "/v1/chat"], [":authority", "gw"], ["x-test", test], ...extra];
}

export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));

export function header(list: HeaderList | undefined, name: string): string | undefined {
  return list?.find(([k]) => k === name)?.[1];
}

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
