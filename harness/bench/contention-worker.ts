/**
 * One worker thread of the contention run (contention.ts): its own PluginHost (one worker VM) on
 * the shared SabSharedData, driving requests through the filter as fast as it can once the gate
 * opens. Each admitted request keeps its reservation (its client leaves before any answer).
 */
import { parentPort, workerData } from "node:worker_threads";
import { PluginHost, ProcessState, SabSharedData, type HeaderList, type StreamCallbacks } from "../host/index.ts";

interface Job {
  buffer: SharedArrayBuffer;
  gate: SharedArrayBuffer;
  wasm: Uint8Array;
  configuration: string;
  phases: number[];
}

const job = workerData as Job;
const body = Buffer.from(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 10 }));
const headers: HeaderList = [
  [":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gw.local"], [":scheme", "http"],
  ["content-type", "application/json"], ["content-length", String(body.length)],
];

const host = await PluginHost.create({
  wasm: new Uint8Array(job.wasm), rootId: "ai-failover", allowOnHeadersStopIteration: true, workers: 1,
  configuration: job.configuration, logLevel: 4, logger: () => {},
}, new ProcessState(new SabSharedData(job.buffer)));
const gate = new Int32Array(job.gate);
let conn = 1;

for (let phase = 0; phase < job.phases.length; phase++) {
  parentPort!.postMessage({ ready: phase });
  Atomics.wait(gate, 0, phase); // the gate's value becomes phase + 1 when every thread is ready
  let admitted = 0;
  let refused = 0;
  const other: string[] = [];
  const started = performance.now();
  for (let i = 0; i < job.phases[phase]!; i++) {
    let routed = false;
    let reply = 0;
    const cb: StreamCallbacks = {
      onRequestHeaders: () => { routed = true; }, onRequestData: () => {}, onRequestTrailers: () => {},
      onLocalReply: (s) => { reply = s; }, onResponseHeaders: () => {}, onResponseData: () => {}, onResponseTrailers: () => {}, onReset: () => {},
    };
    const id = conn++;
    const s = host.newStream(id, cb);
    s.decodeHeaders(headers, false);
    s.decodeData(body, true);
    if (routed) admitted++;
    else if (reply === 429) refused++;
    else other.push(`reply ${reply}`);
    s.reset!("downstream_remote_disconnect", "downstream");
    host.connectionClosed(id);
  }
  parentPort!.postMessage({ phase, admitted, refused, other: other.slice(0, 5), otherCount: other.length, ms: performance.now() - started });
}
await host.close();
parentPort!.postMessage({ done: true });
