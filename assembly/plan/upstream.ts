// The request a provider receives: the one place that decides :authority, :path, the
// credential header, the cluster and the body for an attempt, whether it goes out in-band (the
// client's held request, rewritten) or through http_call (a failover). Pure: the plugin applies
// the result.

import { ProviderConfig } from "../config/model";
import { RequestScan } from "../lib/json_scan";
import { ApiKind } from "../provider/api";
import { authHeaderName, authHeaderValue, bodyNeedsModel, objectPath } from "../provider/route";
import { shapeBody } from "./body";

/** The header that names the chosen provider's Envoy cluster (the route uses cluster_header). */
export const CLUSTER_HEADER = "x-ai-failover-cluster";
/**
 * Envoy's router reads (and removes) these from the request it routes, in-band or an http_call's
 * (router.cc FilterUtility::finalTimeout): the whole timeout, and the per-try one, which applies
 * only until the response started (router/upstream_request.cc onPerTryTimeout).
 */
export const ROUTE_TIMEOUT_HEADER = "x-envoy-upstream-rq-timeout-ms";
export const PER_TRY_TIMEOUT_HEADER = "x-envoy-upstream-rq-per-try-timeout-ms";

export class UpstreamRequest {
  api: ApiKind = ApiKind.Unknown;
  /** The model this request asks for, as the configuration names it ("" none): the client's, or a fallback. */
  model: string = "";
  method: string = "POST";
  path: string = "";
  authority: string = "";
  authName: string = "";
  authValue: string = "";
  cluster: string = "";
  body: Uint8Array = new Uint8Array(0);
  /** The body differs from the client's (model name or include_usage written into it). */
  bodyChanged: bool = false;
  /** stream_options.include_usage was added: the usage chunk is the gateway's, not the client's. */
  injectedUsage: bool = false;
  /** The client's content-type (multipart bodies keep their boundary); "" = JSON or no body. */
  contentType: string = "";
  /** The provider's own whole-attempt timeout for the first attempt, ms (0: the route's). */
  routeTimeoutMs: i64 = 0;
  /** Time to the answer's headers before Envoy gives the attempt up with a 504, ms (0: none). */
  firstByteMs: i64 = 0;

  /** Headers of the http_call that sends this request (the cluster is the call's target). */
  calloutHeaders(): string[] {
    const h = [
      ":method", this.method, ":path", this.path, ":authority", this.authority, ":scheme", "https", this.authName, this.authValue,
    ];
    if (this.body.length > 0 || this.method == "POST") {
      h.push("content-type");
      h.push(this.contentType.length > 0 ? this.contentType : "application/json");
    }
    if (this.firstByteMs > 0) {
      h.push(PER_TRY_TIMEOUT_HEADER);
      h.push(this.firstByteMs.toString());
    }
    return h;
  }
}

/**
 * The request for provider `p` for `model` (the client's, or a fallback model: plan/fallback.ts).
 * `scan` is null when the body was not read (header-only mode): the body then goes as the client
 * sent it. `includeUsage` is the gateway's streaming policy.
 */
export function upstreamRequest(p: ProviderConfig, api: ApiKind, model: string, method: string, body: Uint8Array,
  scan: RequestScan | null, includeUsage: bool, authName: string = "", authValue: string = "", subPath: string = "", query: string = ""): UpstreamRequest {
  const r = new UpstreamRequest();
  r.api = api;
  if (method.length > 0) r.method = method;
  r.path = objectPath(p, api, model.length > 0 ? p.deploymentFor(model) : "", subPath, query);
  r.authority = p.host;
  // The credential header as the plugin chose it (plugin/credentials/choice.ts); none given: the provider's first key.
  r.authName = authName.length > 0 ? authName : authHeaderName(p, 0);
  r.authValue = authName.length > 0 ? authValue : authHeaderValue(p, 0);
  r.cluster = p.cluster;
  r.body = body;
  r.model = model;
  if (scan !== null) {
    // The provider's own name for the model: Azure's deployment, an OpenAI provider's `models` map
    // entry. Where the provider reads the model from the path (Azure classic), a body naming another
    // model (the client's, when this attempt is for a fallback) is still made to name this one.
    let bodyModel = "";
    if (model.length > 0 && (bodyNeedsModel(p, api) || (scan.model.length > 0 && model != scan.model))) bodyModel = p.upstreamModel(model);
    r.injectedUsage = scan.stream && api == ApiKind.ChatCompletions && includeUsage && scan.includeUsage < 0;
    const shaped = shapeBody(body, scan, bodyModel, r.injectedUsage);
    r.bodyChanged = shaped !== body;
    r.body = shaped;
  }
  return r;
}
