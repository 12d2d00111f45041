// Issue 19, item 1: an ejection after consecutive failures ends. With active checks on, by
// `healthyThreshold` good probes sent after it began (a GET of the models endpoint that succeeds
// while chat completions fail is the reported case: the ejection used to outlive the outage by
// its whole, doubled, length). With checks off, by one trial request once its time is up: one
// request across all workers, the others keep using the fallback until it answers.
import { afterEach, describe, expect, it } from "vitest";
import { chat, credentialAudit, EAST_KEY, post, sleep, startStack, WEST_KEY, type Stack } from "../support/stack.ts";

interface Sent { at: number; status: number; provider: string; attempts: string }

/** One request every `everyMs` for `totalMs` (times relative to `t0`), each answer noted. */
async function timeline(s: Stack, t0: number, totalMs: number, everyMs = 500): Promise<Sent[]> {
  const out: Sent[] = [];
  for (let k = 0; k * everyMs <= totalMs; k++) {
    const wait = t0 + k * everyMs - Date.now();
    if (wait > 0) await sleep(wait);
    const at = Date.now() - t0;
    const r = await post(s.gateway.url, "/v1/chat/completions", chat());
    out.push({ at, status: r.status, provider: String(r.headers["x-ai-failover-provider"]), attempts: String(r.headers["x-ai-failover-attempts"]) });
  }
  return out;
}

const show = (l: Sent[]) => l.map((x) => `${x.at}ms ${x.status} ${x.provider} ${x.attempts}`).join("\n");
const eastPosts = (s: Stack) => s.east.records.filter((r) => r.method === "POST").length;

/**
 * The primary answers chat completions 503 for 8 s (its models endpoint stays fine), one request
 * every 0.5 s: every client gets 200 (the fallback meanwhile) and the primary serves again within
 * 4 s of recovering, and on from there.
 */
async function outage(s: Stack): Promise<Sent[]> {
  const t0 = Date.now();
  s.east.setFault({ type: "status", status: 503, api: "chat", forMs: 8000 });
  const l = await timeline(s, t0, 13_000);
  expect(l.every((x) => x.status === 200), show(l)).toBe(true);
  // The outage is seen: the primary was tried and failed over, then left out.
  expect(l.slice(0, 3).every((x) => x.attempts === "2" && x.provider === "aoai-west-payg"), show(l)).toBe(true);
  const back = l.findIndex((x) => x.at >= 8000 && x.provider === "aoai-east-ptu");
  expect(back, "the primary never served again\n" + show(l)).toBeGreaterThanOrEqual(0);
  expect(l[back].at - 8000, show(l)).toBeLessThanOrEqual(4000);
  expect(l.slice(back).every((x) => x.provider === "aoai-east-ptu" && x.attempts === "1"), show(l)).toBe(true);
  expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
  expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  return l;
}

describe("an ejection after failures ends", () => {
  let s: Stack | undefined;
  afterEach(async () => { await s?.close(); s = undefined; });

  it("health checks on: good probes sent after the ejection began end it (base ejection 30 s, interval 2 s)", async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { interval: "2s", timeout: "1s", unhealthyThreshold: 2, healthyThreshold: 1 },
        cooldown: { consecutiveFailures: 3, baseEjection: "30s", maxEjection: "5m" },
      }),
    });
    const l = await outage(s);
    expect(s.logs.some((x) => x.message.includes("provider aoai-east-ptu back in service: 1 good health check")), show(l)).toBe(true);
  }, 30_000);

  it("health checks off: one trial request once the ejection's time is up (serves again within maxEjection + one request)", async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        cooldown: { consecutiveFailures: 3, baseEjection: "1s", maxEjection: "2s" },
      }),
    });
    const l = await outage(s);
    // After the first ejection each end of one lets exactly one request try the primary: its
    // failure ejects it again at once, so no two requests in a row fail over.
    const ejected = l.findIndex((x) => x.attempts === "1");
    expect(ejected, show(l)).toBeGreaterThan(0);
    for (let k = ejected + 1; k < l.length; k++) {
      expect(l[k - 1].attempts === "2" && l[k].attempts === "2", "two trials in a row\n" + show(l)).toBe(false);
    }
  }, 30_000);

  it("health checks off: one trial across workers; the others keep using the fallback until it answers", async () => {
    s = await startStack({
      workers: 3,
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        cooldown: { consecutiveFailures: 3, baseEjection: "1s", maxEjection: "10s" },
      }),
    });
    s.east.setFault({ type: "status", status: 503, api: "chat" });
    for (let k = 0; k < 3; k++) expect((await post(s.gateway.url, "/v1/chat/completions", chat())).headers["x-ai-failover-attempts"]).toBe("2");
    expect(eastPosts(s)).toBe(3);
    await sleep(1300); // the ejection's time is up
    // Eight at once, the primary slow to answer (800 ms): exactly one of them tries it.
    const slow = { "x-mock-target": "aoai-east", "x-mock-latency-ms": "800" };
    const burst = await Promise.all(Array.from({ length: 8 }, () => post(s!.gateway.url, "/v1/chat/completions", chat(), slow)));
    expect(burst.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(burst.every((r) => r.headers["x-ai-failover-provider"] === "aoai-west-payg")).toBe(true);
    expect(burst.filter((r) => r.headers["x-ai-failover-attempts"] === "2")).toHaveLength(1);
    expect(eastPosts(s)).toBe(4);
    // The trial failed: ejected again, doubled (2 s). Recovered meanwhile, the next trial closes it.
    s.east.clearFaults();
    await sleep(300);
    expect((await post(s.gateway.url, "/v1/chat/completions", chat())).headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(eastPosts(s)).toBe(4);
    await sleep(2000);
    const again = await Promise.all(Array.from({ length: 8 }, () => post(s!.gateway.url, "/v1/chat/completions", chat(), slow)));
    expect(again.map((r) => r.status)).toEqual(Array(8).fill(200));
    // One trial, answered 200 after 800 ms; the others, all sent while it was out, went to the fallback.
    expect(again.filter((r) => r.headers["x-ai-failover-provider"] === "aoai-east-ptu")).toHaveLength(1);
    expect(eastPosts(s)).toBe(5);
    for (let k = 0; k < 3; k++) {
      const r = await post(s.gateway.url, "/v1/chat/completions", chat());
      expect(r.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
      expect(r.headers["x-ai-failover-attempts"]).toBe("1");
    }
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  }, 30_000);

  it("health checks off: a trial whose answer never comes holds the provider for upstreamTimeout + 1 s at most", async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        healthCheck: { enabled: false },
        upstreamTimeout: "1s",
        cooldown: { consecutiveFailures: 3, baseEjection: "500ms", maxEjection: "10s" },
      }),
    });
    s.east.setFault({ type: "status", status: 503, api: "chat", count: 3 });
    for (let k = 0; k < 3; k++) expect((await post(s.gateway.url, "/v1/chat/completions", chat())).headers["x-ai-failover-attempts"]).toBe("2");
    await sleep(700);
    // The trial hangs and its client gives up: no answer will ever say how it went.
    const gaveUp = await post(s.gateway.url, "/v1/chat/completions", chat(), { "x-mock-target": "aoai-east", "x-mock-fault": "hang" }, 300)
      .then(() => "answered", (e: Error) => e.message);
    expect(gaveUp).toBe("client timeout");
    expect(eastPosts(s)).toBe(4);
    const trialAt = s.east.records.filter((r) => r.method === "POST")[3].time; // chosen before that
    const during = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(during.headers["x-ai-failover-provider"]).toBe("aoai-west-payg");
    expect(during.headers["x-ai-failover-attempts"]).toBe("1");
    // Past the trial's bound (upstreamTimeout 1 s + 1 s): the next request is a new trial, and it succeeds.
    await sleep(Math.max(0, trialAt + 2300 - Date.now()));
    const after = await post(s.gateway.url, "/v1/chat/completions", chat());
    expect(after.status).toBe(200);
    expect(after.headers["x-ai-failover-provider"]).toBe("aoai-east-ptu");
  }, 30_000);
});
