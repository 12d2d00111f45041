/** Paths the bench shares between its processes (no heavy imports here: gateway children load it). */
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
export const LOCAL_YAML_PATH = `${ROOT}envoy/local.yaml`;
export const PRODUCT_WASM = `${ROOT}build/ai-failover.wasm`;
