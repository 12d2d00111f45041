// Issue 20 items 4 and 5: multipart/form-data bodies read as RFC 7578 / RFC 2046 do, in linear
// time. A consumer limited to gpt-4o sends forms that made the old reader (the first
// "boundary=" substring; any `name="model"` from a part's start to the end of the body) see
// gpt-4o while the provider's multipart parser read o3; and a 1 MB body of empty parts froze a
// worker for 76 s.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { multipartBoundary, parseMultipart } from "../../harness/providers/multipart.ts";
import { request, startStack, type Stack } from "../support/stack.ts";

const KEY = "team-mm-key-0123456789";

function form(parts: Array<{ headers: string[]; body: string }>, boundary: string): Buffer {
  let s = "";
  for (const p of parts) s += `--${boundary}\r\n${p.headers.join("\r\n")}\r\n\r\n${p.body}\r\n`;
  return Buffer.from(s + `--${boundary}--\r\n`);
}
const field = (name: string, value: string) => ({ headers: [`Content-Disposition: form-data; name="${name}"`], body: value });
const file = (name: string, filename: string, data: string) => ({
  headers: [`Content-Disposition: form-data; name="${name}"; filename="${filename}"`, "Content-Type: audio/wav"], body: data,
});

describe("multipart forms through the gateway", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      edit: (cfg) => ({ ...cfg, healthCheck: { enabled: false }, consumers: [{ name: "team-mm", apiKey: KEY, models: ["gpt-4o"] }] }),
    });
  });
  afterAll(async () => { await s?.close(); });

  const upstream = () => s.east.records.length + s.west.records.length;
  const send = (body: Buffer, contentType: string, timeoutMs = 10_000) =>
    request(s.gateway.url, {
      method: "POST", path: "/v1/audio/transcriptions", body, timeoutMs,
      headers: { authorization: `Bearer ${KEY}`, "content-type": contentType, "content-length": String(body.length) },
    });

  it("a well-formed form goes up unchanged; the provider reads the model the consumer was checked for", async () => {
    const before = upstream();
    const body = form([field("model", "gpt-4o"), file("file", "a.wav", "RIFF....WAVE")], "----formdata-undici-012345678901");
    const r = await send(body, "multipart/form-data; boundary=----formdata-undici-012345678901");
    expect(r.status).not.toBe(400);
    expect(r.status).not.toBe(403);
    expect(upstream()).toBe(before + 1);
    const rec = [...s.east.records, ...s.west.records].at(-1)!;
    expect(rec.bodyBytes!.equals(body)).toBe(true);
    const parsed = parseMultipart(rec.bodyBytes!, multipartBoundary(rec.headers["content-type"] as string)!)!;
    expect(parsed.fields.model).toBe("gpt-4o");
  });

  // Each smuggle: what the provider's parser reads is o3, which the consumer may not use.
  const smuggles: Array<[string, Buffer, string]> = [
    ["a decoy part whose other header says name=\"model\"", form([
      { headers: ['Content-Disposition: form-data; name="prompt"', 'X-Note: name="model"'], body: "gpt-4o" },
      field("model", "o3"), file("file", "a.wav", "RIFF"),
    ], "B0"), "multipart/form-data; boundary=B0"],
    ["a file part with filename=\"model\"", form([
      file("file", "model", "gpt-4o"), field("model", "o3"),
    ], "B1"), "multipart/form-data; boundary=B1"],
    ["xboundary=FAKE; boundary=REAL", form([
      field("model", "o3"),
      file("file", "a.wav", `--FAKE\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n--FAKE--`),
    ], "REAL"), "multipart/form-data; xboundary=FAKE; boundary=REAL"],
  ];
  for (const [what, body, ct] of smuggles) {
    it(`${what}: the consumer's model list holds (403), nothing goes upstream`, async () => {
      expect(parseMultipart(body, multipartBoundary(ct)!)!.fields.model).toBe("o3");
      const before = upstream();
      const r = await send(body, ct);
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe("model_not_allowed");
      expect(upstream()).toBe(before);
    });
  }

  const ambiguous: Array<[string, Buffer, string, string]> = [
    ["two model fields", form([field("model", "gpt-4o"), field("model", "o3"), file("file", "a.wav", "RIFF")], "B2"),
      "multipart/form-data; boundary=B2", "two \"model\" fields"],
    ["two boundary parameters", form([field("model", "gpt-4o")], "B3"), "multipart/form-data; boundary=B3; boundary=B4", "boundary twice"],
    ["model as a file", form([file("model", "m.txt", "gpt-4o")], "B5"), "multipart/form-data; boundary=B5", "as a file"],
    ["an escaped field name", form([{ headers: ['Content-Disposition: form-data; name="mod\\el"'], body: "o3" }, field("x", "y")], "B6"),
      "multipart/form-data; boundary=B6", "may or may not"],
    ["a part without a closing delimiter", Buffer.from('--B7\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o'),
      "multipart/form-data; boundary=B7", "closing"],
  ];
  for (const [what, body, ct, says] of ambiguous) {
    it(`${what}: a 400 that says why, nothing upstream`, async () => {
      const before = upstream();
      const r = await send(body, ct);
      expect(r.status).toBe(400);
      const e = JSON.parse(r.body).error;
      expect(e.code).toBe("invalid_multipart");
      expect(e.message).toContain(says);
      expect(upstream()).toBe(before);
    });
  }

  it("1 MB of empty parts is answered at once, and a normal request on the same workers is not held", async () => {
    const big = Buffer.from("--B\r\n\r\n".repeat(140_000));
    const t0 = performance.now();
    const [r, ok] = await Promise.all([
      send(big, "multipart/form-data; boundary=B", 20_000),
      send(form([field("model", "gpt-4o"), file("file", "a.wav", "RIFF")], "BB"), "multipart/form-data; boundary=BB", 20_000),
    ]);
    const ms = performance.now() - t0;
    expect(r.status).toBe(400);
    expect(ok.status).not.toBe(400);
    expect(ms).toBeLessThan(5_000); // 76 s before
    // Many well-formed parts: still quick.
    const many = form(Array.from({ length: 20_000 }, (_, i) => field(`f${i}`, "v")).concat([field("model", "gpt-4o")]), "BM");
    const t1 = performance.now();
    const r2 = await send(many, "multipart/form-data; boundary=BM", 20_000);
    expect(r2.status).not.toBe(400);
    expect(performance.now() - t1).toBeLessThan(5_000);
  }, 60_000);
});
