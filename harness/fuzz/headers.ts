/**
 * Fuzz class "request headers": every credential spelling a client may send (mixed case,
 * duplicates, empty, Bearer or not, other providers' keys, cookies), a client-sent
 * x-ai-failover-cluster, x-ai-failover-provider pins and affinity session headers, and :authority
 * in every form (port, trailing dot, IPv6, upper case) against a `_match_domain_` rule; with and
 * without consumers.
 *
 * Per case: no trap; a forwarded request carries exactly its provider's key, none of the client's
 * secrets nor another provider's key; the domain rule applies exactly when the host (case, port
 * and trailing dot ignored) is the rule's domain; with consumers, a request without a valid
 * consumer key never goes upstream and the consumer key never does; a pin goes to the named provider
 * of the request's view or is refused (400) once authenticated, and never reaches a provider; no
 * key to the client.
 */
import fc from "fast-check";
import type { HeaderList } from "../host/index.ts";
import { azure, CHAT_OK, chatBody, openai, reqHeaders } from "../rig/host-rig.ts";
import {
  check, ClockRig, clientSeesNoKeys, CREDENTIAL_HEADERS, DOM_KEY, EAST_KEY, linear, noTrap, PROVIDER_KEYS, routedCluster,
  runProperty, WEST_KEY, upstreamCredentials, type ClassResult,
} from "./common.ts";

const KEYS: Record<string, string> = { east: EAST_KEY, west: WEST_KEY, dom: DOM_KEY };
export const CONSUMER = "consumer-key-fuzz-000001";

const config = (consumers: boolean) => ({
  providers: [azure("east", EAST_KEY, 0), azure("west", WEST_KEY, 1)],
  healthCheck: { enabled: false }, retry: { maxAttempts: 2 }, seed: 7,
  affinity: { header: "x-session-id", providerHeader: true },
  _rules_: [{ _match_domain_: ["gw.example"], providers: [openai("dom", DOM_KEY, 0)] }],
  ...(consumers ? { consumers: [{ name: "team", apiKey: CONSUMER }] } : {}),
});

const HOSTS = ["gw.example", "GW.Example", "GW.EXAMPLE", "gw.example.", "sub.gw.example", "gw.example.com", "xgw.example", "gw.local", "127.0.0.1", "[::1]", "[2001:db8::1]", "gw", ""];
const PORTS = ["", ":80", ":8080", ":443", ":65535"];

/** The rule's domain applies: host lower-cased, port and one trailing dot removed. */
export function domainMatches(authority: string): boolean {
  let h = authority.toLowerCase();
  if (!h.startsWith("[")) h = h.replace(/:\d*$/, "");
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h === "gw.example";
}

const mixCase = (name: string, mask: number) => [...name].map((ch, i) => ((mask >> (i % 30)) & 1 ? ch.toUpperCase() : ch)).join("");

interface Cred { name: string; value: string }
const secret = fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((s) => "client-secret-" + s);
const cred: fc.Arbitrary<Cred> = fc.record({
  name: fc.constantFrom(...CREDENTIAL_HEADERS),
  mask: fc.nat(),
  value: fc.oneof(
    secret, secret.map((s) => "Bearer " + s), secret.map((s) => `session=${s}; other=1`), fc.constant(""),
    fc.constantFrom(WEST_KEY, "Bearer " + WEST_KEY, DOM_KEY, "Bearer " + CONSUMER, CONSUMER),
  ),
}).map(({ name, mask, value }) => ({ name: mixCase(name, mask % 4 === 0 ? mask : 0), value }));

export interface HeaderCase {
  consumers: boolean;
  host: string;
  creds: Cred[];
  clusterHeader: string | null;
  /** x-ai-failover-provider as sent (name spelled in mixed case), or null. */
  pin: { name: string; value: string } | null;
  session: string | null;
  stream: boolean;
}

export const headerCase: fc.Arbitrary<HeaderCase> = fc.record({
  consumers: fc.boolean(),
  host: fc.tuple(fc.constantFrom(...HOSTS), fc.constantFrom(...PORTS)).map(([h, p]) => h + p),
  creds: fc.array(cred, { maxLength: 6 }).chain((cs) => fc.boolean().map((dup) => (dup && cs.length ? [...cs, cs[0]!] : cs))),
  clusterHeader: fc.constantFrom(null, "west", "dom", "other"),
  pin: fc.option(fc.record({ mask: fc.nat(), value: fc.constantFrom("east", "west", "dom", "nope", "", " west ", "WEST", "west,east") })
    .map(({ mask, value }) => ({ name: mixCase("x-ai-failover-provider", mask % 3 === 0 ? mask : 0), value })), { nil: null }),
  session: fc.option(fc.string({ maxLength: 20 }).map((v) => v.replace(/[\r\n\0]/g, "")), { nil: null }),
  stream: fc.boolean(),
});

/** Where a pin sends the request: the named provider of the view the host selects, "reject" for a name it lacks, null: no pin. */
export function pinTarget(c: HeaderCase): string | "reject" | null {
  if (c.pin === null) return null;
  const names = domainMatches(c.host) ? ["dom"] : ["east", "west"];
  const v = c.pin.value.trim();
  return names.includes(v) ? v : "reject";
}

const consumerSent = (c: HeaderCase) => c.creds.some((x) => x.value === CONSUMER || x.value === "Bearer " + CONSUMER);

export async function fuzzHeaders(numRuns: number, mode: "assert" | "count", seed?: number): Promise<ClassResult> {
  const rigs = { plain: await new ClockRig(config(false)).start(), consumers: await new ClockRig(config(true)).start() };
  try {
    return await runProperty("request headers", headerCase, async (c) => {
      const r = await (c.consumers ? rigs.consumers : rigs.plain).fresh();
      const body = Buffer.from(JSON.stringify(chatBody({ stream: c.stream })));
      const extra: HeaderList = c.creds.map((x) => [x.name, x.value]);
      if (c.clusterHeader) extra.push(["x-ai-failover-cluster", c.clusterHeader]);
      if (c.pin) extra.push([c.pin.name, c.pin.value]);
      if (c.session !== null) extra.push(["x-session-id", c.session]);
      const h = reqHeaders("/v1/chat/completions", body, extra).map(([k, v]): [string, string] => (k === ":authority" ? [k, c.host] : [k, v]));
      const f = r.open();
      f.callOnRequestHeaders(h, false);
      if (f.localReply === null) f.callOnRequestBody(body, true);
      noTrap(r, "after the request");
      const cluster = routedCluster(f);
      if (c.consumers && !consumerSent(c)) check(f.upstreamHeaders === null && f.localReply === 401, `no consumer key, yet ${f.localReply ?? "forwarded"}`);
      // (A consumer key under a header the gateway does not read is no key either: 401.)
      const authed = !(c.consumers && f.localReply === 401);
      // A pin takes the named provider of the request's view, and only it; an unknown name is a
      // 400 — after authentication, so an anonymous client learns no provider names.
      const pinned = pinTarget(c);
      if (authed && pinned === "reject") check(f.upstreamHeaders === null && f.localReply === 400, `pin ${JSON.stringify(c.pin)} not refused: ${f.localReply ?? cluster}`);
      if (authed && pinned !== null && pinned !== "reject") check(cluster === pinned, `pin ${JSON.stringify(c.pin)} went to ${cluster}`);
      if (cluster !== null) {
        check(f.upAll("x-ai-failover-provider").length === 0, "x-ai-failover-provider went upstream");
        check(cluster in KEYS, `routed to unknown cluster ${cluster}`);
        check((cluster === "dom") === domainMatches(c.host), `:authority ${JSON.stringify(c.host)} went to ${cluster}`);
        const secrets = [...PROVIDER_KEYS, CONSUMER, ...c.creds.map((x) => x.value.replace(/^Bearer /, "").replace(/^session=|; other=1$/g, "")).filter((v) => v.length > 0)];
        upstreamCredentials(f.upstreamHeaders!, f.upstreamBody, KEYS[cluster]!, secrets, "request headers");
        check(f.upAll("x-ai-failover-cluster").length === 1, "x-ai-failover-cluster sent twice");
        if (c.stream) {
          f.callOnResponseHeaders([[":status", "200"], ["content-type", "text/event-stream"], ["api-key", KEYS[cluster]!]], false);
          f.callOnResponseBody("data: [DONE]\n\n", true);
        } else f.respond(200, CHAT_OK, [["authorization", "Bearer " + KEYS[cluster]!]]);
      } else check(f.upstreamHeaders === null, "went upstream without a cluster");
      f.complete();
      noTrap(r, "after the response");
      clientSeesNoKeys(f, "request headers");
    }, numRuns, mode, seed);
  } finally {
    await rigs.plain.close();
    await rigs.consumers.close();
  }
}

/** Linear work: 8× the credential headers (and other headers). */
export async function headersLinear(): Promise<{ small: number; big: number }> {
  const cr = await new ClockRig(config(false)).start();
  try {
    const body = Buffer.from(JSON.stringify(chatBody()));
    const lists = [1, 8].map((n) => reqHeaders("/v1/chat/completions", body, Array.from({ length: 400 * n }, (_, i): [string, string] =>
      [i % 2 ? CREDENTIAL_HEADERS[i % CREDENTIAL_HEADERS.length]! : `x-custom-${i}`, "client-secret-" + i])));
    return await linear("request headers", async (scale) => {
      const r = await cr.fresh();
      const f = r.open();
      f.callOnRequestHeaders(lists[scale === 1 ? 0 : 1]!, false);
      f.callOnRequestBody(body, true);
      check(f.upstreamHeaders !== null, "not forwarded");
      f.respond(200, CHAT_OK);
      f.complete();
      noTrap(r);
    });
  } finally {
    await cr.close();
  }
}
