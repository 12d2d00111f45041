// One way to finish an attempt (assembly/plugin/request/attempt.ts `finish`): however an attempt ends —
// its answer streamed in-band, a failover answer through http_call while the client waits, or
// that answer arriving after the client left — it is charged by the same rule. Regression: the
// client-left path summed prompt + completion tokens only, so an answer whose usage carries only
// total_tokens (embeddings on some OpenAI-compatible servers) charged the consumer 0.
import { afterEach, describe, expect, it } from "vitest";
import type { DispatchResult } from "../../harness/host/index.ts";
import { azure, baseConfig, BEARER, CONSUMER_KEY, EAST_KEY, ok200, rig, sleep, until, WEST_KEY, type HostRig } from "../../harness/rig/host-rig.ts";
const EMBEDDING = JSON.stringify({ object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }], model: "text-embedding-3-small", usage: { total_tokens: 700 } });
const body = { model: "text-embedding-3-small", input: "hello world" };
const deployments = { deployments: { "text-embedding-3-small": "emb" } };

function gated(answer: DispatchResult): { release: () => void; script: () => Promise<DispatchResult> } {
  let release!: () => void;
  const gate = new Promise<void>((res) => { release = res; });
  return { release, script: async () => { await gate; return answer; } };
}

type Path = "in-band answer" | "failover answer, client waits" | "failover answer, client left";

describe("an attempt is charged the same whichever way it ends", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  it.each<Path>(["in-band answer", "failover answer, client waits", "failover answer, client left"])(
    "embeddings with total_tokens-only usage: %s → the consumer is charged 700 tokens",
    async (path) => {
      r = await rig(baseConfig({
        providers: [azure("east", EAST_KEY, 0, deployments), azure("west", WEST_KEY, 1, deployments)],
        consumers: [{ name: "team-a", apiKey: CONSUMER_KEY, tokensPerMinute: 100000 }],
      }));
      const g = gated(ok200(EMBEDDING));
      r.script.answer = g.script;
      const f = r.request("/v1/embeddings", body, [BEARER]);
      expect(f.up(":authority")).toBe("east.openai.azure.com");
      if (path === "in-band answer") {
        f.respond(200, EMBEDDING);
        f.complete();
        expect(f.status).toBe(200);
      } else {
        f.respond(503, "unavailable");
        await until(() => r.script.calls.length === 1);
        expect(r.script.calls[0]!.cluster).toBe("west");
        if (path === "failover answer, client left") {
          f.reset("downstream_remote_disconnect", "downstream");
          g.release();
          await sleep(50);
        } else {
          g.release();
          await until(() => f.responseEnded);
          f.complete();
          expect(f.status).toBe(200);
          expect(f.header("x-ai-failover-provider")).toBe("west");
        }
      }
      // The consumer's budget settles both ways: reserved at the estimate, charged what was used.
      expect(r.consumerState("team-a")!.tokensReserved).toBe(700n);
      expect(r.consumerState("team-a")!.requestsReserved).toBe(1n);
    },
  );
});
