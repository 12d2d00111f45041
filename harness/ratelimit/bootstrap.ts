/** The rate limit service as an HTTP/2 (h2c) STATIC cluster added to a bootstrap's clusters (Envoy's gRPC client needs h2). */
export function withRlsCluster(yaml: string, port: number, name = "ratelimit"): string {
  const anchor = "  clusters:\n";
  const at0 = yaml.indexOf(anchor);
  if (at0 < 0) throw new Error("bootstrap has no clusters list");
  const at = at0 + anchor.length;
  const def = [
    `    - name: ${name}`,
    "      type: STATIC",
    "      connect_timeout: 1s",
    "      typed_extension_protocol_options:",
    "        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:",
    '          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    "          explicit_http_config: { http2_protocol_options: {} }",
    "      load_assignment:",
    `        cluster_name: ${name}`,
    "        endpoints:",
    "          - lb_endpoints:",
    "              - endpoint:",
    "                  address:",
    `                    socket_address: { address: 127.0.0.1, port_value: ${port} }`,
  ].join("\n");
  return yaml.slice(0, at) + def + "\n" + yaml.slice(at);
}
