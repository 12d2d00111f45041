// Shared data under contention. The ABI has no create-if-absent: a set on an absent key succeeds
// whatever its cas, and cas 0 overwrites (SharedData::set, src/shared_data.cc, proxy-wasm-cpp-host
// and Higress's fork; the harness's SharedData follows it). So a record another worker created
// between our read and our write must not be overwritten: the filter creates with a nonzero cas,
// which fails with CasMismatch when the key exists. The harness runs every VM on one thread;
// SharedData.interleave runs another worker's request exactly between one worker's read and write.
import { afterEach, describe, expect, it } from "vitest";
import { azure, baseConfig, chatBody, EAST_KEY, rig, type HostRig } from "../../harness/rig/host-rig.ts";

const isEastState = (key: string) => key.startsWith("ai-failover/provider/east/");
const config = baseConfig({
  providers: [azure("east", EAST_KEY, 0, { limits: { tokensPerMinute: 1_000_000, requestsPerMinute: 100_000 } })],
  retry: { maxAttempts: 1 },
});

describe("shared data: concurrent workers never lose a reservation", () => {
  let r: HostRig;
  afterEach(async () => { await r?.close(); });

  /** A request on a new connection (the host pins it to the next worker VM), answered 200. */
  function other(): void {
    const g = r.request("/v1/chat/completions", chatBody());
    expect(g.up(":authority"), `other worker's request: ${g.localReply ?? ""} ${g.body}`).toBe("east.openai.azure.com");
  }

  it("a record another worker creates between our read and our write is not overwritten", async () => {
    r = await rig(config, { workers: 2 });
    const shared = r.process.sharedData;
    let notFound = 0;
    shared.interleave = (_vm, key, found) => {
      // The 1st miss on the provider's key is the state load the choice is made on, and the
      // reservation's first CAS round writes over that very read (its value and cas): the other
      // worker reserves right then, between our read and our write.
      if (!isEastState(key) || found || ++notFound !== 1) return;
      shared.interleave = undefined;
      other();
    };
    const f = r.request("/v1/chat/completions", chatBody());
    expect(notFound, "the interleaving ran").toBe(1);
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    const s = r.providerState("east")!;
    expect(s.requestsReserved, "both reservations are in the window").toBe(2n);
  });

  it("losing the CAS race many times in a row is not a 429: the request is admitted, nothing is lost", async () => {
    r = await rig(config, { workers: 2 });
    other(); // the window exists
    const shared = r.process.sharedData;
    let writes = 0;
    shared.interleave = (_vm, key, found) => {
      if (!isEastState(key) || !found) return;
      // Every read of this worker is followed by another worker's write, 40 times over: more
      // lost rounds than one CAS loop allowed before.
      if (++writes > 40) { shared.interleave = undefined; return; }
      const save = shared.interleave;
      shared.interleave = undefined;
      other();
      shared.interleave = save;
    };
    const f = r.request("/v1/chat/completions", chatBody());
    expect(f.localReply, `${f.localReply} ${f.body}`).toBeNull();
    expect(f.up(":authority")).toBe("east.openai.azure.com");
    expect(r.providerState("east")!.requestsReserved).toBe(BigInt(1 + 40 + 1));
  });
});
