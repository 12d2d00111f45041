/** The Envoy-like gateway: public surface. */
export { startGateway, type Gateway, type GatewayOptions } from "./gateway.ts";
export { loadBootstrap, BootstrapError, type GatewayConfig, type ClusterConfig, type RouteConfig } from "./bootstrap.ts";
export { renderPrometheus, renderStatsText } from "./stats.ts";
export type { PluginHostLike, HostFactory } from "./host-like.ts";
export { higressPluginConfig, type WasmPluginSpec } from "./higress.ts";
