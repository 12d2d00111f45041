// Story 4 replayed (harness/replay/scenarios/ptu-payg.yaml): PTU 10k TPM primary, PAYG 100k TPM
// spillover, requests of 1,100–1,400 tokens, 3 then 32 concurrent clients for 2 simulated minutes
// each (6 s windows: ×10 compression), 2 worker VMs. Run against ai-failover and against the
// APIM-style baseline (counts tokens only after responses), both reported side by side.
// While ai-failover is under that load, the official openai SDK (OpenAI and AzureOpenAI, own
// retries off) calls through the gateway, streaming and not.
import OpenAI, { AzureOpenAI } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatComparison } from "../../harness/replay/report.ts";
import type { PhaseSpan } from "../../harness/replay/runner.ts";
import { replay, sleep, type Replayed } from "../support/stack.ts";

interface SdkCall {
  phase: string;
  client: "OpenAI" | "AzureOpenAI";
  stream: boolean;
  status: number;
  provider?: string;
  content: string;
  finish?: string | null;
  chunks: number;
  error?: string;
}

// ~1,200 tokens like the replayed load: a 400-token prompt estimate plus max_tokens 800.
const PROMPT = "lorem ipsum dolor sit amet ".repeat(58);

async function sdkRound(url: string, phase: string, out: SdkCall[]): Promise<void> {
  const clients = {
    OpenAI: new OpenAI({ baseURL: `${url}/v1`, apiKey: "sdk-client-key", maxRetries: 0, timeout: 20_000 }),
    AzureOpenAI: new AzureOpenAI({ endpoint: url, apiKey: "sdk-client-key", apiVersion: "2024-10-21", deployment: "gpt-4o", maxRetries: 0, timeout: 20_000 }),
  };
  for (const [name, client] of Object.entries(clients) as Array<[SdkCall["client"], OpenAI]>) {
    for (const stream of [false, true]) {
      const call: SdkCall = { phase, client: name, stream, status: 0, content: "", chunks: 0 };
      try {
        const params = { model: "gpt-4o", messages: [{ role: "user" as const, content: PROMPT }], max_tokens: 800 };
        if (stream) {
          const { data, response } = await client.chat.completions.create({ ...params, stream: true }).withResponse();
          call.status = response.status;
          call.provider = response.headers.get("x-ai-failover-provider") ?? undefined;
          for await (const chunk of data) {
            call.chunks += 1;
            call.content += chunk.choices[0]?.delta?.content ?? "";
            call.finish = chunk.choices[0]?.finish_reason ?? call.finish;
          }
        } else {
          const { data, response } = await client.chat.completions.create(params).withResponse();
          call.status = response.status;
          call.provider = response.headers.get("x-ai-failover-provider") ?? undefined;
          call.content = data.choices[0]?.message.content ?? "";
          call.finish = data.choices[0]?.finish_reason;
        }
      } catch (e) {
        call.status = (e as { status?: number }).status ?? 0;
        call.error = (e as Error).message;
      }
      out.push(call);
    }
  }
}

describe("scenario ptu-payg: PTU primary, PAYG spillover, 3 then 32 clients (story 4)", () => {
  let ours: Replayed;
  let base: Replayed;
  const sdk: SdkCall[] = [];

  beforeAll(async () => {
    // Two SDK rounds per phase, while the replayed clients load the gateway.
    const onPhase = async (ph: PhaseSpan, ctx: { url: string; t0: number }) => {
      for (const at of [1500, 7000]) {
        await sleep(Math.max(0, ctx.t0 + ph.start + at - Date.now()));
        await sdkRound(ctx.url, ph.name, sdk);
      }
    };
    ours = await replay("ptu-payg", "ai-failover", { onPhase, logLevel: 1 });
    base = await replay("ptu-payg", "baseline");
    console.log(`ptu-payg, ours beside the baseline:\n${formatComparison([ours.report, base.report])}`);
  }, 150_000);
  afterAll(() => {
    const by = (c: SdkCall) => `${c.client}${c.stream ? " stream" : ""}`;
    console.log("openai SDK calls during the load:", sdk.map((c) => `${c.phase} ${by(c)} → ${c.status} ${c.provider ?? c.error ?? ""}`));
  });

  it.each(["3-clients", "32-clients"])("%s: zero 429s (and no other failure) reach the clients", (phase) => {
    const p = ours.report.phases.find((x) => x.name === phase)!;
    expect(p.requests).toBeGreaterThan(20);
    expect({ c429: p.c429, c5xx: p.c5xx, c4xx: p.c4xx, noAnswer: p.noAnswer, brokenStreams: p.brokenStreams }).toEqual({
      c429: 0, c5xx: 0, c4xx: 0, noAnswer: 0, brokenStreams: 0,
    });
    // Both providers served: PTU first, PAYG took what PTU could not.
    expect(p.servedBy["aoai-east-ptu"]).toBeGreaterThan(0);
    expect(p.servedBy["aoai-west-payg"]).toBeGreaterThan(0);
  });

  it.each(["3-clients", "32-clients"])("%s: PTU admits at least 0.85 of its per-window token budget in every complete window (no premature spillover)", (phase) => {
    const ptu = ours.report.providers.find((p) => p.name === "aoai-east-ptu")!;
    const windows = ptu.windows.filter((w) => w.complete && w.phase === phase);
    expect(windows.length).toBeGreaterThanOrEqual(1);
    for (const w of windows) expect(w.utilization, `PTU window at ${w.start}ms: ${w.admittedTokens} tokens`).toBeGreaterThanOrEqual(0.85);
  });

  it("neither mock rejects a request for exceeding its limit more than a handful of times", () => {
    const counts = Object.fromEntries(ours.report.providers.map((p) => [p.name, p.limitRejections]));
    console.log("provider-side limit rejections (ai-failover):", counts, "baseline:", Object.fromEntries(base.report.providers.map((p) => [p.name, p.limitRejections])));
    for (const n of Object.values(counts)) expect(n).toBeLessThanOrEqual(5);
  });

  it("no mock ever saw a foreign or empty credential (ai-failover and baseline)", () => {
    expect(ours.report.credentialProblems).toEqual([]);
    expect(base.report.credentialProblems).toEqual([]);
    // The clients' own tokens went nowhere.
    for (const p of ours.res.providers) {
      expect(p.records.some((r) => JSON.stringify(r.headers).includes("replay-client-token") || JSON.stringify(r.headers).includes("sdk-client-key"))).toBe(false);
    }
  });

  it("the openai SDK (OpenAI and AzureOpenAI, maxRetries 0) gets 200s through the gateway under load, streaming and not", () => {
    expect(sdk).toHaveLength(16);
    for (const c of sdk) {
      expect(c, `${c.phase} ${c.client} stream=${c.stream}: ${c.error ?? ""}`).toMatchObject({ status: 200 });
      expect(c.content.length).toBeGreaterThan(0);
      expect(c.finish).toBe("stop");
      expect(["aoai-east-ptu", "aoai-west-payg"]).toContain(c.provider);
      if (c.stream) expect(c.chunks).toBeGreaterThan(1);
    }
  });

  it("requests were routed on both worker VMs", () => {
    const vms = new Set(ours.res.logs.filter((l) => l.message.startsWith("ai-failover: chat model=gpt-4o")).map((l) => l.vm));
    expect(vms).toEqual(new Set(["worker-0", "worker-1"]));
  });

  it("the baseline ran the same scenario and is reported beside ours", () => {
    expect(base.report.phases.map((p) => p.name)).toEqual(["3-clients", "32-clients"]);
    expect(base.report.phases.every((p) => p.requests > 20)).toBe(true);
    const table = formatComparison([ours.report, base.report]);
    expect(table).toContain("baseline");
    expect(table).toContain("ai-failover");
  });
});
