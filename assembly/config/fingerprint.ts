// A provider record's fingerprint: changes when anything that decides where requests go or
// which key they carry changes (type, cluster, host, basePath, api, apiVersion, deployments,
// credential). The credential enters only as its FNV-1a 32 hash, so the fingerprint is safe to
// log and to store in shared data.

import { ProviderConfig } from "./model";
import { fnv1a32, fnv1a64, hex } from "../lib/hash";

export function fingerprintOf(p: ProviderConfig): string {
  // Deployments in key order: reordering the map does not change the record.
  const keys = p.deploymentKeys.slice(0);
  keys.sort();
  let deployments = "";
  for (let i = 0; i < keys.length; i++) {
    const k = unchecked(keys[i]);
    deployments += k + "=" + p.deploymentFor(k) + ";";
  }
  const record =
    "type=" + (<i32>p.type).toString() +
    "\ncluster=" + p.cluster +
    "\nhost=" + p.host +
    "\nbasePath=" + p.basePath +
    "\napi=" + (<i32>p.azureApi).toString() +
    "\napiVersion=" + p.apiVersion +
    "\ndeployments=" + deployments +
    "\ncredential=" + hex(<u64>fnv1a32(p.credential.reveal()), 8);
  return hex(fnv1a64(record), 16);
}
