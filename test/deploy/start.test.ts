/**
 * `npm start` (startLocalStack): one mock provider per provider of envoy/local.yaml's plugin
 * configuration, on that provider's cluster port and accepting exactly its key; the gateway on the
 * same file; a curl line that works (start sends it once and reports the outcome).
 * Needs the product build (build/ai-failover.wasm; `npm test` builds it first).
 */
import { afterAll, describe, expect, it } from "vitest";
import { startLocalStack, startMockProviders, type LocalStack } from "../../harness/cli/start.ts";
import { deadPort, localBootstrap, request, ROOT } from "../support/stack.ts";

let stack: LocalStack | undefined;
afterAll(async () => {
  await stack?.stop();
});

describe("npm start", () => {
  it("starts the mocks from the plugin configuration, the gateway, and prints a curl line", async () => {
    const [east, west] = [await deadPort(), await deadPort()];
    let printed = "";
    stack = await startLocalStack({
      root: ROOT,
      bootstrapText: localBootstrap({ east, west }),
      build: false,
      workers: 1,
      logLevel: 4,
      out: { write: (s: string) => (printed += s) },
    });
    expect(stack.providers.map((p) => [p.name, p.url])).toEqual([
      ["aoai-east-ptu", `http://127.0.0.1:${east}`],
      ["aoai-west-payg", `http://127.0.0.1:${west}`],
    ]);
    // Each mock serves its provider's deployment and accepts exactly the key local.yaml gives the filter.
    const call = (port: number, deployment: string, key: string) =>
      request(`http://127.0.0.1:${port}`, {
        method: "POST",
        path: `/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`,
        headers: { "api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
      });
    expect((await call(east, "gpt4o-ptu", "mockkey-east-Qz7WkP3xRmT9vLs2")).status).toBe(200);
    expect((await call(west, "gpt4o-payg", "mockkey-west-Hy4NqJ8wXcV6bGt5")).status).toBe(200);
    expect((await call(east, "gpt4o-ptu", "mockkey-west-Hy4NqJ8wXcV6bGt5")).status).toBe(401);

    expect(stack.curl).toBe(
      `curl -sS ${stack.gateway.url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'`,
    );
    expect(printed).toContain(stack.curl);
    // The line works: sent once by start itself, answered by the preferred provider with its own key.
    expect(stack.checkStatus).toBe(200);
    expect(printed).toContain("(checked: that request just returned 200)");
    const [ptu] = stack.providers;
    const chat = ptu.records.find((r) => r.path.endsWith("/chat/completions") && r.headers["api-key"]);
    expect(chat?.path).toBe("/openai/deployments/gpt4o-ptu/chat/completions");
    expect(chat?.headers["api-key"]).toBe("mockkey-east-Qz7WkP3xRmT9vLs2");
  });

  it("`ai-failover mocks`: only the mock providers, on the bootstrap's cluster ports, each accepting exactly its key", async () => {
    const [east, west] = [await deadPort(), await deadPort()];
    const { mocks, stop } = await startMockProviders({ root: ROOT, bootstrapText: localBootstrap({ east, west }) });
    try {
      expect(mocks.map((m) => [m.name, m.mock.port, m.key])).toEqual([
        ["aoai-east-ptu", east, "mockkey-east-Qz7WkP3xRmT9vLs2"],
        ["aoai-west-payg", west, "mockkey-west-Hy4NqJ8wXcV6bGt5"],
      ]);
      const call = (port: number, key: string) =>
        request(`http://127.0.0.1:${port}`, {
          method: "POST",
          path: "/openai/deployments/gpt4o-payg/chat/completions?api-version=2024-10-21",
          headers: { "api-key": key, "content-type": "application/json" },
          body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
        });
      expect((await call(west, "mockkey-west-Hy4NqJ8wXcV6bGt5")).status).toBe(200);
      expect((await call(west, "mockkey-east-Qz7WkP3xRmT9vLs2")).status).toBe(401);
      expect(mocks[1]!.mock.credentialsSeen()).toEqual([
        { scheme: "api-key", value: "mockkey-west-Hy4NqJ8wXcV6bGt5" },
        { scheme: "api-key", value: "mockkey-east-Qz7WkP3xRmT9vLs2" },
      ]);
    } finally {
      await stop();
    }
  });
});
