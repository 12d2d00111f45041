// Header rewrites go to the host as one set_header_map_pairs (assembly/host/header_edit.ts): the
// maps must end exactly as the remove/replace calls they stand for would leave them (Envoy:
// replace = remove every value + add at the end, pseudo-headers before the others).
import { afterEach, describe, expect, it } from "vitest";
import { HeaderMap } from "../../harness/host/header-map.ts";
import type { HeaderList } from "../../harness/host/types.ts";
import { baseConfig, CHAT_OK, chatBody, EAST_KEY, reqHeaders, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
/** A client's headers: credentials and our routing header (stripped), a repeated header, others. */
const EXTRA: HeaderList = [
  ["x-trace", "1"], ["api-key", "client-secret-key-0000"], ["x-dup", "a"], ["authorization", "Bearer client-secret-key-0000"],
  ["x-dup", "b"], ["x-ai-failover-cluster", "west"], ["user-agent", "t"],
];

describe("header rewrites in one call", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  for (const stream of [false, true]) {
    it(`the request goes upstream as the strip and replace calls would leave it (${stream ? "body rewritten: content-length dropped" : "body as sent"})`, async () => {
      r = await rig(baseConfig());
      const body = chatBody(stream ? { stream: true } : {});
      const f = r.request(PATH, body, EXTRA);
      expect(f.upstreamHeaders, "routed").not.toBeNull();
      const m = new HeaderMap(reqHeaders(PATH, Buffer.from(JSON.stringify(body)), EXTRA));
      // At the request's headers: the client's credentials and routing header go.
      for (const n of ["api-key", "authorization", "x-ai-failover-cluster"]) m.remove(n);
      // At routing (upstream Envoy: nothing to pin): cluster, authority, path, credential.
      m.replace("x-ai-failover-cluster", "east");
      m.replace(":authority", "east.openai.azure.com");
      m.replace(":path", f.up(":path")!);
      m.replace("api-key", EAST_KEY);
      if (stream) m.remove("content-length");
      // A stream gets the default first-byte limit (streaming.firstByteTimeout), as Envoy's per-try timeout.
      if (stream) m.replace("x-envoy-upstream-rq-per-try-timeout-ms", "30000");
      expect(f.upstreamHeaders).toEqual(m.entries);
      expect(f.up(":path")).toContain("/openai/deployments/");
    });
  }

  it("the client gets the answer's headers as the remove and replace calls would leave them", async () => {
    r = await rig(baseConfig());
    const f = r.request(PATH, chatBody());
    const answer: HeaderList = [["x-a", "1"], ["api-key", "echoed"], ["x-ratelimit-remaining-tokens", "5"], ["x-a", "2"], ["x-ai-failover-attempts", "9"]];
    f.respond(200, CHAT_OK, answer);
    f.complete();
    const m = new HeaderMap([[":status", "200"], ["content-type", "application/json"], ...answer]);
    m.remove("api-key");
    m.replace("x-ai-failover-provider", "east");
    m.replace("x-ai-failover-model", "gpt-4o");
    m.replace("x-ai-failover-attempts", "1");
    expect(f.responseHeaders).toEqual(m.entries);
  });

  // The route pin only where the host can keep a route (Higress: legacy `route_name` answered,
  // `node.id` at configure); upstream Envoy ≥ 1.33 answers neither, so nothing is read for it.
  for (const flavour of ["envoy", "higress"] as const) {
    it(`routing a request on ${flavour === "envoy" ? "upstream Envoy: one header call, no route_name read" : "Higress: the cluster header first, then the route_name read"}`, async () => {
      r = await rig(baseConfig(), flavour === "envoy" ? { trace: true } : { trace: true, flavour, allowOnHeadersStopIteration: false });
      const before = r.host.traceRecords().length;
      const f = r.request(PATH, chatBody());
      expect(f.upstreamHeaders, "routed").not.toBeNull();
      const calls = r.host.traceRecords().slice(before).map((t) => t.call);
      const n = (name: string) => calls.filter((c) => c === "env." + name).length;
      expect(n("proxy_set_header_map_pairs")).toBe(1);
      expect(n("proxy_replace_header_map_value")).toBe(flavour === "envoy" ? 0 : 1);
      expect(n("proxy_get_property")).toBe(flavour === "envoy" ? 0 : 1);
      expect(f.up("x-ai-failover-cluster")).toBe("east");
    });
  }
});
