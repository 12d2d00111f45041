// Metrics as an operator scrapes them: the gateway's /stats/prometheus with the bootstrap's
// stats_tags turning the filter's encoded labels into Prometheus labels.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractTags } from "../../harness/gateway/stats.ts";
import { chat, post, sleep, startStack, type Stack } from "../support/stack.ts";

describe("metrics", () => {
  let s: Stack;
  let text = "";
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { interval: "200ms", timeout: "150ms" } }),
      east: { completionTokens: 7 },
    });
    for (let k = 0; k < 3; k++) expect((await post(s.gateway.url, "/v1/chat/completions", chat())).status).toBe(200);
    s.east.setFault({ type: "status", status: 503, count: 1, api: "chat" }); // not a health probe
    expect((await post(s.gateway.url, "/v1/chat/completions", chat())).status).toBe(200);
    await post(s.gateway.url, "/v1/chat/completions", { ...chat(), model: "nope" });
    await sleep(500); // a few ticks: health checks and state gauges
    text = await s.prometheus();
  });
  afterAll(async () => { await s?.close(); });

  const sample = (name: string, labels: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };

  it("counts requests by provider, consumer, model and status class", () => {
    expect(text).toContain("# TYPE ai_failover_requests_total counter");
    expect(sample("ai_failover_requests_total", 'provider="aoai-east-ptu",consumer="none",model="gpt-4o",status_class="2xx"')).toBe(3);
    expect(sample("ai_failover_requests_total", 'provider="aoai-west-payg",consumer="none",model="gpt-4o",status_class="2xx"')).toBe(1);
    expect(sample("ai_failover_requests_total", 'provider="none",consumer="none",model="none",status_class="4xx"')).toBe(1);
  });

  it("counts tokens by type as the provider reported them", () => {
    const served = s.east.records.filter((r) => r.status === 200 && r.method === "POST");
    const input = served.reduce((n, r) => n + r.promptTokens!, 0);
    expect(sample("ai_failover_tokens_total", 'provider="aoai-east-ptu",consumer="none",model="gpt-4o",token_type="input",estimated="false"')).toBe(input);
    expect(sample("ai_failover_tokens_total", 'provider="aoai-east-ptu",consumer="none",model="gpt-4o",token_type="output",estimated="false"')).toBe(7 * served.length);
  });

  it("counts failovers by reason, rejections, health checks; publishes provider state and TTFB", () => {
    expect(sample("ai_failover_failovers_total", 'provider="aoai-east-ptu",reason="unavailable"')).toBe(1);
    expect(sample("ai_failover_rejected_total", 'reason="unknown_model"')).toBe(1);
    expect(sample("ai_failover_health_checks_total", 'provider="aoai-west-payg",result="ok"')).toBeGreaterThanOrEqual(2);
    expect(sample("ai_failover_provider_healthy", 'provider="aoai-east-ptu"')).toBe(1);
    expect(sample("ai_failover_provider_available", 'provider="aoai-west-payg"')).toBe(1);
    expect(sample("ai_failover_provider_remaining_tokens", 'provider="aoai-east-ptu"')).toBeGreaterThan(0);
    expect(text).toContain("# TYPE ai_failover_time_to_first_byte_ms histogram");
    expect(sample("ai_failover_time_to_first_byte_ms_count", 'provider="aoai-east-ptu"')).toBe(3);
    expect(text).toMatch(/ai_failover_time_to_first_byte_ms_bucket\{provider="aoai-east-ptu",le="\+Inf"\} 3/);
  });

  it("extracts tags the way Envoy's stats_tags do (first group removed, second the value)", () => {
    const tags = [{ name: "provider", regex: /(_provider=\.=(.*?);\.;)/ }, { name: "model", regex: /(_model=\.=(.*?);\.;)/ }];
    expect(extractTags("wasmcustom.x_total_provider=.=a.b-c;.;_model=.=gpt-4.1;.;", tags)).toEqual({
      name: "wasmcustom.x_total", tags: [["provider", "a.b-c"], ["model", "gpt-4.1"]],
    });
    expect(extractTags("wasmcustom.plain", tags)).toEqual({ name: "wasmcustom.plain", tags: [] });
  });
});
