/**
 * The TCP side of a mock: an HTTP server on 127.0.0.1 that can simulate outages.
 * - "refused": stop listening and drop open connections → clients get ECONNREFUSED.
 * - "reset":   keep listening, reset (TCP RST) every connection as soon as it is accepted.
 * Tracks sockets so close() never leaves a handle behind.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { OutageMode } from "./types.ts";

export class Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private outage: OutageMode | undefined;
  private outageTimer: NodeJS.Timeout | undefined;
  private listening = false;
  private closed = false;
  port = 0;
  connections = 0;
  outageResets = 0;

  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.server = createServer(handler);
    this.server.on("connection", (socket: Socket) => {
      this.connections += 1;
      if (this.outage === "reset") {
        this.outageResets += 1;
        socket.resetAndDestroy();
        return;
      }
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    // A client going away mid-request must not crash the test process.
    this.server.on("clientError", (_err, socket) => socket.destroy());
  }

  async listen(port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once("error", onError);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    this.listening = true;
    const addr = this.server.address();
    if (addr && typeof addr === "object") this.port = addr.port;
    return this.port;
  }

  private dropConnections(reset: boolean): void {
    for (const s of this.sockets) {
      if (reset) s.resetAndDestroy();
      else s.destroy();
    }
    this.sockets.clear();
  }

  private async stopListening(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections(false);
    await closed;
  }

  async startOutage(mode: OutageMode, forMs?: number): Promise<void> {
    await this.endOutage();
    this.outage = mode;
    if (mode === "refused") await this.stopListening();
    else this.dropConnections(true);
    if (forMs !== undefined) {
      this.outageTimer = setTimeout(() => {
        this.endOutage().catch((e: unknown) => console.error(`[mock listener] could not listen again on ${this.port}`, e));
      }, forMs);
    }
  }

  async endOutage(): Promise<void> {
    if (this.outageTimer) clearTimeout(this.outageTimer);
    this.outageTimer = undefined;
    const was = this.outage;
    this.outage = undefined;
    if (was === "refused" && !this.closed) await this.listen(this.port);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.outageTimer) clearTimeout(this.outageTimer);
    this.outageTimer = undefined;
    this.outage = undefined;
    await this.stopListening();
    this.dropConnections(false);
  }
}
