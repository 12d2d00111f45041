// A provider record's fingerprint: changes when anything that decides where requests go or
// which key they carry changes (type, cluster, host, basePath, api, apiVersion, deployments,
// credential). The credential enters only as its FNV-1a 32 hash, so the fingerprint is safe to
// log and to store in shared data. An OpenAI provider's `models` (list or map to its own names)
// is not part of it: no state is kept per model there, and a rule may serve other models.

import { ProviderConfig } from "./model";
import { Fnv64, fnv1a32, hex } from "../lib/hash";

export function fingerprintOf(p: ProviderConfig): string {
  // The FNV-1a 64 of the record text
  //   type=<t>\ncluster=<c>\nhost=<h>\nbasePath=<b>\napi=<a>\napiVersion=<v>\ndeployments=<k=v;…>\ncredential=<hex8>
  // fed piece by piece (no string is built: 65,536 records at the documented maxima).
  const f = new Fnv64();
  f.str("type=").int(<i32>p.type);
  f.str("\ncluster=").str(p.cluster);
  f.str("\nhost=").str(p.host);
  f.str("\nbasePath=").str(p.basePath);
  f.str("\napi=").int(<i32>p.azureApi);
  f.str("\napiVersion=").str(p.apiVersion);
  f.str("\ndeployments=");
  // Deployments in key order: reordering the map does not change the record.
  if (p.deploymentKeys.length > 0) {
    const keys = p.deploymentKeys.slice(0);
    keys.sort();
    for (let i = 0; i < keys.length; i++) {
      const k = unchecked(keys[i]);
      f.str(k).str("=").str(p.deploymentFor(k)).str(";");
    }
  }
  // Each credential (a key as its hash, an identity as its record's fingerprint), in order.
  for (let i = 0; i < p.credentials.length; i++) {
    const c = unchecked(p.credentials[i]);
    const id = c.identity;
    if (id !== null) f.str("\ncredential=identity:").str(id.fingerprint);
    else f.str("\ncredential=").hex(<u64>fnv1a32(c.reveal()), 8);
  }
  if (p.quotaPerCredential) f.str("\nquota=perCredential");
  return hex(f.h, 16);
}
