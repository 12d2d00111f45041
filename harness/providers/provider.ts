/**
 * startMockProvider: an Azure OpenAI or OpenAI look-alike on 127.0.0.1.
 *
 * Order of checks for every request (each step records its outcome):
 *   1. record the request (headers, every credential, body)
 *   2. authenticate (401 in the service's exact body)
 *   3. route: unknown path → 404; Azure classic without api-version → 404 "Resource not found"
 *   4. body: invalid JSON, missing model/messages, stream_options without stream → 400
 *   5. deployment (Azure) / model (OpenAI): unknown → 404 DeploymentNotFound / model_not_found
 *   6. scripted fault (x-mock-* headers first, then setFault list)
 *   7. rate-limit admission: prompt estimate + max tokens against the window → 429 at once
 *   8. latency, then the answer (JSON or SSE)
 * Every response for a known deployment/model carries x-ratelimit-remaining-* (except a bare 429 fault).
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { answerBody, answerFrames, buildAnswer } from "./answer.ts";
import { authenticate, credentialsOf, primaryCredential } from "./credentials.ts";
import { embeddingBody } from "./embeddings.ts";
import * as E from "./error-bodies.ts";
import { FaultBook, readHeaderScript, type HeaderScript } from "./faults.ts";
import { Listener } from "./listener.ts";
import { modelsListBody } from "./models-list.ts";
import { windowHeaders } from "./ratelimit-headers.ts";
import { RateWindow } from "./rate-window.ts";
import { distinctCredentials, joinHeaders, rawHeaderPairs } from "./records.ts";
import { faultReply, rateLimitReply, type Reply } from "./replies.ts";
import { isDeploymentCall, resolveRoute, type Route } from "./routes.ts";
import { newId } from "./bounded-map.ts";
import { SSE_DONE, type Answer } from "./chat.ts";
import { FileBatchStore, type LineResult } from "./files-batches.ts";
import { imageAnswer, speechAnswer, transcriptText, transcriptionAnswer } from "./media.ts";
import { multipartBoundary, parseMultipart, type FormData } from "./multipart.ts";
import { ResponseStore, type CreateContext, type StateReply } from "./response-store.ts";
import { defaultShape, type ResponseShape } from "./responses-api.ts";
import { restyleFrames, restyleJson, writeFrames } from "./stream-writer.ts";
import { DEFAULT_MAX_TOKENS, estimatePromptTokens, requestedMaxTokens } from "./tokens.ts";
import type {
  ApiName,
  Fault,
  FaultAction,
  LimitSpec,
  MockProvider,
  MockProviderOptions,
  ModelSpec,
  ProviderStats,
  ReasoningSpec,
  StoredIds,
  RequestRecord,
  StreamTiming,
  WindowState,
} from "./types.ts";

function withUnlimitedListeners(c: AbortController): AbortController {
  setMaxListeners(0, c.signal);
  return c;
}

/** Limits when a deployment/model names none: high enough never to trip by accident. */
export const DEFAULT_LIMITS: Required<LimitSpec> = { tokensPerMinute: 100_000_000, requestsPerMinute: 1_000_000 };

type Json = Record<string, unknown>;

interface Target {
  key: string;
  model: string;
  limits: LimitSpec;
  reasoning?: ReasoningSpec;
}

function normalizeModels(models: MockProviderOptions["models"]): Record<string, ModelSpec> | undefined {
  if (!models) return undefined;
  if (Array.isArray(models)) return Object.fromEntries(models.map((m) => [m, {}]));
  return models;
}

class MockProviderServer implements MockProvider {
  readonly name: string;
  readonly kind: MockProviderOptions["kind"];
  readonly records: RequestRecord[] = [];
  private readonly listener: Listener;
  private readonly clock: () => number;
  private readonly windowMs: number;
  private readonly faults = new FaultBook();
  private windows = new Map<string, RateWindow>();
  private keys: Set<string>;
  private readonly entraTokens: Set<string>;
  private readonly models: Record<string, ModelSpec> | undefined;
  private latencyMs: number;
  private timing: StreamTiming & { firstChunkMs: number; chunkIntervalMs: number };
  private admitted = 0;
  private seq = 0;
  private readonly responseStore: ResponseStore;
  private readonly fileStore: FileBatchStore;
  /**
   * Aborts every pending delay at close(). Each in-flight request's delay listens on it (and stops
   * listening when it ends), so many concurrent requests are many listeners, not a leak.
   */
  private readonly closing = withUnlimitedListeners(new AbortController());

  constructor(private readonly opts: MockProviderOptions) {
    this.name = opts.name;
    this.kind = opts.kind;
    this.clock = opts.clock ?? Date.now;
    this.windowMs = opts.windowMs ?? 60_000;
    this.keys = new Set(opts.keys);
    this.entraTokens = new Set(opts.entraTokens ?? []);
    this.models = normalizeModels(opts.models);
    this.latencyMs = opts.latencyMs ?? 0;
    this.timing = { firstChunkMs: opts.stream?.firstChunkMs ?? 0, chunkIntervalMs: opts.stream?.chunkIntervalMs ?? 0, firstTokenMs: opts.stream?.firstTokenMs };
    const t = opts.timing ?? {};
    const maxStored = opts.maxStored ?? 10_000;
    this.responseStore = new ResponseStore(maxStored, {
      responseQueuedMs: t.responseQueuedMs ?? 50,
      responseInProgressMs: t.responseInProgressMs ?? 100,
    });
    this.fileStore = new FileBatchStore(
      maxStored,
      { batchValidatingMs: t.batchValidatingMs ?? 50, batchInProgressMs: t.batchInProgressMs ?? 100, batchFinalizingMs: t.batchFinalizingMs ?? 0 },
      this.clock,
    );
    this.listener = new Listener((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(E.defaultStatusBody(this.kind, 500));
        }
        console.error(`[mock ${this.name}] handler error`, err);
      });
    });
  }

  get port(): number {
    return this.listener.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port: number): Promise<void> {
    await this.listener.listen(port);
  }

  // ---- public controls -------------------------------------------------------------------

  setFault(fault: Fault): void {
    this.faults.add(fault, this.clock());
  }

  clearFaults(): void {
    this.faults.clear();
  }

  setKeys(keys: string[]): void {
    this.keys = new Set(keys);
  }

  setAcceptIdentities(identities: string[]): void {
    this.opts.acceptIdentities = [...identities];
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  setStreamTiming(timing: StreamTiming): void {
    this.timing = { ...this.timing, ...timing };
  }

  startOutage(mode: "refused" | "reset", forMs?: number): Promise<void> {
    return this.listener.startOutage(mode, forMs);
  }

  endOutage(): Promise<void> {
    return this.listener.endOutage();
  }

  credentialsSeen() {
    return distinctCredentials(this.records);
  }

  storedIds(): StoredIds {
    return { ...this.responseStore.ids(), ...this.fileStore.ids() };
  }

  owns(id: string): boolean {
    return this.responseStore.owns(id) || this.fileStore.owns(id);
  }

  stats(): ProviderStats {
    const now = this.clock();
    const byStatus: Record<number, number> = {};
    const byOutcome: Record<string, number> = {};
    let promptTokens = 0;
    let completionTokens = 0;
    for (const r of this.records) {
      byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1;
      if (r.status === 200) {
        promptTokens += r.promptTokens ?? 0;
        completionTokens += r.completionTokens ?? 0;
      }
    }
    const windows: Record<string, WindowState> = {};
    for (const [k, w] of this.windows) windows[k] = w.state(now);
    return {
      requests: this.records.length,
      byStatus,
      byOutcome,
      admitted: this.admitted,
      promptTokens,
      completionTokens,
      connections: this.listener.connections,
      outageResets: this.listener.outageResets,
      windows,
      stored: { ...this.responseStore.counts(), ...this.fileStore.counts() },
    };
  }

  reset(): void {
    this.records.length = 0;
    this.faults.clear();
    this.windows = new Map();
    this.admitted = 0;
    this.responseStore.clear();
    this.fileStore.clear();
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.listener.close();
  }

  // ---- request pipeline ------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://mock");
    const rawHeaders = rawHeaderPairs(req);
    const headers = joinHeaders(rawHeaders);
    const credentials = credentialsOf(rawHeaders);
    const method = req.method ?? "GET";
    const route = resolveRoute(this.kind, method, url.pathname, this.opts.basePath);
    // 1. record
    const rec: RequestRecord = {
      seq: ++this.seq,
      time: this.clock(),
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      rawHeaders,
      credential: primaryCredential(this.kind, credentials),
      credentials,
      surface: route?.surface ?? "unknown",
      api: route?.api ?? "unknown",
      op: route?.op,
      apiVersion: url.searchParams.get("api-version") ?? undefined,
      body: "",
      stream: false,
      includeUsage: false,
      status: 0,
      outcome: "pending",
      completed: false,
    };
    this.records.push(rec);
    const bytes = await readBody(req);
    rec.body = bytes.toString("utf8");
    const boundary = multipartBoundary(headers["content-type"]);
    if (boundary !== undefined) rec.bodyBytes = bytes;
    const form = boundary !== undefined ? parseMultipart(bytes, boundary) : undefined;
    const body = form ? { ...form.fields } : parseObject(rec.body);
    rec.stream = body?.stream === true;
    rec.includeUsage = rec.stream && (body?.stream_options as Json | undefined)?.include_usage === true;
    if (typeof body?.model === "string") rec.model = body.model;

    const base = this.serviceHeaders();
    const reply = (r: Reply) => this.sendJson(res, rec, r.status, r.outcome, r.body, { ...base, ...r.headers });
    const send = (status: number, outcome: string, text: string) => reply({ status, outcome, body: text, headers: {} });

    // 2. authenticate
    const tokens = this.opts.tokenAuthority ? { authority: this.opts.tokenAuthority, identities: new Set(this.opts.acceptIdentities ?? []) } : undefined;
    const denied = authenticate(this.kind, rec.surface, rec.credential, { keys: this.keys, entraTokens: this.entraTokens, tokens });
    if (denied) return send(401, "unauthorized", denied);

    // 3. route
    if (!route) {
      return send(404, "not-found", this.kind === "azure" ? E.AZURE_404_RESOURCE : E.openaiInvalidUrl(method, url.pathname));
    }
    if (route.needsApiVersion && !rec.apiVersion) return send(404, "missing-api-version", E.AZURE_404_RESOURCE);

    if (route.api === "models") {
      const { fault } = this.pickFault(headers, route.api, undefined, false);
      if (fault && this.replyToFault(fault, rec, res, base, {}, "")) return;
      const ids =
        this.kind === "azure" ? Object.values(this.opts.deployments ?? {}).map((d) => d.model) : Object.keys(this.models ?? {});
      return send(200, "ok", modelsListBody(this.kind, ids));
    }

    // Resource state (stored responses, conversations, files, batches): no deployment, no window.
    if (!isDeploymentCall(route)) return this.handleResource(route, rec, res, base, headers, url.searchParams, body, form, boundary);

    // 4. body
    const multipartApi = (route.api === "audio" && route.op !== "speech") || (route.api === "images" && route.op === "edits");
    if (multipartApi && !form) return send(400, "bad-request", E.missingParameter("file"));
    if (!body) return send(400, "invalid-json", E.INVALID_JSON);
    if (route.api === "chat" && !Array.isArray(body.messages)) return send(400, "bad-request", E.missingParameter("messages"));
    if (body.stream_options != null && body.stream !== true) {
      return send(400, "bad-request", E.STREAM_OPTIONS_WITHOUT_STREAM);
    }
    const upload = form?.files.file?.[0];
    const images = [...(form?.files.image ?? []), ...(form?.files["image[]"] ?? [])];
    if (route.api === "images" && typeof body.prompt !== "string") return send(400, "bad-request", E.missingParameter("prompt"));
    if (route.api === "images" && route.op === "edits" && images.length === 0) return send(400, "bad-request", E.missingParameter("image"));
    if (route.api === "audio" && route.op !== "speech" && !upload) return send(400, "bad-request", E.missingParameter("file"));
    if (route.api === "audio" && route.op === "speech") {
      if (typeof body.input !== "string") return send(400, "bad-request", E.missingParameter("input"));
      if (typeof body.voice !== "string") return send(400, "bad-request", E.missingParameter("voice"));
    }

    // 5. deployment / model (and, for the Responses API, the stored state it names)
    if (this.kind === "openai" && route.api === "images" && body.model === undefined) body.model = "dall-e-2";
    const target = this.resolveTarget(route, body);
    if ("error" in target) return send(target.status, target.outcome, target.error);
    if (this.kind === "azure") rec.deployment = target.key;
    rec.model = target.model;
    const stream = route.api !== "embeddings" && route.api !== "audio" && route.api !== "images" && rec.stream;
    // OpenAI projects: each key its own window (perKeyWindows); Azure: one per deployment.
    const window = this.windowFor(target, this.opts.perKeyWindows ? rec.credential?.value : undefined);
    let context: CreateContext | undefined;
    if (route.api === "responses") {
      const prepared = this.responseStore.prepare(body);
      if ("status" in prepared) return send(prepared.status, prepared.outcome, prepared.body);
      context = prepared;
    }

    // 6. faults
    const { fault, script } = this.pickFault(headers, route.api, target.key, stream);
    const withWindow = this.opts.rateLimitHeaders !== false;
    const rl = withWindow ? windowHeaders(this.kind, window.state(this.clock())) : {};
    if (fault && this.replyToFault(fault, rec, res, base, rl, target.key)) return;

    // 7. admission
    const promptTokens = estimatePromptTokens(route.api, body) + (context?.contextTokens ?? 0);
    const maxTokens = requestedMaxTokens(route.api, body, this.opts.defaultMaxTokens ?? DEFAULT_MAX_TOKENS);
    const reserved = promptTokens + maxTokens;
    rec.promptTokens = promptTokens;
    const adm = window.admit(reserved, this.clock());
    if (!adm.admitted) {
      return reply(rateLimitReply(this.kind, adm, { api: route.api, apiVersion: rec.apiVersion, modelName: target.key, reserved }, withWindow));
    }
    this.admitted += 1;
    rec.reservedTokens = reserved;
    const okHeaders = { ...base, ...(withWindow ? windowHeaders(this.kind, adm.state) : {}) };

    // 8. latency, then the answer
    const latency = (script.latencyMs ?? this.latencyMs) + (fault?.type === "latency" ? fault.ms : 0);
    if (latency > 0 && !(await this.wait(latency))) return;
    if (res.destroyed) {
      rec.outcome = "client-gone";
      return;
    }

    if (route.api === "embeddings") {
      rec.completionTokens = 0;
      const text = embeddingBody(body, target.model, promptTokens, this.opts.embeddingDimensions ?? 8);
      return this.sendJson(res, rec, 200, "ok", text, okHeaders);
    }
    if (route.api === "images" || route.api === "audio") {
      const m =
        route.api === "images"
          ? imageAnswer(this.kind, target.model, body, promptTokens, this.url)
          : route.op === "speech"
            ? speechAnswer(body)
            : transcriptionAnswer(route.op as "transcriptions" | "translations", body.response_format as string | undefined, transcriptText(this.name, upload!), upload!);
      rec.completionTokens = m.outputTokens;
      return this.sendBytes(res, rec, 200, "ok", m.body, m.contentType, okHeaders);
    }

    const answer = buildAnswer({
      kind: this.kind,
      api: route.api,
      providerName: this.name,
      model: target.model,
      promptTokens,
      maxTokens,
      completionTokens: script.completionTokens ?? this.opts.completionTokens ?? 8,
      text: script.completionTokens === undefined ? this.opts.completionText : undefined,
      outputFiltered: fault?.type === "contentFilterOutput",
    });
    rec.completionTokens = answer.pieces.length;
    const maxOutputTokens = typeof body.max_output_tokens === "number" ? body.max_output_tokens : null;
    let shape: ResponseShape | undefined;
    if (route.api === "responses") {
      shape = this.responseShape(answer, body, target, context!, maxOutputTokens);
      rec.completionTokens += shape.reasoningTokens;
      this.responseStore.record(body, answer, shape, this.clock(), stream);
      if (shape.background && !stream) {
        return this.sendJson(res, rec, 200, "ok", JSON.stringify(this.responseStore.view(answer.id, this.clock())), okHeaders);
      }
    }
    const style = script.json ?? "compact";
    if (!stream) return this.sendJson(res, rec, 200, "ok", restyleJson(answerBody(route.api, answer, maxOutputTokens, shape), style), okHeaders);

    const built = answerFrames(route.api, answer, {
      includeUsage: rec.includeUsage,
      promptFilterFrame: this.kind === "azure" && (this.opts.promptFilterFrame ?? true),
      maxOutputTokens,
      shape,
    });
    const firstPieceFrame = built.firstPieceFrame;
    const frames = restyleFrames(script.omitDone ? built.frames.filter((f) => f !== SSE_DONE) : built.frames, style);
    rec.status = 200;
    rec.outcome = "ok";
    res.writeHead(200, { ...okHeaders, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    res.flushHeaders();
    const firstTokenMs = script.timing.firstTokenMs ?? this.timing.firstTokenMs;
    const end = await writeFrames(res, frames, {
      firstChunkMs: script.timing.firstChunkMs ?? this.timing.firstChunkMs,
      chunkIntervalMs: script.timing.chunkIntervalMs ?? this.timing.chunkIntervalMs,
      firstToken: firstTokenMs !== undefined ? { frame: firstPieceFrame, ms: firstTokenMs } : undefined,
      cutAfter: fault?.type === "cutStream" ? fault.afterChunks : undefined,
      endAfter: fault?.type === "endStream" ? fault.afterChunks : undefined,
      stallAfter: fault?.type === "stallStream" ? fault.afterChunks : undefined,
      signal: this.closing.signal,
      sentAt: (rec.frameSentAt = []),
    });
    rec.completed = end.end === "completed";
    if (!rec.completed) {
      rec.outcome = end.end === "cut" ? "fault:cut-stream" : end.end === "ended" ? "fault:end-stream" : end.end === "stalled" ? "fault:stall-stream" : end.end;
      rec.completionTokens = Math.min(answer.pieces.length, Math.max(0, end.written - firstPieceFrame));
    }
  }

  /** The Responses API extras of one answer: ids, reasoning, the state it continues. */
  private responseShape(answer: Answer, body: Json, target: Target, ctx: CreateContext, maxOutputTokens: number | null): ResponseShape {
    const shape = defaultShape(answer, maxOutputTokens);
    shape.messageId = newId("msg_");
    if (target.reasoning?.reasoning) {
      shape.reasoningId = newId("rs_");
      shape.reasoningTokens = target.reasoning.reasoningTokens ?? 16;
    }
    shape.previousResponseId = ctx.previousResponseId;
    shape.conversationId = ctx.conversationId;
    shape.store = body.store !== false;
    shape.background = body.background === true;
    shape.instructions = typeof body.instructions === "string" ? body.instructions : null;
    if (body.metadata && typeof body.metadata === "object") shape.metadata = body.metadata as Json;
    return shape;
  }

  /** Stored responses, conversations, files and batches: auth and routing done; faults and latency apply. */
  private async handleResource(
    route: Route,
    rec: RequestRecord,
    res: ServerResponse,
    base: Record<string, string>,
    headers: Record<string, string>,
    query: URLSearchParams,
    body: Json | undefined,
    form: FormData | undefined,
    boundary: string | undefined,
  ): Promise<void> {
    const send = (r: StateReply) => this.sendJson(res, rec, r.status, r.outcome, r.body, base);
    const { fault, script } = this.pickFault(headers, route.api, undefined, false);
    if (fault && this.replyToFault(fault, rec, res, base, {}, "")) return;
    const latency = (script.latencyMs ?? this.latencyMs) + (fault?.type === "latency" ? fault.ms : 0);
    if (latency > 0 && !(await this.wait(latency))) return;
    if (res.destroyed) {
      rec.outcome = "client-gone";
      return;
    }
    const now = this.clock();
    const id = route.id ?? "";
    // JSON bodies: creates and updates (an absent body reads as {}); files take multipart.
    const needsJson = (route.api === "batches" && route.op === "create") || (route.api === "conversations" && ["create", "update", "add_items"].includes(route.op));
    if (needsJson && rec.body.trim() !== "" && !body) return send({ status: 400, outcome: "invalid-json", body: E.INVALID_JSON });
    const json = body ?? {};
    switch (route.api) {
      case "responses":
        if (route.op === "get") return send(this.responseStore.get(id, now));
        if (route.op === "delete") return send(this.responseStore.delete(id));
        if (route.op === "cancel") return send(this.responseStore.cancel(id, now));
        return send(this.responseStore.inputItems(id, query));
      case "conversations":
        if (route.op === "create") return send(this.responseStore.createConversation(json));
        return send(this.responseStore.conversation(route.op, id, route.subId, json, query));
      case "files": {
        if (route.op === "create" && boundary === undefined) return send({ status: 400, outcome: "bad-request", body: E.missingParameter("file") });
        const r = this.fileStore.file(route.op, route.id, form, query);
        if ("content" in r) return this.sendBytes(res, rec, 200, "ok", r.content, "application/octet-stream", base);
        return send(r);
      }
      case "batches":
        if (route.op === "create") return send(this.fileStore.createBatch(this.kind, json, (endpoint, line) => this.runBatchLine(endpoint, line)));
        return send(this.fileStore.batch(route.op, route.id, query));
      default:
        return send({ status: 404, outcome: "not-found", body: E.openaiInvalidUrl(rec.method, rec.path) });
    }
  }

  /** One batch line, answered as the deployment/model it names would answer it (no window: batch quota is separate). */
  private runBatchLine(endpoint: string, body: Json): LineResult {
    const api: ApiName = endpoint.endsWith("/chat/completions")
      ? "chat"
      : endpoint.endsWith("/embeddings")
        ? "embeddings"
        : endpoint.endsWith("/responses")
          ? "responses"
          : "completions";
    const target = this.resolveTarget({ surface: "openai", api, op: "create", needsApiVersion: false }, body);
    if ("error" in target) return { status_code: target.status, body: JSON.parse(target.error) as unknown };
    const promptTokens = estimatePromptTokens(api, body);
    if (api === "embeddings") {
      return { status_code: 200, body: JSON.parse(embeddingBody(body, target.model, promptTokens, this.opts.embeddingDimensions ?? 8)) as unknown };
    }
    const maxTokens = requestedMaxTokens(api, body, this.opts.defaultMaxTokens ?? DEFAULT_MAX_TOKENS);
    const answer = buildAnswer({
      kind: this.kind,
      api,
      providerName: this.name,
      model: target.model,
      promptTokens,
      maxTokens,
      completionTokens: this.opts.completionTokens ?? 8,
      text: this.opts.completionText,
      outputFiltered: false,
    });
    const maxOutputTokens = typeof body.max_output_tokens === "number" ? body.max_output_tokens : null;
    return { status_code: 200, body: JSON.parse(answerBody(api, answer, maxOutputTokens)) as unknown };
  }

  // ---- helpers -----------------------------------------------------------------------------

  private serviceHeaders(): Record<string, string> {
    if (this.kind === "azure") {
      const id = randomUUID();
      return { "apim-request-id": id, "x-request-id": id, "x-ms-region": this.opts.region ?? "East US" };
    }
    return {
      "x-request-id": `req_${randomBytes(16).toString("hex")}`,
      "openai-organization": "org-mock",
      "openai-processing-ms": "1",
      "openai-version": "2020-10-01",
    };
  }

  private resolveTarget(route: Route, body: Json): Target | { error: string; status: number; outcome: string } {
    const name = route.pathDeployment ?? (typeof body.model === "string" ? body.model : undefined);
    if (name === undefined || name === "") {
      return {
        status: 400,
        outcome: "bad-request",
        error: E.openaiError("you must provide a model parameter", "invalid_request_error", null, null),
      };
    }
    if (this.kind === "azure") {
      const dep = this.opts.deployments?.[name];
      if (!dep) return { status: 404, outcome: "deployment-not-found", error: E.AZURE_404_DEPLOYMENT };
      return { key: name, model: dep.model, limits: dep, reasoning: dep };
    }
    if (this.models && !this.models[name]) {
      return { status: 404, outcome: "model-not-found", error: E.openaiModelNotFound(name) };
    }
    const spec = this.models?.[name] ?? {};
    return { key: name, model: spec.model ?? name, limits: spec, reasoning: spec };
  }

  private windowFor(t: Target, credential?: string): RateWindow {
    const key = credential !== undefined ? `${t.key}\u0000${credential}` : t.key;
    let w = this.windows.get(key);
    if (!w) {
      const d = { ...DEFAULT_LIMITS, ...this.opts.defaultLimits };
      w = new RateWindow(t.limits.tokensPerMinute ?? d.tokensPerMinute, t.limits.requestsPerMinute ?? d.requestsPerMinute, this.windowMs);
      this.windows.set(key, w);
    }
    return w;
  }

  /** x-mock-* headers first, then the setFault list. */
  private pickFault(
    headers: Record<string, string>,
    api: ApiName,
    deployment: string | undefined,
    stream: boolean,
  ): { fault?: FaultAction; script: HeaderScript } {
    const script: HeaderScript = this.opts.scriptHeaders === false ? { timing: {} } : readHeaderScript(headers, this.name);
    return { fault: script.fault ?? this.faults.take({ api, deployment, stream }, this.clock()), script };
  }

  /** true when the fault answered (or killed/held) the request. */
  private replyToFault(
    fault: FaultAction,
    rec: RequestRecord,
    res: ServerResponse,
    base: Record<string, string>,
    rl: Record<string, string>,
    modelName: string,
  ): boolean {
    const r = faultReply(this.kind, fault, rl, modelName);
    if (r === undefined) return false;
    if (r === "reset") {
      rec.outcome = "fault:reset";
      res.socket?.resetAndDestroy();
    } else if (r === "hang") {
      rec.outcome = "fault:hang";
    } else {
      this.sendJson(res, rec, r.status, r.outcome, r.body, { ...base, ...r.headers });
    }
    return true;
  }

  /** Sleeps unless the mock closes first (then false). */
  private async wait(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.closing.signal });
      return true;
    } catch {
      return false;
    }
  }

  private sendJson(
    res: ServerResponse,
    rec: RequestRecord,
    status: number,
    outcome: string,
    text: string,
    headers: Record<string, string>,
  ): void {
    this.sendBytes(res, rec, status, outcome, text, "application/json", headers);
  }

  /** A reply of `contentType`: JSON, audio, plain-text transcripts, file content. */
  private sendBytes(
    res: ServerResponse,
    rec: RequestRecord,
    status: number,
    outcome: string,
    data: Buffer | string,
    contentType: string,
    headers: Record<string, string>,
  ): void {
    rec.status = status;
    rec.outcome = outcome;
    rec.completed = true;
    if (res.destroyed) return;
    res.writeHead(status, { ...headers, "content-type": contentType, "content-length": String(Buffer.byteLength(data)) });
    res.end(data);
  }
}

/** The body as a JSON object; undefined when empty, not JSON, or not an object. */
function parseObject(text: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", () => resolve(Buffer.concat(chunks)));
    req.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

export async function startMockProvider(options: MockProviderOptions): Promise<MockProvider> {
  if (options.kind === "azure" && !options.deployments) {
    throw new Error(`mock provider ${options.name}: kind "azure" needs deployments`);
  }
  const p = new MockProviderServer(options);
  await p.start(options.port ?? 0);
  return p;
}
