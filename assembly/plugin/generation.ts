// Which configuration is the current one. A reload starts a new root context (new
// configuration) next to the old one, which lives on while its streams drain — and keeps ticking.
// Each configuration writes its hash and when it was applied under the plugin's name; a root
// whose configuration has been replaced stops its health checks and gauges, so only the current
// configuration probes, with its own keys. Roots of one configuration share one health lease.
// Filter instances that share a vm_id with different configurations must have different plugin
// names (the `name` of the wasm filter config), or the newest would silence the others' probes.

import { fnv1a64, hex } from "../lib/hash";
import { getProperty, getShared, Result, setShared } from "../host/calls";

const PREFIX = "ai-failover/generation/";
const LEASE_PREFIX = "ai-failover/health-lease/";

export class Generation {
  private key: string = PREFIX;
  private hash: u64 = 0;
  private at: i64 = 0;
  /** The health lease of this configuration. */
  leaseKey: string = LEASE_PREFIX;

  /** This root applied `configuration` at `now`: it is the current one from now on. */
  claim(configuration: string, now: i64): void {
    const name = getProperty(["plugin_name"]);
    this.key = PREFIX + (name !== null ? String.UTF8.decode(name) : "");
    this.hash = fnv1a64(configuration);
    this.at = now;
    this.leaseKey = LEASE_PREFIX + hex(this.hash, 16);
    const buf = new ArrayBuffer(16);
    store<u64>(changetype<usize>(buf), this.hash);
    store<i64>(changetype<usize>(buf), now, 8);
    // Unconditional: the newest configuration wins.
    setShared(this.key, buf, 0);
  }

  /** Is this root's configuration still the current one? */
  current(): bool {
    const v = getShared(this.key);
    if (v.result != Result.Ok || v.value.byteLength != 16) return true;
    const p = changetype<usize>(v.value);
    return load<u64>(p) == this.hash || load<i64>(p, 8) < this.at;
  }
}
