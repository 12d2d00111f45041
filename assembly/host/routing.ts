// The route of a request as the host sees it: its name and cluster (for Higress `_rules_`), and
// keeping the route Envoy chose for the client's request while the filter rewrites the request
// for a provider (Higress only: upstream Envoy has no way to do it).
//
// Envoy clears the route cache whenever a wasm filter changes request headers
// (Context::addHeaderMapValue / replace / remove / setHeaderMapPairs,
// source/extensions/common/wasm/context.cc), so after `:authority` and `:path` are the provider's
// the route is matched again on them. Higress's Envoy (higress-group/envoy, same file,
// `#if defined(HIGRESS)`) skips that once the filter set the property `clear_route_cache` to
// "off" (Context::setProperty) — what Higress's own plugins do (wasm-go `DisableReroute`).
//
// A `cluster_header` route takes its cluster from the header when the route is matched
// (RouteEntryImplBase::pickClusterViaClusterHeader, source/common/router/config_impl.cc), so the
// route must be matched *after* x-ai-failover-cluster is set and *before* clearing is turned off.
// On Higress, reading the legacy property `route_name` before the router ran asks the filter
// callbacks for the route (Context::findValue ROUTE_NAME → StreamFilterCallbacks::route()), and
// that refreshes a cleared cache from the current headers (ActiveStream::route →
// refreshCachedRoute, source/common/http/conn_manager_impl.cc). Upstream Envoy answers that read
// with the stream info's route name, empty until the router set it (≤ 1.32), or NotFound (1.33+
// dropped the legacy names): an empty answer means "this host does not re-match on a read", and
// the filter leaves clearing on there.

import { getPropertyAt, propertyPathBytes, Result, setPropertyAt } from "./calls";

// Property paths, encoded once.
const XDS_ROUTE_NAME = propertyPathBytes(["xds", "route_name"]);
const ROUTE_NAME = propertyPathBytes(["route_name"]);
const CLUSTER_NAME = propertyPathBytes(["cluster_name"]);
const XDS_CLUSTER_NAME = propertyPathBytes(["xds", "cluster_name"]);
const CLEAR_ROUTE_CACHE = propertyPathBytes(["clear_route_cache"]);
const NODE_ID = propertyPathBytes(["node", "id"]);

/**
 * Does the host answer the legacy top-level property names? Envoy 1.33 removed them all at once
 * (`node`, `route_name`, `cluster_name`, …: envoyproxy/envoy#36619); Higress's Envoy and older
 * ones have them. Without them `route_name` is never answered, so a route can never be pinned
 * and the legacy reads are skipped. Learnt once per configuration (root context: `node` is the
 * bootstrap's there, on every host that has it).
 */
let legacyNames = true;

export function learnLegacyNames(): void {
  legacyNames = getPropertyAt(NODE_ID) !== null;
}

/** May pinRoute() pin the route on this host (false: it never can, skip it)? */
export function mayPinRoute(): bool {
  return legacyNames;
}

function text(b: ArrayBuffer | null): string {
  return b !== null ? String.UTF8.decode(b) : "";
}

/**
 * The name of the route the request matched: `xds.route_name` (the stream info's route: upstream
 * Envoy, where 1.33 removed the legacy name, and Higress's 1.27 both have it), else the legacy
 * `route_name` (what Higress's wasm-go matcher reads).
 */
export function routeName(): string {
  const x = getPropertyAt(XDS_ROUTE_NAME);
  return x !== null || !legacyNames ? text(x) : text(getPropertyAt(ROUTE_NAME));
}

/**
 * The cluster the route names: the legacy `cluster_name` (Higress: the route entry's cluster,
 * what wasm-go's `_match_service_` reads), else `xds.cluster_name` (upstream Envoy ≥ 1.33).
 * Before the filter chose a provider, a `cluster_header` route has none: "".
 */
export function clusterName(): string {
  const c = legacyNames ? getPropertyAt(CLUSTER_NAME) : null;
  return c !== null ? text(c) : text(getPropertyAt(XDS_CLUSTER_NAME));
}

/**
 * Call with the cluster header already set and `:authority`/`:path` still the client's. True when
 * the route is now matched and kept: later request-header changes will not re-route the request.
 */
export function pinRoute(): bool {
  if (!legacyNames) return false;
  const name = getPropertyAt(ROUTE_NAME);
  if (name === null || name.byteLength == 0) return false;
  return setPropertyAt(CLEAR_ROUTE_CACHE, "off") == Result.Ok;
}

const CODE_DETAILS = propertyPathBytes(["response", "code_details"]);
const PER_TRY_TIMEOUT = "upstream_per_try_timeout";

/**
 * Is the response the router's own 504 after the per-try timeout ran out (the provider sent no
 * headers within it)? Envoy sets the stream's response code details to "upstream_per_try_timeout"
 * (StreamInfo::ResponseCodeDetails::UpstreamPerTryTimeout, router.cc onPerTryTimeout) before
 * its local reply passes the filters. Read only for a 504 of an attempt that had such a timeout.
 */
export function perTryTimeoutDetails(): bool {
  return text(getPropertyAt(CODE_DETAILS)) == PER_TRY_TIMEOUT;
}
