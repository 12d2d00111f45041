/**
 * TLS clusters as envoy/envoy.yaml declares them (STRICT_DNS-free here: loopback): SNI from the
 * transport socket, chain checked against trusted_ca, SAN matched by match_typed_subject_alt_names,
 * and no verification at all without a validation context (Envoy's behaviour).
 * Certificates are made with the openssl CLI; the suite is skipped where it is missing.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startGateway, type Gateway } from "../../../harness/gateway/index.ts";
import { FakeHost } from "./fake-host.ts";
import { localBootstrap, request, ROOT } from "../../support/stack.ts";

const DIR = `${ROOT}test/.build/gateway/tls`;
const HOST = "aoai-east.openai.azure.com";
let hasOpenssl = true;
try {
  execFileSync("openssl", ["version"], { stdio: "ignore" });
} catch {
  hasOpenssl = false;
}

let server: https.Server;
let port = 0;
const sniSeen: Array<string | false | null> = [];
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  if (!hasOpenssl) return;
  mkdirSync(DIR, { recursive: true });
  const ssl = (args: string[]) => execFileSync("openssl", args, { cwd: DIR, stdio: "ignore" });
  ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca"]);
  ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${HOST}`]);
  writeFileSync(`${DIR}/san.ext`, "subjectAltName=DNS:*.openai.azure.com\n");
  ssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"]);
  server = https.createServer({ key: readFileSync(`${DIR}/server.key`), cert: readFileSync(`${DIR}/server.pem`) }, (req, res) => {
    sniSeen.push((req.socket as TLSSocket).servername);
    res.end(`tls ok ${req.headers.host}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  closers.push(() => new Promise((r) => (server.close(r), server.closeAllConnections())));
});

afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

async function gatewayWithTls(tls: object): Promise<Gateway> {
  const doc = parse(localBootstrap({ east: port, west: 1 }));
  doc.static_resources.clusters[0].transport_socket = {
    name: "envoy.transport_sockets.tls",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...tls },
  };
  const gw = await startGateway({ bootstrapText: stringify(doc), hostFactory: FakeHost.factory({}) });
  closers.push(() => gw.close());
  return gw;
}

const verified = (san: string) => ({
  sni: HOST,
  common_tls_context: {
    validation_context: {
      trusted_ca: { filename: `${DIR}/ca.pem` },
      match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: san } }],
    },
  },
});

describe.skipIf(!hasOpenssl)("TLS clusters", () => {
  it("sends SNI, verifies the chain and the SAN (wildcard certificate), forwards :authority as host", async () => {
    const gw = await gatewayWithTls(verified(HOST));
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east", host: HOST } });
    expect([r.status, r.body]).toEqual([200, `tls ok ${HOST}`]);
    expect(sniSeen.at(-1)).toBe(HOST);
  });

  it("a SAN that does not match → 503 with a TLS transport failure reason", async () => {
    const gw = await gatewayWithTls(verified("other.example.com"));
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect(r.status).toBe(503);
    expect(r.body).toMatch(
      /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure, transport failure reason: TLS_error:/,
    );
  });

  it("without a validation context nothing is verified (as in Envoy), and without sni none is sent", async () => {
    const gw = await gatewayWithTls({});
    const r = await request(gw.url, { headers: { "x-test-cluster": "aoai-east" } });
    expect(r.status).toBe(200);
    expect(sniSeen.at(-1)).toBe(false);
  });
});
