/**
 * Files and batches of one mock (one Azure resource / OpenAI organisation).
 *
 * Files: POST (multipart `purpose`, `file`), list, get, content, delete; ids `file-…`.
 * Batches: POST {input_file_id, endpoint, completion_window:"24h"} → the input file must be on
 * this resource (else 404 "No such File object", param input_file_id). Every line is answered at
 * creation (`runLine`); the batch then reads, on the provider clock: validating
 * (timing.batchValidatingMs) → in_progress (batchInProgressMs) → finalizing (batchFinalizingMs)
 * → completed, when its output file (`batch_output`, one JSONL line per request) and, when a
 * line failed, its error file appear on this resource. A malformed input (not JSONL, no
 * custom_id, url not the batch endpoint) fails the batch after validating, with `errors`.
 * Cancel: validating/in_progress → "cancelling", read as "cancelled" afterwards.
 */
import { randomBytes } from "node:crypto";
import { BoundedMap, listPage } from "./bounded-map.ts";
import * as E from "./error-bodies.ts";
import type { FormData } from "./multipart.ts";
import type { ProviderKind } from "./types.ts";
import type { StateReply } from "./response-store.ts";

type Json = Record<string, unknown>;

export interface StoredFile {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: "processed";
  status_details: null;
  expires_at: null;
  data: Buffer;
}

export interface LineResult {
  status_code: number;
  body: unknown;
}

export interface BatchTiming {
  batchValidatingMs: number;
  batchInProgressMs: number;
  batchFinalizingMs: number;
}

interface StoredBatch {
  id: string;
  kind: ProviderKind;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  metadata: Json | null;
  createdMs: number;
  created_at: number;
  /** Line results, or the validation errors that fail the batch. */
  output: string[];
  errorLines: string[];
  validationErrors?: Array<{ code: string; message: string; param: string | null; line: number | null }>;
  total: number;
  cancelledMs?: number;
  output_file_id?: string;
  error_file_id?: string;
}

const ok = (body: unknown): StateReply => ({ status: 200, outcome: "ok", body: JSON.stringify(body) });
const fail = (status: number, outcome: string, body: string): StateReply => ({ status, outcome, body });

const ENDPOINTS = new Set(["/chat/completions", "/embeddings", "/completions", "/responses"]);
const bareEndpoint = (e: string) => e.replace(/^\/v1(?=\/)/, "");

export function fileView(f: StoredFile): Omit<StoredFile, "data"> {
  const { data: _data, ...rest } = f;
  return rest;
}

export class FileBatchStore {
  readonly files: BoundedMap<string, StoredFile>;
  private readonly batches: BoundedMap<string, StoredBatch>;

  constructor(
    max: number,
    private readonly timing: BatchTiming,
    private readonly clock: () => number,
  ) {
    this.files = new BoundedMap(max);
    this.batches = new BoundedMap(max);
  }

  clear(): void {
    this.files.clear();
    this.batches.clear();
  }

  counts() {
    return { files: this.files.size, batches: this.batches.size };
  }

  ids() {
    this.advanceAll();
    return { files: this.files.keys(), batches: this.batches.keys() };
  }

  owns(id: string): boolean {
    this.advanceAll();
    return this.files.has(id) || this.batches.has(id);
  }

  private addFile(filename: string, purpose: string, data: Buffer, createdSec: number): StoredFile {
    const f: StoredFile = {
      id: `file-${randomBytes(16).toString("hex")}`,
      object: "file",
      bytes: data.length,
      created_at: createdSec,
      filename,
      purpose,
      status: "processed",
      status_details: null,
      expires_at: null,
      data,
    };
    this.files.set(f.id, f);
    return f;
  }

  // ---- files ------------------------------------------------------------------------------

  file(op: string, id: string | undefined, form: FormData | undefined, query: URLSearchParams): StateReply | { content: Buffer } {
    this.advanceAll();
    if (op === "create") {
      const upload = form?.files.file?.[0];
      if (!upload) return fail(400, "bad-request", E.missingParameter("file"));
      const purpose = form.fields.purpose;
      if (!purpose) return fail(400, "bad-request", E.missingParameter("purpose"));
      return ok(fileView(this.addFile(upload.filename, purpose, upload.data, Math.floor(this.clock() / 1000))));
    }
    if (op === "list") {
      const purpose = query.get("purpose");
      const all = this.files.values().filter((f) => !purpose || f.purpose === purpose).map(fileView);
      return ok(listPage(all, query, "desc"));
    }
    const f = id ? this.files.get(id) : undefined;
    if (!f) return fail(404, "file-not-found", E.fileNotFound(id ?? ""));
    if (op === "get") return ok(fileView(f));
    if (op === "content") return { content: f.data };
    this.files.delete(f.id);
    return ok({ id: f.id, object: "file", deleted: true });
  }

  // ---- batches ----------------------------------------------------------------------------

  createBatch(kind: ProviderKind, body: Json, runLine: (endpoint: string, body: Json) => LineResult): StateReply {
    this.advanceAll();
    const fileId = body.input_file_id;
    if (typeof fileId !== "string" || !fileId) return fail(400, "bad-request", E.missingParameter("input_file_id"));
    if (typeof body.endpoint !== "string") return fail(400, "bad-request", E.missingParameter("endpoint"));
    if (!ENDPOINTS.has(bareEndpoint(body.endpoint))) {
      return fail(400, "bad-request", E.invalidValue("endpoint", `Invalid value for 'endpoint': '${body.endpoint}'.`));
    }
    if (body.completion_window !== "24h") {
      return fail(400, "bad-request", E.invalidValue("completion_window", `Invalid value for 'completion_window': '${String(body.completion_window)}'. Supported values are: '24h'.`));
    }
    const file = this.files.get(fileId);
    if (!file) return fail(404, "file-not-found", E.fileNotFound(fileId, "input_file_id"));
    const now = this.clock();
    const b: StoredBatch = {
      id: `batch_${randomBytes(16).toString("hex")}`,
      kind,
      endpoint: body.endpoint,
      input_file_id: fileId,
      completion_window: "24h",
      metadata: (body.metadata as Json | undefined) ?? null,
      createdMs: now,
      created_at: Math.floor(now / 1000),
      output: [],
      errorLines: [],
      total: 0,
    };
    this.run(b, file.data.toString("utf8"), runLine);
    this.batches.set(b.id, b);
    return ok(this.view(b));
  }

  private run(b: StoredBatch, text: string, runLine: (endpoint: string, body: Json) => LineResult): void {
    const errors: NonNullable<StoredBatch["validationErrors"]> = [];
    const lines = text.split("\n").map((l) => l.trim());
    const parsed: Json[] = [];
    lines.forEach((l, i) => {
      if (!l) return;
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        errors.push({ code: "invalid_json_line", message: "This line is not parseable as valid JSON.", param: null, line: i + 1 });
        return;
      }
      const j = v as Json;
      if (!v || typeof v !== "object" || typeof j.custom_id !== "string") {
        errors.push({ code: "missing_required_parameter", message: "Missing required parameter: 'custom_id'.", param: "custom_id", line: i + 1 });
      } else if (typeof j.url !== "string" || bareEndpoint(j.url) !== bareEndpoint(b.endpoint)) {
        errors.push({ code: "invalid_url", message: `The URL provided for this request does not match the batch endpoint ${b.endpoint}.`, param: "url", line: i + 1 });
      } else parsed.push(j);
    });
    if (!parsed.length && !errors.length) errors.push({ code: "empty_file", message: "The batch input file is empty.", param: null, line: null });
    if (errors.length) {
      b.validationErrors = errors;
      return;
    }
    b.total = parsed.length;
    for (const line of parsed) {
      const r = runLine(b.endpoint, (line.body as Json) ?? {});
      const out = JSON.stringify({
        id: `batch_req_${randomBytes(16).toString("hex")}`,
        custom_id: line.custom_id,
        response: { status_code: r.status_code, request_id: randomBytes(16).toString("hex"), body: r.body },
        error: null,
      });
      if (r.status_code === 200) b.output.push(out);
      else b.errorLines.push(out);
    }
  }

  private phase(b: StoredBatch, now: number): "validating" | "failed" | "in_progress" | "finalizing" | "completed" | "cancelling" | "cancelled" {
    const t = now - b.createdMs;
    const v = this.timing.batchValidatingMs;
    const p = v + this.timing.batchInProgressMs;
    const f = p + this.timing.batchFinalizingMs;
    if (b.cancelledMs !== undefined) return now > b.cancelledMs ? "cancelled" : "cancelling";
    if (t < v) return "validating";
    if (b.validationErrors) return "failed";
    if (t < p) return "in_progress";
    if (t < f) return "finalizing";
    return "completed";
  }

  /** Output and error files appear on this resource when a batch completes. */
  private advanceAll(): void {
    const now = this.clock();
    for (const b of this.batches.values()) {
      if (b.output_file_id !== undefined || this.phase(b, now) !== "completed") continue;
      const sec = Math.floor((b.createdMs + this.timing.batchValidatingMs + this.timing.batchInProgressMs + this.timing.batchFinalizingMs) / 1000);
      const text = (lines: string[]) => Buffer.from(lines.map((l) => l + "\n").join(""));
      b.output_file_id = this.addFile(`${b.id}_output.jsonl`, "batch_output", text(b.output), sec).id;
      if (b.errorLines.length) b.error_file_id = this.addFile(`${b.id}_error.jsonl`, "batch_output", text(b.errorLines), sec).id;
    }
  }

  private view(b: StoredBatch): Json {
    const now = this.clock();
    const phase = this.phase(b, now);
    const sec = (ms: number) => Math.floor(ms / 1000);
    const at = (offset: number) => sec(b.createdMs + offset);
    const v = this.timing.batchValidatingMs;
    const p = v + this.timing.batchInProgressMs;
    const f = p + this.timing.batchFinalizingMs;
    const reached = (offset: number) => b.cancelledMs === undefined && now - b.createdMs >= offset;
    const done = phase === "completed";
    const failed = phase === "failed";
    return {
      id: b.id,
      object: "batch",
      endpoint: b.endpoint,
      errors: b.validationErrors && failed ? { object: "list", data: b.validationErrors } : null,
      input_file_id: b.input_file_id,
      completion_window: b.completion_window,
      status: phase,
      output_file_id: done ? (b.output_file_id ?? null) : null,
      error_file_id: done ? (b.error_file_id ?? null) : null,
      created_at: b.created_at,
      in_progress_at: !b.validationErrors && reached(v) ? at(v) : null,
      expires_at: b.created_at + 24 * 3600,
      finalizing_at: !b.validationErrors && reached(p) ? at(p) : null,
      completed_at: done ? at(f) : null,
      failed_at: failed ? at(v) : null,
      expired_at: null,
      cancelling_at: b.cancelledMs !== undefined ? sec(b.cancelledMs) : null,
      cancelled_at: phase === "cancelled" ? sec(b.cancelledMs!) : null,
      request_counts: {
        total: b.total,
        completed: done ? b.output.length : 0,
        failed: done ? b.errorLines.length : 0,
      },
      metadata: b.metadata,
    };
  }

  batch(op: string, id: string | undefined, query: URLSearchParams): StateReply {
    this.advanceAll();
    if (op === "list") return ok(listPage(this.batches.values().map((b) => this.view(b) as Json & { id: string }), query, "desc"));
    const b = id ? this.batches.get(id) : undefined;
    if (!b) return fail(404, "batch-not-found", E.batchNotFound(id ?? ""));
    if (op === "cancel") {
      const phase = this.phase(b, this.clock());
      if (phase !== "validating" && phase !== "in_progress" && phase !== "finalizing") {
        if (phase === "cancelling" || phase === "cancelled") return ok(this.view(b));
        return fail(409, "conflict", E.cannotCancelBatch(phase));
      }
      b.cancelledMs = this.clock();
    }
    return ok(this.view(b));
  }
}

