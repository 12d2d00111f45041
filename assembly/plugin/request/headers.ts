// The request headers the filter needs, read from one get_header_map_pairs: routing inputs, the
// credential a client presented, and which present headers must not go upstream.

import { utf8 } from "../../lib/bytes";
import { MapType, PairsReader, removeHeader, replaceHeader } from "../../host/calls";
import { headerEdit } from "../../host/header_edit";
import { mayPinRoute, pinRoute } from "../../host/routing";
import { CLUSTER_HEADER, PER_TRY_TIMEOUT_HEADER, ROUTE_TIMEOUT_HEADER, UpstreamRequest } from "../../plan/upstream";
import { CLIENT_CREDENTIAL_HEADERS } from "../../provider/route";
import { PIN_HEADER } from "../../config/sections";

const PATH = utf8(":path");
const METHOD = utf8(":method");
const AUTHORITY = utf8(":authority");
const MODEL = utf8("x-ai-model");
const CONTENT_LENGTH = utf8("content-length");
const CONTENT_TYPE = utf8("content-type");

/** Headers that must not go upstream: the client credential headers and our routing header. */
const STRIPPED: string[] = strippedNames();
const STRIPPED_BYTES: Uint8Array[] = [];
/** Bit (n & 63) set when some stripped name is n bytes long: most headers are passed over on their length. */
let strippedLengths: u64 = 0;
for (let i = 0; i < STRIPPED.length; i++) {
  const b = utf8(unchecked(STRIPPED[i]));
  STRIPPED_BYTES.push(b);
  strippedLengths |= <u64>1 << <u64>(b.length & 63);
}

// Values most requests carry, kept as constants: matched as bytes, not decoded.
const KNOWN_METHODS: string[] = ["POST", "GET", "DELETE"];
const KNOWN_METHOD_BYTES: Uint8Array[] = KNOWN_METHODS.map<Uint8Array>((m: string) => utf8(m));
const KNOWN_TYPES: string[] = ["application/json"];
const KNOWN_TYPE_BYTES: Uint8Array[] = KNOWN_TYPES.map<Uint8Array>((m: string) => utf8(m));

function strippedNames(): string[] {
  const out = CLIENT_CREDENTIAL_HEADERS.slice(0);
  if (!out.includes(CLUSTER_HEADER)) out.push(CLUSTER_HEADER);
  out.push(PIN_HEADER);
  return out;
}

const NONE: string[] = [];

export class RequestHeaders {
  path: string = "";
  method: string = "";
  authority: string = "";
  model: string = "";
  hasModel: bool = false;
  contentLength: i64 = -1;
  contentType: string = "";
  bearer: string = "";
  apiKey: string = "";
  xApiKey: string = "";
  /** x-ai-failover-provider's value (a provider pin, when affinity.providerHeader allows it); null: absent. */
  pin: string | null = null;
  /** Present headers that must not go upstream (client credentials, our routing header); shared and empty until one is found. */
  strip: string[] = NONE;
  /** The header map as read (null: none). */
  raw: ArrayBuffer | null;

  /**
   * From the request's header pairs (host/calls.ts getHeaderPairsRaw; null: none), walked as
   * bytes: only the values the filter reads are decoded.
   */
  constructor(pairs: ArrayBuffer | null) {
    this.raw = pairs;
    if (pairs !== null) this.read(pairs);
  }

  private read(pairs: ArrayBuffer): void {
    const r = new PairsReader(pairs);
    while (r.next()) {
      const len = r.nameLen;
      if (len == 0) continue;
      if (load<u8>(r.name) == 0x3a) {
        if (r.nameIs(PATH)) this.path = r.valueString();
        else if (r.nameIs(METHOD)) this.method = r.valueOneOf(KNOWN_METHODS, KNOWN_METHOD_BYTES);
        else if (r.nameIs(AUTHORITY)) this.authority = r.valueString();
        continue;
      }
      if (r.nameIs(MODEL)) { this.model = r.valueString(); this.hasModel = true; }
      else if (r.nameIs(CONTENT_TYPE)) this.contentType = r.valueOneOf(KNOWN_TYPES, KNOWN_TYPE_BYTES);
      else if (r.nameIs(CONTENT_LENGTH)) {
        const t = r.valueString().trim();
        let v: i64 = t.length > 0 && t.length <= 15 ? 0 : -1;
        for (let k = 0; v >= 0 && k < t.length; k++) {
          const c = t.charCodeAt(k);
          v = c >= 0x30 && c <= 0x39 ? v * 10 + <i64>(c - 0x30) : -1;
        }
        this.contentLength = v;
      }
      if ((strippedLengths & (<u64>1 << <u64>(len & 63))) == 0) continue;
      for (let i = 0, ns = STRIPPED_BYTES.length; i < ns; i++) {
        if (!r.nameIs(unchecked(STRIPPED_BYTES[i]))) continue;
        const name = unchecked(STRIPPED[i]);
        if (name == "authorization" && this.bearer.length == 0) {
          const a = r.valueString().trim();
          if (a.length > 7 && a.substring(0, 7).toLowerCase() == "bearer ") this.bearer = a.substring(7).trim();
        } else if (name == "api-key" && this.apiKey.length == 0) this.apiKey = r.valueString().trim();
        else if (name == "x-api-key" && this.xApiKey.length == 0) this.xApiKey = r.valueString().trim();
        else if (name == PIN_HEADER && this.pin === null) this.pin = r.valueString().trim();
        if (this.strip === NONE) this.strip = [];
        if (!this.strip.includes(name)) this.strip.push(name);
        break;
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

/**
 * The request headers as the provider of the in-band attempt must see them. `pairs`: the request's
 * header map as read at its headers (null: unknown), `stripped` the names removed from it since,
 * `dropContentLength`: the body was rewritten (Envoy never recomputes content-length).
 */
export function rewriteRequestHeaders(up: UpstreamRequest, pairs: ArrayBuffer | null, stripped: string[], dropContentLength: bool): void {
  // The cluster first: on Higress the route is matched on it and kept (host/routing.ts). A host
  // that cannot keep it gets the cluster header with the rest. The header stays, kept route or
  // not, until the router took it (the route's request_headers_to_remove drops it): on Higress a
  // plugin after this one that edits request headers without turning re-routing off clears the
  // route cache (the setting is each plugin's own: higress-group/envoy
  // source/extensions/common/wasm/context.h `disable_clear_route_cache_`), and the route matched
  // again must still find the cluster here (test/host/gateway/plugin-order.test.ts).
  const mayPin = pairs === null || mayPinRoute();
  if (mayPin) replaceHeader(MapType.RequestHeaders, CLUSTER_HEADER, up.cluster);
  if (mayPin) pinRoute();
  if (pairs === null) {
    replaceHeader(MapType.RequestHeaders, ":authority", up.authority);
    replaceHeader(MapType.RequestHeaders, ":path", up.path);
    replaceHeader(MapType.RequestHeaders, up.authName, up.authValue);
    // Only when the provider sets them: the router consumes both, the route's own timeout applies otherwise.
    if (up.routeTimeoutMs > 0) replaceHeader(MapType.RequestHeaders, ROUTE_TIMEOUT_HEADER, up.routeTimeoutMs.toString());
    if (up.firstByteMs > 0) replaceHeader(MapType.RequestHeaders, PER_TRY_TIMEOUT_HEADER, up.firstByteMs.toString());
    if (dropContentLength) removeHeader(MapType.RequestHeaders, "content-length");
    return;
  }
  // The rest in one call: the map as read, less what was stripped since, with the same changes
  // in the same order as the calls above (host/header_edit.ts).
  const e = headerEdit.begin();
  for (let i = 0; i < stripped.length; i++) e.remove(unchecked(stripped[i]));
  e.set(CLUSTER_HEADER, up.cluster);
  e.set(":authority", up.authority).set(":path", up.path).set(up.authName, up.authValue);
  if (up.routeTimeoutMs > 0) e.set(ROUTE_TIMEOUT_HEADER, up.routeTimeoutMs.toString());
  if (up.firstByteMs > 0) e.set(PER_TRY_TIMEOUT_HEADER, up.firstByteMs.toString());
  if (dropContentLength) e.remove("content-length");
  e.apply(MapType.RequestHeaders, pairs);
}
