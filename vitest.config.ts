import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/setup/summary-reporter.ts"],
    // Each layer builds what its tests need once per run (AssemblyScript fixtures, unit module).
    globalSetup: ["test/setup/build-host-fixtures.ts", "test/setup/build-unit.ts"],
    testTimeout: 30000,
    hookTimeout: 120000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});
