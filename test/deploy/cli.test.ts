/** `ai-failover serve <bootstrap>`: the CLI boots the gateway on any bootstrap file and stops on SIGTERM. */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { buildFixture } from "../host/gateway/fixture.ts";
import { localBootstrap, request, ROOT, startUpstream, until } from "../support/stack.ts";

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

function run(args: string[]) {
  const child = spawn(process.execPath, [`${ROOT}bin/ai-failover.mjs`, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  closers.push(async () => {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe("ai-failover CLI", () => {
  it("serve <bootstrap.yaml>: listens where the file says, serves, exits 0 on SIGTERM", async () => {
    const wasmFile = await buildFixture();
    const up = await startUpstream("east");
    closers.push(() => up.close());
    mkdirSync(`${ROOT}test/.build/gateway`, { recursive: true });
    const file = `${ROOT}test/.build/gateway/cli-bootstrap.yaml`;
    writeFileSync(file, localBootstrap({ east: up.port, west: 1, wasmFile }));

    const p = run(["serve", file, "--workers", "1", "--log-level", "warn"]);
    const deadline = Date.now() + 15_000;
    while (!/admin http:\/\/127\.0\.0\.1:\d+\)/.test(p.out()) && Date.now() < deadline && p.child.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    const m = /gateway on (http:\/\/127\.0\.0\.1:\d+) \(admin (http:\/\/127\.0\.0\.1:\d+)\) — 1 workers/.exec(p.out());
    expect(m, p.out() + p.err()).not.toBeNull();
    const r = await request(m![1], { headers: { "x-route-to": "aoai-east" } });
    expect([r.status, r.body]).toEqual([200, "hello from east"]);
    expect((await request(m![2], { path: "/ready" })).body).toBe("LIVE\n");
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("refuses a bad bootstrap with every problem and exit code 1; usage errors exit 2", async () => {
    mkdirSync(`${ROOT}test/.build/gateway`, { recursive: true });
    const file = `${ROOT}test/.build/gateway/cli-bad.yaml`;
    writeFileSync(file, localBootstrap({ east: 1, west: 2 }).replace("admin:", "node: { id: x }\nadmin:").replace("codec_type: AUTO", "codec_type: HTTP3"));
    const bad = run(["serve", file]);
    expect(await bad.exited).toBe(1);
    expect(bad.err()).toContain("invalid bootstrap (2 problems)");
    expect(bad.err()).toContain("node: field not supported");
    expect(bad.err()).toContain('codec_type: unsupported value "HTTP3"');

    const usage = run(["serve"]);
    expect(await usage.exited).toBe(2);
    expect(usage.err()).toContain("serve needs a bootstrap file");
  });
});

describe("serve --host", () => {
  it("parses envoy and higress, and names a bad value", async () => {
    const { parseArgs } = await import("../../harness/cli/main.ts");
    expect(parseArgs(["b.yaml", "--host", "higress"]).flavour).toBe("higress");
    expect(parseArgs(["b.yaml", "--host=envoy"]).flavour).toBe("envoy");
    expect(parseArgs(["b.yaml"]).flavour).toBeUndefined();
    expect(() => parseArgs(["b.yaml", "--host", "nginx"])).toThrow("--host must be envoy or higress");
  });
});

describe("serve: messages (issue 12)", () => {
  it("a configuration problem is printed once, and invalid JSON in a bootstrap names the line in the file", async () => {
    mkdirSync(`${ROOT}test/.build/gateway`, { recursive: true });
    const file = `${ROOT}test/.build/gateway/cli-bad-json.yaml`;
    // A trailing comma after the retry member: the JSON's line 3 of its own text.
    const text = localBootstrap({ east: 1, west: 2 }).replace('"retry": { "maxAttempts": 3, "onStatus": [429, 500, 502, 503, 504] }', '"retry": { "maxAttempts": 3, },');
    writeFileSync(file, text);
    const fileLine = text.split("\n").findIndex((l) => l.includes('"maxAttempts": 3, },')) + 1;
    const bad = run(["serve", file]);
    expect(await bad.exited).toBe(1);
    const lines = bad.err().split("\n").filter((l) => l.includes("invalid JSON at line"));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toContain(`of ${file})`);
    expect(lines[0]).toMatch(new RegExp(`\\(line ${fileLine} of `));
    // Once per VM that configured it (the canary refuses it first), not again at the end.
    const errors = bad.err().split("\n").filter((l) => l.includes("invalid JSON"));
    expect(new Set(errors.map((l) => l.replace(/^\[\w+\]\[[\w-]+\] /, ""))).size).toBe(1);
    expect(errors.length).toBe(new Set(errors.map((l) => l.slice(0, l.indexOf("]", l.indexOf("]") + 1)))).size);
  });

  it("--log-level debug shows the filter's debug lines without editing the configuration, and none of the SDK's", async () => {
    const up = await startUpstream("east", (_req, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'); });
    closers.push(() => up.close());
    mkdirSync(`${ROOT}test/.build/gateway`, { recursive: true });
    const file = `${ROOT}test/.build/gateway/cli-debug.yaml`;
    writeFileSync(file, localBootstrap({ east: up.port, west: up.port, listener: 0, admin: 0 }));
    const srv = run(["serve", file, "--log-level", "debug", "--workers", "1"]);
    await until(() => /gateway on (http:\/\/[\d.:]+)/.test(srv.out()), 15_000);
    const url = /gateway on (http:\/\/[\d.:]+)/.exec(srv.out())![1]!;
    const r = await request(url, { method: "POST", path: "/v1/chat/completions", body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }), headers: { "content-type": "application/json" } });
    expect(r.status).toBe(200);
    await until(() => srv.err().includes("[debug]"), 5000);
    expect(srv.err()).toMatch(/\[debug\]\[worker-0\] ai-failover: chat model=gpt-4o → aoai-east-ptu/);
    expect(srv.err()).not.toContain("ensureContext");
    srv.child.kill("SIGTERM");
    expect(await srv.exited).toBe(0);
  });
});
