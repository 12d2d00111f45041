// `npm run test:fast`: the edit–test tier. The pure core (test/unit/, the AssemblyScript unit
// build) and every test that runs the built module in-process in the harness host (test/host/
// and the capability tests on the host rig, harness/rig/host-rig.ts) — no sockets, no gateway,
// no mock servers, no child processes. Which files those are is read from the files themselves:
// a test file that starts a gateway stack, a gateway process, a mock provider, Redis or a
// container is left to `npm test`, which runs everything (CI).
import { readdirSync, readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import base from "../../vitest.config.ts";

/** Files left out by name: the standing fuzz (500 cases a class), the bench, the package build, worker threads. */
const SLOW_FILES = /\/robustness\/fuzz-|^test\/bench\/|^test\/build\.test|parallel-contention/;
/** Imports and calls that mean a test needs sockets or processes. */
const SLOW = /support\/stack|support\/gateway-process|support\/redis|startGateway|startMockProvider|startEntraMock|testcontainers|child_process|harness\/ratelimit|listen\(|bench\/(main|load|soak)/;

const fast = (readdirSync("test", { recursive: true }) as string[])
  .map((f) => `test/${f}`)
  .filter((f) => f.endsWith(".test.ts") && !f.includes("/.build/") && !SLOW_FILES.test(f) && !SLOW.test(readFileSync(f, "utf8")));

// The base configuration with its include replaced (mergeConfig would add the lists together).
// The property tests run a quarter of their cases here; npm test runs them all.
export default defineConfig({ ...base, test: { ...base.test, include: fast, env: { FAST_CHECK_SCALE: "0.25", CONFIG_FUZZ_SCALE: "0.25" } } });
