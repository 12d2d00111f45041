// The gateway's own /v1/models answer: every model (OpenAI providers) or deployment name
// (Azure providers) the configuration serves, once each. Pure.

import { Config, ProviderType } from "../config/model";
import { ByteBuilder } from "../lib/bytes";
import { writeJsonString } from "../lib/json_text";

export function modelList(cfg: Config): ArrayBuffer {
  const seen = new Array<string>();
  const b = new ByteBuilder(256);
  b.str("{\"object\":\"list\",\"data\":[");
  for (let i = 0; i < cfg.providers.length; i++) {
    const p = unchecked(cfg.providers[i]);
    const names = p.type == ProviderType.AzureOpenAI ? p.deploymentKeys : p.models;
    for (let k = 0; k < names.length; k++) {
      const m = unchecked(names[k]);
      if (seen.includes(m)) continue;
      if (seen.length > 0) b.byte(0x2c);
      seen.push(m);
      b.str("{\"id\":");
      writeJsonString(b, m);
      b.str(",\"object\":\"model\",\"created\":0,\"owned_by\":\"ai-failover\"}");
    }
  }
  b.str("]}");
  return b.finish().buffer;
}
