// Azure counts quota per deployment: a provider serving gpt-4o and gpt-4o-mini has two windows,
// and a 429 for one says nothing of the other. A rate-limit 429 from a provider with several
// deployments cools down that deployment only (a record in shared data next to the provider's
// state, read when a request needs it); health (auth, 5xx) and insufficient_quota stay per provider.

import { CREATE_CAS, getShared, Result, setShared } from "../host/calls";
import { ProviderConfig } from "../config/model";
import { ProviderSlot } from "../provider/registry";

/** Does `p` keep one cooldown per deployment (it serves more than one)? */
export function perDeployment(p: ProviderConfig): bool {
  return p.deploymentKeys.length > 1;
}

function keyOf(slot: ProviderSlot, deployment: string): string {
  return slot.stateKey + "/deployment/" + deployment;
}

/** Until when `deployment` of the slot's provider is cooling down (0: it is not). */
export function deploymentCooldown(slot: ProviderSlot, deployment: string): i64 {
  const v = getShared(keyOf(slot, deployment));
  if (v.result != Result.Ok || v.value.byteLength != 8) return 0;
  return load<i64>(changetype<usize>(v.value));
}

/** Cools `deployment` down until `untilMs` (a later cooldown already there is kept). */
export function coolDeployment(slot: ProviderSlot, deployment: string, untilMs: i64): void {
  const key = keyOf(slot, deployment);
  for (let i = 0; i < 16; i++) {
    const v = getShared(key);
    if (v.result == Result.Ok && v.value.byteLength == 8 && load<i64>(changetype<usize>(v.value)) >= untilMs) return;
    const buf = new ArrayBuffer(8);
    store<i64>(changetype<usize>(buf), untilMs);
    if (setShared(key, buf, v.result == Result.Ok ? v.cas : CREATE_CAS) != Result.CasMismatch) return;
  }
}
