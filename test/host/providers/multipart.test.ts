// The mocks' multipart/form-data parser against what undici's FormData (the openai SDK's
// encoder) actually puts on the wire.
import { describe, expect, it } from "vitest";
import { multipartBoundary, parseMultipart } from "../../../harness/providers/multipart.ts";

async function encode(form: FormData): Promise<{ body: Buffer; contentType: string }> {
  const req = new Request("http://127.0.0.1/", { method: "POST", body: form });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get("content-type")! };
}

describe("multipart/form-data parser", () => {
  it("reads text fields, binary files (CRLF and dashes inside) and repeated names", async () => {
    const binary = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x2d, 0x2d, 0x0d, 0x0a, 0x00, 0xff]);
    const form = new FormData();
    form.append("model", "whisper-1");
    form.append("prompt", "naïve ünïcode — \"quoted\"");
    form.append("file", new File([binary], "clip one.mp3", { type: "audio/mpeg" }));
    form.append("image[]", new File([Buffer.from("a")], "a.png", { type: "image/png" }));
    form.append("image[]", new File([Buffer.from("b")], "b.png", { type: "image/png" }));
    const { body, contentType } = await encode(form);
    const boundary = multipartBoundary(contentType);
    expect(boundary).toBeTruthy();
    const parsed = parseMultipart(body, boundary!)!;
    expect(parsed.fields).toEqual({ model: "whisper-1", prompt: "naïve ünïcode — \"quoted\"" });
    expect(parsed.files.file).toEqual([{ filename: "clip one.mp3", contentType: "audio/mpeg", data: binary }]);
    expect(parsed.files["image[]"]!.map((f) => [f.filename, f.data.toString()])).toEqual([
      ["a.png", "a"],
      ["b.png", "b"],
    ]);
    expect(parsed.parts.map((p) => p.name)).toEqual(["model", "prompt", "file", "image[]", "image[]"]);
  });

  it("an empty file part is kept with zero bytes", async () => {
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new File([], "empty.jsonl"));
    const { body, contentType } = await encode(form);
    const parsed = parseMultipart(body, multipartBoundary(contentType)!)!;
    expect(parsed.files.file![0]!.data.length).toBe(0);
    expect(parsed.fields.purpose).toBe("batch");
  });

  it("boundary from the content type; not multipart or malformed → undefined", () => {
    expect(multipartBoundary('multipart/form-data; boundary="abc def"')).toBe("abc def");
    expect(multipartBoundary("multipart/form-data; boundary=xyz; charset=utf-8")).toBe("xyz");
    expect(multipartBoundary("application/json")).toBeUndefined();
    expect(multipartBoundary(undefined)).toBeUndefined();
    expect(parseMultipart(Buffer.from("no delimiter here"), "xyz")).toBeUndefined();
    // a part that is never closed
    expect(parseMultipart(Buffer.from('--xyz\r\ncontent-disposition: form-data; name="a"\r\n\r\nvalue'), "xyz")).toBeUndefined();
    // a part without a name
    expect(parseMultipart(Buffer.from("--xyz\r\ncontent-type: text/plain\r\n\r\nv\r\n--xyz--\r\n"), "xyz")).toBeUndefined();
    // hand-written, closed body
    const ok = parseMultipart(Buffer.from('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--xyz--\r\n'), "xyz");
    expect(ok?.fields).toEqual({ a: "v" });
  });
});
