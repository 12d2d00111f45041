// JSON written with any whitespace, through the gateway (issue 19): the request scanner (model,
// stream, bounds, store), the stored-object ids read from requests (lib/json_refs.ts) and answers (plugin/affinity.ts),
// and usage read from answers all accept `"key" : value`, tabs and line breaks between tokens,
// exactly as they accept the compact form.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAudit, EAST_KEY, request, startStack, WEST_KEY, type ClientResponse, type Stack } from "../support/stack.ts";

const NAMES = ["aoai-east-ptu", "aoai-west-payg"];
const TEAM = "team-ws-key-0123456789";
const BUDGET = 1_000_000;

/** A JSON text with whitespace around every token: `{ "a" :\t1 ,\n "b" : [ … ] }`. */
function spaced(v: unknown): string {
  if (Array.isArray(v)) return "[ " + v.map(spaced).join(" ,\n\t") + " ]";
  if (v && typeof v === "object") {
    return "{\n  " + Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} :\t${spaced(x)}`).join(" ,\r\n  ") + "\n}";
  }
  return JSON.stringify(v);
}

function postText(s: Stack, path: string, text: string, headers: Record<string, string> = {}): Promise<ClientResponse> {
  const body = Buffer.from(text);
  return request(s.gateway.url, {
    method: "POST", path, body,
    headers: { "content-type": "application/json", "content-length": String(body.length), authorization: `Bearer ${TEAM}`, ...headers },
  });
}

describe("JSON with any whitespace through the gateway", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({
        ...cfg,
        // Equal priority: weighted choice spreads requests over both, unless one holds their state.
        providers: cfg.providers.map((p: any) => ({ ...p, priority: 0, limits: undefined })),
        healthCheck: { enabled: false },
        consumers: [{ name: "team-ws", apiKey: TEAM, tokensPerMinute: BUDGET }],
      }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const mockOf = (name: string) => (name === NAMES[0] ? s.east : s.west);
  const other = (name: string) => (name === NAMES[0] ? s.west : s.east);
  const all = () => [...s.east.records, ...s.west.records];
  const accessLines = () => s.logs.filter((l) => l.message.startsWith("ai-failover access: ")).map((l) => l.message);

  it("a spaced request is read like the compact one: model, stream (usage asked upstream), max_tokens reserved", async () => {
    const body = { model: "gpt-4o", stream: true, max_tokens: 321, messages: [{ role: "user", content: "Hello there" }] };
    const reserved: number[] = [];
    for (const text of [JSON.stringify(body), spaced(body)]) {
      const logged = accessLines().length;
      const before = all().length;
      const r = await postText(s, "/v1/chat/completions", text);
      expect(r.status, r.body).toBe(200);
      expect(r.body).toContain("data: [DONE]");
      const rec = all().slice(before).find((x) => x.method === "POST")!;
      expect(rec.model).toBe("gpt-4o-2024-08-06");
      expect(rec.includeUsage).toBe(true);
      // The consumer's budget left after this request's reservation (budget − charged so far − reservation).
      const line = accessLines().slice(logged)[0]!;
      expect(line).toContain(" stream=true ");
      reserved.push(Number(r.headers["x-ratelimit-remaining-tokens"]));
      const charged = Number(/ prompt_tokens=(\d+)/.exec(line)![1]) + Number(/ completion_tokens=(\d+)/.exec(line)![1]);
      reserved.push(charged);
    }
    // Reservation = budget − remaining − what earlier requests were charged: the same for both texts.
    const [rem1, charged1, rem2] = reserved;
    expect(BUDGET - rem2! - charged1!).toBe(BUDGET - rem1!);
    expect(BUDGET - rem1!).toBeGreaterThanOrEqual(321);
  });

  it("a spaced Responses answer's id is recorded; a spaced follow-up naming it goes to its creator only", async () => {
    const first = await postText(s, "/v1/responses", spaced({ model: "gpt-4o", input: "Tell me a story" }), { "x-mock-json": "spaced" });
    expect(first.status, first.body).toBe(200);
    expect(first.body).toContain('"id": "resp_');
    const owner = String(first.headers["x-ai-failover-provider"]);
    expect(NAMES).toContain(owner);
    const id = JSON.parse(first.body).id as string;
    expect(mockOf(owner).owns(id)).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await postText(s, "/v1/responses", spaced({ model: "gpt-4o", previous_response_id: id, input: `and then ${i}` }), { "x-mock-json": "spaced" });
      expect(r.status, r.body).toBe(200);
      seen.add(String(r.headers["x-ai-failover-provider"]));
    }
    expect([...seen]).toEqual([owner]);
    expect(other(owner).records.filter((r) => r.body.includes(id))).toEqual([]);
  });

  it('"store" : false (spaced) is read: nothing is recorded, so a follow-up looks for its owner on every provider', async () => {
    const first = await postText(s, "/v1/responses", '{"model":"gpt-4o","input":"hi","store" :\tfalse}');
    expect(first.status, first.body).toBe(200);
    const id = JSON.parse(first.body).id as string;
    const before = { east: s.east.records.length, west: s.west.records.length };
    // Not stored by the provider, not recorded by the gateway: each provider is asked and says not found.
    const r = await postText(s, "/v1/responses", JSON.stringify({ model: "gpt-4o", previous_response_id: id, input: "more" }));
    expect(r.status).toBe(400);
    expect(r.body).toContain("previous_response_not_found");
    const asked = [s.east.records.slice(before.east), s.west.records.slice(before.west)].map((recs) => recs.filter((x) => x.body.includes(id)).length);
    expect(asked).toEqual([1, 1]);
  });

  it("the mocks saw only their own keys", () => {
    expect(credentialAudit(s.east, EAST_KEY)).toEqual([]);
    expect(credentialAudit(s.west, WEST_KEY)).toEqual([]);
  });
});
