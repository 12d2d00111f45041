// Every example configuration in README.md and docs/*.md runs against the local mocks (issue 12;
// the reference sections moved to docs/ in issue 21, and the examples with them): the JSON
// blocks that are a configuration (or one provider) are wrapped by `ai-failover bootstrap`'s
// generator (harness/cli/local-bootstrap.ts), the mocks start as `ai-failover mocks FILE` starts
// them (each on its cluster's port, honouring its basePath), and the gateway serves every model
// the example names with 200 — and no provider's health probe gets a 404 (a mock that ignored
// basePath answered the Groq-style example's chat with 404 and its probe at the wrong path).
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { localBootstrapFor } from "../../harness/cli/local-bootstrap.ts";
import { startMockProviders, type StartedMock } from "../../harness/cli/start.ts";
import { loadBootstrap, startGateway } from "../../harness/gateway/index.ts";
import { deadPort, post, ROOT } from "../support/stack.ts";

type Provider = { name: string; type: string; cluster: string; deployments?: Record<string, string>; models?: string[] };

/** The user documentation: the README and the pages of docs/. */
const PAGES = ["README.md", ...readdirSync(`${ROOT}docs`).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];

/** The JSON blocks of the pages that are a plugin configuration, or one provider (wrapped). */
function examples(): Array<{ title: string; page: string; config: { providers: Provider[] } }> {
  const out: Array<{ title: string; page: string; config: { providers: Provider[] } }> = [];
  for (const page of PAGES) {
    const text = readFileSync(`${ROOT}${page}`, "utf8");
    for (const m of text.matchAll(/```json\n([\s\S]*?)```/g)) {
      let v: any;
      try { v = JSON.parse(m[1]!); } catch { continue; } // an excerpt with "…"
      if (Array.isArray(v?.providers) && v.providers.every((p: any) => p?.type && p?.cluster)) out.push({ title: v.providers.map((p: Provider) => p.name).join(" + "), page, config: v });
      else if (v?.type && v?.cluster && v?.name) out.push({ title: v.name, page, config: { providers: [v] } });
    }
  }
  return out;
}

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => { while (closers.length) await closers.pop()!(); });

describe("README and docs/ example configurations run against the local mocks", () => {
  const list = examples();
  it("finds the examples (three providers in the README; Azure classic, Azure v1, OpenAI + an OpenAI-compatible endpoint under /openai/v1 in docs/configuration.md)", () => {
    const found = list.map((e) => `${e.page}: ${e.title}`);
    for (const want of ["README.md: aoai-east-ptu + aoai-west-payg + openai", "docs/configuration.md: aoai-east-ptu + aoai-west-payg",
      "docs/configuration.md: aoai-swe-v1", "docs/configuration.md: openai + groq"]) expect(found).toContain(want);
    expect(list.some((e) => e.config.providers.some((p: any) => p.basePath === "/openai/v1"))).toBe(true);
  });

  it.each(list.map((e) => [`${e.page}: ${e.title}`, e] as const))("%s", async (_title, ex) => {
    const clusters = [...new Set(ex.config.providers.map((p) => p.cluster))];
    const ports = await Promise.all(clusters.map(() => deadPort()));
    const text = localBootstrapFor(ROOT, ex.config, { ports, listenerPort: 0, adminPort: 0 });
    const { mocks, stop } = await startMockProviders({ root: ROOT, bootstrapText: text });
    closers.push(stop);
    const gw = await startGateway({ bootstrapText: text, baseDir: ROOT, workers: 1, logLevel: 3 });
    closers.push(() => gw.close());
    for (const p of ex.config.providers) {
      for (const model of [...Object.keys(p.deployments ?? {}), ...(p.models ?? [])]) {
        const embeddings = model.includes("embedding");
        const r = await post(gw.url, embeddings ? "/v1/embeddings" : "/v1/chat/completions",
          embeddings ? { model, input: "hello" } : { model, messages: [{ role: "user", content: "hi" }], max_tokens: 10 });
        expect(r.status, `${model}: ${r.body.slice(0, 200)}`).toBe(200);
        expect(ex.config.providers.map((x) => x.name)).toContain(r.headers["x-ai-failover-provider"]);
      }
    }
    // Every request a mock saw succeeded (chat and health probes alike): nothing hit a path outside its basePath.
    const seen = mocks.flatMap((m: StartedMock) => m.mock.records.map((r: any) => `${m.name} ${r.method} ${r.path} ${r.status}`));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((l) => !l.endsWith(" 200"))).toEqual([]);
  });
});

describe("envoy/three-providers.yaml", () => {
  it("embeds exactly the README's three-provider example (made by ai-failover bootstrap; regenerate it when the example changes)", () => {
    const text = readFileSync(`${ROOT}README.md`, "utf8");
    const at = text.indexOf("For example, three providers");
    const block = /```json\n([\s\S]*?)```/.exec(text.slice(at))![1]!;
    const boot = loadBootstrap(readFileSync(`${ROOT}envoy/three-providers.yaml`, "utf8"), { baseDir: ROOT });
    expect(JSON.parse(boot.wasm.configuration)).toEqual(JSON.parse(block));
    expect([...boot.clusters.keys()]).toEqual(["aoai-east", "aoai-west", "openai"]);
  });
});
