// The request headers the filter needs, read from one get_header_map_pairs: routing inputs, the
// credential a client presented, and which present headers must not go upstream.

import { MapType, removeHeader, replaceHeader } from "../host/calls";
import { pinRoute } from "../host/routing";
import { CLUSTER_HEADER, UpstreamRequest } from "../plan/upstream";
import { isClientCredentialHeader } from "../provider/route";

export class RequestHeaders {
  path: string = "";
  method: string = "";
  authority: string = "";
  model: string = "";
  hasModel: bool = false;
  contentLength: i64 = -1;
  bearer: string = "";
  apiKey: string = "";
  xApiKey: string = "";
  /** Present headers that must not go upstream (client credentials, our routing header). */
  strip: string[] = [];

  constructor(kv: string[]) {
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const name = unchecked(kv[i]);
      const value = unchecked(kv[i + 1]);
      if (name == ":path") this.path = value;
      else if (name == ":method") this.method = value;
      else if (name == ":authority") this.authority = value;
      else if (name == "x-ai-model") { this.model = value; this.hasModel = true; }
      else if (name == "content-length") {
        const t = value.trim();
        let v: i64 = t.length > 0 && t.length <= 15 ? 0 : -1;
        for (let k = 0; v >= 0 && k < t.length; k++) {
          const c = t.charCodeAt(k);
          v = c >= 0x30 && c <= 0x39 ? v * 10 + <i64>(c - 0x30) : -1;
        }
        this.contentLength = v;
      }
      if (isClientCredentialHeader(name) || name == CLUSTER_HEADER) {
        if (name == "authorization" && this.bearer.length == 0) {
          const a = value.trim();
          if (a.length > 7 && a.substring(0, 7).toLowerCase() == "bearer ") this.bearer = a.substring(7).trim();
        } else if (name == "api-key" && this.apiKey.length == 0) this.apiKey = value.trim();
        else if (name == "x-api-key" && this.xApiKey.length == 0) this.xApiKey = value.trim();
        if (!this.strip.includes(name)) this.strip.push(name);
      }
    }
  }

  /** The key a client presented: Bearer token, else api-key, else x-api-key ("" = none). */
  presentedKey(): string {
    if (this.bearer.length > 0) return this.bearer;
    if (this.apiKey.length > 0) return this.apiKey;
    return this.xApiKey;
  }
}

/** The request headers as the provider of the in-band attempt must see them. */
export function rewriteRequestHeaders(up: UpstreamRequest): void {
  // The cluster first: on Higress the route is matched on it and kept (host/route_pin.ts).
  replaceHeader(MapType.RequestHeaders, CLUSTER_HEADER, up.cluster);
  const pinned = pinRoute();
  replaceHeader(MapType.RequestHeaders, ":authority", up.authority);
  replaceHeader(MapType.RequestHeaders, ":path", up.path);
  replaceHeader(MapType.RequestHeaders, up.authName, up.authValue);
  // The kept route has its cluster: the routing header need not reach the provider.
  if (pinned) removeHeader(MapType.RequestHeaders, CLUSTER_HEADER);
}
