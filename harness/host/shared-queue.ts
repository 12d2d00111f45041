/**
 * Process-wide shared queues (proxy-wasm-cpp-host src/shared_queue.cc). Tokens are global and
 * never 0. Registering an existing (vm_id, name) re-targets delivery and keeps pending data.
 * on_queue_ready is posted (never inline) to the registering VM's root context.
 */
import { WasmResult } from "./abi.ts";

export interface QueueTarget {
  /** Delivers on_queue_ready(context_id, token) on the registering worker's current VM. */
  notify(contextId: number, token: number): void;
}

interface Queue {
  items: Uint8Array[];
  target: QueueTarget;
  contextId: number;
}

export class SharedQueues {
  private readonly tokens = new Map<string, number>();
  private readonly queues = new Map<number, Queue>();
  private nextToken = 1;

  private key(vmId: string, name: string): string {
    return `${vmId}\u0000${name}`;
  }

  register(vmId: string, name: string, contextId: number, target: QueueTarget): number {
    const k = this.key(vmId, name);
    let token = this.tokens.get(k);
    if (token === undefined) {
      do {
        token = this.nextToken;
        this.nextToken = (this.nextToken + 1) >>> 0;
      } while (token === 0 || this.queues.has(token));
      this.tokens.set(k, token);
    }
    const existing = this.queues.get(token);
    this.queues.set(token, { items: existing?.items ?? [], target, contextId });
    return token;
  }

  resolve(vmId: string, name: string): number {
    return this.tokens.get(this.key(vmId, name)) ?? 0;
  }

  enqueue(token: number, data: Uint8Array): number {
    const q = this.queues.get(token);
    if (!q) return WasmResult.NotFound;
    q.items.push(data.slice());
    const { target, contextId } = q;
    setImmediate(() => target.notify(contextId, token));
    return WasmResult.Ok;
  }

  dequeue(token: number): { result: number; data?: Uint8Array } {
    const q = this.queues.get(token);
    if (!q) return { result: WasmResult.NotFound };
    const data = q.items.shift();
    if (!data) return { result: WasmResult.Empty };
    return { result: WasmResult.Ok, data };
  }
}
