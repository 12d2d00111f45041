// Entry of the unit-test build (test/setup/build-unit.ts → test/.build/unit/unit.wasm).
// Each layer re-exports its test-facing functions here; keep the functions in their own files.

export { configSummary } from "./config_api";
