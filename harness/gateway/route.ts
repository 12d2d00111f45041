/** Route selection as Envoy's router does it for the subset we accept. */
import type { RouteConfig, VirtualHostConfig } from "./bootstrap.ts";
import type { HeaderList } from "../host/types.ts";

export function header(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) if (k === name) return v;
  return undefined;
}

/**
 * Virtual host by :authority: exact domain, then the longest "*.suffix", then the longest
 * "prefix.*", then "*" (Envoy's order). Matching is case-insensitive and includes the port.
 */
export function selectVirtualHost(hosts: VirtualHostConfig[], authority: string): VirtualHostConfig | undefined {
  const host = authority.toLowerCase();
  let best: { vh: VirtualHostConfig; rank: number; len: number } | undefined;
  for (const vh of hosts) {
    for (const raw of vh.domains) {
      const d = raw.toLowerCase();
      let rank = -1;
      if (d === host) rank = 3;
      else if (d === "*") rank = 0;
      else if (d.startsWith("*") && host.endsWith(d.slice(1)) && host.length > d.length - 1) rank = 2;
      else if (d.endsWith("*") && host.startsWith(d.slice(0, -1)) && host.length > d.length - 1) rank = 1;
      if (rank < 0) continue;
      if (!best || rank > best.rank || (rank === best.rank && d.length > best.len)) best = { vh, rank, len: d.length };
    }
  }
  return best?.vh;
}

/** First route whose match accepts :path (prefix on the whole value; path on the part before "?"). */
export function selectRoute(vh: VirtualHostConfig, path: string): RouteConfig | undefined {
  for (const r of vh.routes) {
    if (r.prefix !== undefined && path.startsWith(r.prefix)) return r;
    if (r.path !== undefined && path.split("?", 1)[0] === r.path) return r;
  }
  return undefined;
}

export function selectRouteFor(hosts: VirtualHostConfig[], headers: HeaderList): RouteConfig | undefined {
  const vh = selectVirtualHost(hosts, header(headers, ":authority") ?? "");
  return vh ? selectRoute(vh, header(headers, ":path") ?? "") : undefined;
}

/**
 * Cluster for a route: static `cluster`, or the first value of `cluster_header` in the headers
 * as the filter left them ("" when absent, which no cluster matches).
 */
export function clusterFor(route: RouteConfig, headers: HeaderList): string {
  if (route.cluster !== undefined) return route.cluster;
  return header(headers, route.clusterHeader!) ?? "";
}
