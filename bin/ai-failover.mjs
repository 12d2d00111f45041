#!/usr/bin/env node
// ai-failover CLI. The harness is TypeScript: register tsx's loader, then run harness/cli.
import { register } from "tsx/esm/api";

register();
const { main } = await import(new URL("../harness/cli/main.ts", import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
