#!/usr/bin/env node
// npm install's postinstall. In the repository: apply patches/ to @solo-io/proxy-runtime with
// patch-package (the filter builds against the patched SDK; a failure fails the install). In an
// installed package (npx ai-failover, npm install ai-failover.tgz): the .wasm comes built and
// there is neither patches/ nor the SDK, so there is nothing to do.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
if (existsSync(`${root}patches`) && existsSync(`${root}node_modules/patch-package`)) {
  const r = spawnSync(process.execPath, [`${root}node_modules/patch-package/index.js`], { cwd: root, stdio: "inherit" });
  process.exit(r.status ?? 1);
}
