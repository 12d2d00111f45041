// Failover attempts that answer after the client left (orphaned): the attempt's provider and the
// consumer are still settled, each exactly once.
import { afterEach, describe, expect, it } from "vitest";
import type { DispatchResult } from "../../harness/host/index.ts";
import { baseConfig, BEARER, chatBody, CONSUMER_KEY, rig, sleep, until, type HostRig } from "../../harness/rig/host-rig.ts";

function gated(answer: DispatchResult): { release: () => void; script: () => Promise<DispatchResult> } {
  let release!: () => void;
  const gate = new Promise<void>((res) => { release = res; });
  return { release, script: async () => { await gate; return answer; } };
}

describe("failover: attempts that outlive the client", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  // Client disconnect while an http_call failover attempt is in flight: the stream is gone when
  // the attempt answers, and the answer is dropped — the attempt provider's reservation is never
  // settled or released, and its outcome (here a 401: bad key) never reaches passive health.
  it("an attempt that answers after the client left still updates the attempt provider", async () => {
    r = await rig(baseConfig());
    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    r.script.answer = async () => {
      await gate;
      return { kind: "response", headers: [[":status", "401"], ["content-type", "application/json"]], body: Buffer.from('{"error":{"code":"401","message":"Access denied"}}'), trailers: [] };
    };
    const f = r.request("/v1/chat/completions", chatBody());
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    release();
    await new Promise((res) => setTimeout(res, 50));
    const west = r.providerState("west")!;
    expect(west.credentialBad).toBe(true);
    expect(west.requestsReserved).toBe(0n);
  });

  // plugin/request/client_request.ts onLog + plugin/request/attempt.ts onAnswer (the client has gone): the client leaves while a failover
  // attempt is in flight. onLog sees the *previous* attempt's status (503), so it releases the
  // consumer's whole reservation; the orphan handler then settles only the provider. The attempt
  // succeeds and consumes 800 tokens that the consumer is never charged for (repeatable: a
  // client that disconnects after a failover escapes its budget).
  it("a failover attempt that succeeds after the client left is charged to the consumer", async () => {
    r = await rig(baseConfig({ consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000 }] }));
    const g = gated({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":300,"total_tokens":800}}'), trailers: [] });
    r.script.answer = g.script;
    const f = r.request("/v1/chat/completions", chatBody(), [BEARER]);
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    g.release();
    await sleep(50);
    expect(r.providerState("west")!.tokensReserved).toBeGreaterThanOrEqual(800n); // provider side is settled
    expect(r.consumerState("team-a")!.tokensReserved, "consumer budget charged for the attempt's usage").toBeGreaterThanOrEqual(800n);
  });

  // Coverage: an orphaned attempt that succeeds: provider settled once (no double release with
  // onLog), the failed provider released.
  it("orphaned successful attempt: provider counted once", async () => {
    r = await rig(baseConfig());
    const g = gated({ kind: "response", headers: [[":status", "200"], ["content-type", "application/json"]],
      body: Buffer.from('{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":300,"total_tokens":800}}'), trailers: [] });
    r.script.answer = g.script;
    const f = r.request("/v1/chat/completions", chatBody({ max_tokens: 100 }));
    f.respond(503, "unavailable");
    await until(() => r.callouts.length === 1);
    f.reset("downstream_remote_disconnect", "downstream");
    g.release();
    await sleep(50);
    const west = r.providerState("west")!;
    expect(west.requestsReserved).toBe(1n);
    expect(west.tokensReserved).toBe(800n);
    expect(r.providerState("east")!.requestsReserved).toBe(0n);
  });
});
