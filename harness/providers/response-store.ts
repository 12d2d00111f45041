/**
 * Stored Responses API state of one mock (one Azure resource / OpenAI organisation): responses
 * (store defaults true), their input and output items, conversations. Another mock never knows
 * these ids: a follow-up sent to it gets the service's not-found error.
 *
 * - previous_response_id: must be stored here, else 400 previous_response_not_found.
 * - conversation: must exist here, else 404; its items grow with every response in it.
 * - input items carrying a stored id (item_reference, or any item whose id starts with rs_/msg_)
 *   must be stored here, else 404 "Item with id '…' not found. …" (param "input").
 * - context: a follow-up's input_tokens include the previous response's (or the conversation's)
 *   input + output tokens, as the real service bills the replayed history.
 * - background: status is read off the provider clock: queued → in_progress → completed
 *   (timing.responseQueuedMs / responseInProgressMs); cancel stops it (status "cancelled").
 *   A background request that also asks to stream is streamed to completion (no polling).
 */
import type { Answer } from "./chat.ts";
import { BoundedMap, listPage, newId } from "./bounded-map.ts";
import * as E from "./error-bodies.ts";
import { outputItems, responseObject, type ResponseShape, type ResponseState } from "./responses-api.ts";
import { textTokens } from "./tokens.ts";

type Json = Record<string, unknown>;

export interface StateReply {
  status: number;
  outcome: string;
  body: string;
}

const ok = (body: unknown): StateReply => ({ status: 200, outcome: "ok", body: JSON.stringify(body) });
const fail = (status: number, outcome: string, body: string): StateReply => ({ status, outcome, body });

interface StoredResponse {
  id: string;
  answer: Answer;
  shape: ResponseShape;
  /** Provider clock at creation (background timing). */
  createdMs: number;
  cancelledMs?: number;
  inputItems: Json[];
  /** Streamed to the client: complete at once, whatever `background` says. */
  streamed: boolean;
  /** input_tokens + output_tokens: the history a follow-up replays. */
  contextTokens: number;
}

interface Conversation {
  id: string;
  created_at: number;
  metadata: Json;
  items: Json[];
  contextTokens: number;
}

export interface CreateContext {
  previousResponseId: string | null;
  conversationId: string | null;
  /** Tokens of the replayed history, added to the prompt estimate. */
  contextTokens: number;
}

export interface StateTimingResolved {
  responseQueuedMs: number;
  responseInProgressMs: number;
}

function conversationIdOf(body: Json): string | undefined {
  const c = body.conversation;
  if (typeof c === "string") return c;
  if (c && typeof c === "object" && typeof (c as Json).id === "string") return (c as Json).id as string;
  return undefined;
}

/** Ids an input refers to: item_reference ids, and ids of items that look stored (rs_…, msg_…). */
function referencedIds(input: unknown): string[] {
  if (!Array.isArray(input)) return [];
  const ids: string[] = [];
  for (const it of input) {
    if (!it || typeof it !== "object") continue;
    const id = (it as Json).id;
    if (typeof id !== "string") continue;
    if ((it as Json).type === "item_reference" || id.startsWith("rs_") || id.startsWith("msg_")) ids.push(id);
  }
  return ids;
}

/** The request's input as stored input items, each with an id (the service assigns msg_… ids). */
function toInputItems(body: Json): Json[] {
  const text = (t: string) => [{ type: "input_text", text: t }];
  if (typeof body.input === "string") {
    return [{ id: newId("msg_"), type: "message", role: "user", status: "completed", content: text(body.input) }];
  }
  if (!Array.isArray(body.input)) return [];
  return body.input.map((raw) => {
    if (typeof raw === "string") return { id: newId("msg_"), type: "message", role: "user", status: "completed", content: text(raw) };
    const it = { ...(raw as Json) };
    if (it.type === undefined && it.role !== undefined) it.type = "message";
    if (it.type === "message" && typeof it.content === "string") it.content = text(it.content);
    if (it.type === "message" && it.status === undefined) it.status = "completed";
    if (typeof it.id !== "string") it.id = newId(it.type === "message" ? "msg_" : "item_");
    return it;
  });
}

export class ResponseStore {
  private readonly responses: BoundedMap<string, StoredResponse>;
  private readonly items: BoundedMap<string, Json>;
  private readonly conversations: BoundedMap<string, Conversation>;

  constructor(
    max: number,
    private readonly timing: StateTimingResolved,
  ) {
    this.items = new BoundedMap(max * 8);
    this.responses = new BoundedMap(max, (_id, r) => this.dropItems(r));
    this.conversations = new BoundedMap(max);
  }

  clear(): void {
    this.responses.clear();
    this.items.clear();
    this.conversations.clear();
  }

  counts() {
    return { responses: this.responses.size, conversations: this.conversations.size };
  }

  ids() {
    return { responses: this.responses.keys(), items: this.items.keys(), conversations: this.conversations.keys() };
  }

  owns(id: string): boolean {
    return this.responses.has(id) || this.items.has(id) || this.conversations.has(id);
  }

  private dropItems(r: StoredResponse): void {
    for (const it of [...r.inputItems, ...outputItems(r.answer, r.shape)]) this.items.delete(it.id as string);
  }

  // ---- POST /responses ----------------------------------------------------------------------

  /** Checks the stored state a create names; the error reply when this resource lacks it. */
  prepare(body: Json): CreateContext | StateReply {
    const prev = body.previous_response_id;
    const convId = conversationIdOf(body);
    if (typeof prev === "string" && convId !== undefined) return fail(400, "bad-request", E.PREVIOUS_AND_CONVERSATION);
    let contextTokens = 0;
    if (typeof prev === "string") {
      const p = this.responses.get(prev);
      if (!p) return fail(400, "previous-response-not-found", E.previousResponseNotFound(prev));
      contextTokens = p.contextTokens;
    }
    if (convId !== undefined) {
      const c = this.conversations.get(convId);
      if (!c) return fail(404, "conversation-not-found", E.conversationNotFound(convId));
      contextTokens = c.contextTokens;
    }
    for (const id of referencedIds(body.input)) {
      if (!this.items.has(id)) return fail(404, "item-not-found", E.itemNotFound(id));
    }
    return { previousResponseId: typeof prev === "string" ? prev : null, conversationId: convId ?? null, contextTokens };
  }

  /** Keeps a created response (when `store` is not false) and extends its conversation. */
  record(body: Json, answer: Answer, shape: ResponseShape, now: number, streamed: boolean): void {
    const inputItems = toInputItems(body);
    const out = outputItems(answer, shape);
    const contextTokens = answer.promptTokens + answer.pieces.length + shape.reasoningTokens;
    if (shape.conversationId) {
      const c = this.conversations.get(shape.conversationId);
      if (c) {
        c.items.push(...inputItems, ...out);
        c.contextTokens = contextTokens;
        for (const it of [...inputItems, ...out]) this.items.set(it.id as string, it);
      }
    }
    if (!shape.store) return;
    this.responses.set(answer.id, { id: answer.id, answer, shape, createdMs: now, inputItems, streamed, contextTokens });
    for (const it of [...inputItems, ...out]) this.items.set(it.id as string, it);
  }

  private state(r: StoredResponse, now: number): ResponseState {
    if (r.cancelledMs !== undefined) return "cancelled";
    if (!r.shape.background || r.streamed) return "done";
    const t = now - r.createdMs;
    if (t < this.timing.responseQueuedMs) return "queued";
    if (t < this.timing.responseQueuedMs + this.timing.responseInProgressMs) return "in_progress";
    return "done";
  }

  /** The response object as it reads now (background responses move on with the clock). */
  view(id: string, now: number): Json | undefined {
    const r = this.responses.get(id);
    return r ? responseObject(r.answer, r.shape, this.state(r, now)) : undefined;
  }

  // ---- /responses/{id}… -----------------------------------------------------------------------

  get(id: string, now: number): StateReply {
    const v = this.view(id, now);
    return v ? ok(v) : fail(404, "response-not-found", E.responseNotFound(id));
  }

  delete(id: string): StateReply {
    const r = this.responses.get(id);
    if (!r) return fail(404, "response-not-found", E.responseNotFound(id));
    this.responses.delete(id);
    this.dropItems(r);
    return ok({ id, object: "response", deleted: true });
  }

  cancel(id: string, now: number): StateReply {
    const r = this.responses.get(id);
    if (!r) return fail(404, "response-not-found", E.responseNotFound(id));
    if (!r.shape.background) return fail(400, "bad-request", E.CANNOT_CANCEL_SYNC);
    const s = this.state(r, now);
    if (s === "done") return fail(400, "bad-request", E.cannotCancelResponse(this.view(id, now)!.status as string));
    if (s !== "cancelled") r.cancelledMs = now;
    return ok(this.view(id, now));
  }

  inputItems(id: string, query: URLSearchParams): StateReply {
    const r = this.responses.get(id);
    if (!r) return fail(404, "response-not-found", E.responseNotFound(id));
    return ok(listPage(r.inputItems as Array<Json & { id: string }>, query, "desc"));
  }

  // ---- /conversations… ----------------------------------------------------------------------

  private conversationObject(c: Conversation) {
    return { id: c.id, object: "conversation", created_at: c.created_at, metadata: c.metadata };
  }

  createConversation(body: Json): StateReply {
    const items = toInputItems({ input: Array.isArray(body.items) ? body.items : [] });
    const c: Conversation = {
      id: newId("conv_"),
      created_at: Math.floor(Date.now() / 1000),
      metadata: (body.metadata as Json) ?? {},
      items,
      contextTokens: items.reduce((n, it) => n + 4 + textTokens(JSON.stringify(it.content ?? "")), 0),
    };
    this.conversations.set(c.id, c);
    for (const it of items) this.items.set(it.id as string, it);
    return ok(this.conversationObject(c));
  }

  conversation(op: string, id: string, subId: string | undefined, body: Json | undefined, query: URLSearchParams): StateReply {
    const c = this.conversations.get(id);
    if (!c) return fail(404, "conversation-not-found", E.conversationNotFound(id));
    switch (op) {
      case "get":
        return ok(this.conversationObject(c));
      case "update":
        if (body?.metadata && typeof body.metadata === "object") c.metadata = body.metadata as Json;
        return ok(this.conversationObject(c));
      case "delete":
        this.conversations.delete(id);
        return ok({ id, object: "conversation.deleted", deleted: true });
      case "items":
        return ok(listPage(c.items as Array<Json & { id: string }>, query, "desc"));
      case "add_items": {
        const added = toInputItems({ input: Array.isArray(body?.items) ? body.items : [] });
        c.items.push(...added);
        for (const it of added) this.items.set(it.id as string, it);
        c.contextTokens += added.reduce((n, it) => n + 4 + textTokens(JSON.stringify(it.content ?? "")), 0);
        return ok({ object: "list", data: added, first_id: added[0]?.id ?? null, last_id: added.at(-1)?.id ?? null, has_more: false });
      }
      case "item":
      case "delete_item": {
        const i = c.items.findIndex((it) => it.id === subId);
        if (i < 0) return fail(404, "item-not-found", E.conversationItemNotFound(subId ?? ""));
        if (op === "item") return ok(c.items[i]);
        c.items.splice(i, 1);
        return ok(this.conversationObject(c));
      }
      default:
        return fail(404, "not-found", E.conversationNotFound(id));
    }
  }
}
