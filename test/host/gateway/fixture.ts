/**
 * Builds the gateway's AssemblyScript test filter into test/.build/gateway/ when its source is
 * newer than the module. Each process builds under its own name and renames, so parallel test
 * files never read a half-written module.
 */
import asc from "assemblyscript/asc";
import { renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TYPE } from "../../../harness/gateway/bootstrap.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
export const FIXTURE_WASM = `${root}test/.build/gateway/route-by-header.wasm`;

const built = new Map<string, Promise<string>>();

function fresh(source: string, wasm: string): boolean {
  try {
    return statSync(wasm).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    return false;
  }
}

/** The route-by-header test filter (test/fixtures/gateway/route-by-header.ts). */
export function buildFixture(): Promise<string> {
  return buildGatewayFixture("route-by-header");
}

/** A test filter of test/fixtures/gateway/<name>.ts, built into test/.build/gateway/<name>.wasm. */
export function buildGatewayFixture(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) built.set(name, (p = build(name)));
  return p;
}

async function build(name: string): Promise<string> {
  const source = `${root}test/fixtures/gateway/${name}.ts`;
  const wasm = `${root}test/.build/gateway/${name}.wasm`;
  if (fresh(source, wasm)) return wasm;
  const tmp = `test/.build/gateway/${name}.${process.pid}.wasm`;
  let out = "";
  const sink = { write: (c: string | Uint8Array) => ((out += String(c)), true) };
  const { error } = await asc.main(
    [
      "--baseDir", root,
      `test/fixtures/gateway/${name}.ts`,
      "--outFile", tmp,
      "--runtime", "incremental",
      "--use", "abort=abort_proc_exit",
      "--optimizeLevel", "1",
      // Its own (empty) asconfig: asc would otherwise pick up the product's from the cwd.
      "--config", "test/fixtures/gateway/asconfig.json",
      "--noColors",
    ],
    { stdout: sink, stderr: sink },
  );
  if (error) throw new Error(`gateway fixture ${name} build failed: ${error.message}\n${out}`);
  renameSync(`${root}${tmp}`, wasm);
  return wasm;
}

/**
 * A bootstrap (as a document, to be stringified) with one listener on 127.0.0.1 — its virtual
 * host `vhost` (name, domains and any extra fields such as a retry policy) and the listener's
 * filter `listenerConfig` (the wasm PluginConfig) before the router — and `clusters`.
 */
export function listenerBootstrap(vhost: Record<string, unknown>, listenerConfig: Record<string, unknown>, clusters: unknown[]): unknown {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: "listener",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": TYPE.hcm,
              stat_prefix: "ingress",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], ...vhost }] },
              http_filters: [
                { name: "envoy.filters.http.wasm", typed_config: { "@type": TYPE.wasm, config: listenerConfig } },
                { name: "envoy.filters.http.router", typed_config: { "@type": TYPE.router } },
              ],
            },
          }],
        }],
      }],
      clusters,
    },
  };
}

/** The wasm PluginConfig of a fixture module run as the listener's filter (root_id "ai-failover"). */
export const fixturePlugin = (filename: string): Record<string, unknown> =>
  ({ name: "fixture", root_id: "ai-failover", vm_config: { runtime: "envoy.wasm.runtime.v8", code: { local: { filename } } } });
