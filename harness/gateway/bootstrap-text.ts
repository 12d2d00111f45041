/**
 * Edits of a bootstrap's YAML text that keep the rest of it as written (comments included): STATIC
 * clusters on 127.0.0.1 added at the head of `static_resources.clusters`.
 */
export interface LoopbackCluster {
  port: number;
  /** HTTP/2 without TLS (h2c), as Envoy's gRPC client needs (e.g. the rate limit service). */
  http2?: boolean;
}

export function withStaticClusters(yaml: string, clusters: Record<string, LoopbackCluster>): string {
  const anchor = "  clusters:\n";
  const at0 = yaml.indexOf(anchor);
  if (at0 < 0) throw new Error("bootstrap has no clusters list");
  const at = at0 + anchor.length;
  const defs = Object.entries(clusters).map(([name, c]) => [
    `    - name: ${name}`,
    "      type: STATIC",
    "      connect_timeout: 1s",
    ...(c.http2
      ? [
        "      typed_extension_protocol_options:",
        "        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:",
        '          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        "          explicit_http_config: { http2_protocol_options: {} }",
      ]
      : []),
    "      load_assignment:",
    `        cluster_name: ${name}`,
    "        endpoints:",
    "          - lb_endpoints:",
    "              - endpoint:",
    "                  address:",
    `                    socket_address: { address: 127.0.0.1, port_value: ${c.port} }`,
  ].join("\n"));
  return yaml.slice(0, at) + defs.join("\n") + "\n" + yaml.slice(at);
}
