// Stateful requests stay with the provider that holds their state (issue 9): a stored response
// (`previous_response_id`, GET/DELETE/cancel/input_items on /responses/{id}, reasoning items
// `rs_…` replayed in `input`), a conversation, a file, a batch — each lives only in the Azure
// resource (or OpenAI organisation) that created it.
//
// The owner of each id is recorded as the answer passes (the created object's id, reasoning item
// ids, a batch's output/error file ids) in a bounded table in shared data — 4096 buckets of 16
// entries (65,536 ids), each entry (id hash, provider name hash, expiry) — so every worker sees
// it. A full bucket gives up its entry nearest to expiry. Entries live `OWNER_TTL_MS` (30 days,
// what the services keep stored responses).
//
// A request naming an id whose owner is known goes to that provider only: never failed over
// (the owner's own 429 and retry-after, or its error, reach the client; an owner that is cooling
// down gets the gateway's 429 with the time left). A request naming ids the table does not know
// (after a restart, another replica made them, or older than the table) tries the providers in
// the usual order, and an answer saying the id is not there (404, or 400
// previous_response_not_found / "not found") moves it to the next provider without counting
// against that provider's health; the one that answers records the owner.

import { CREATE_CAS, getShared, Result, setShared } from "../host/calls";
import { fnv1a32, fnv1a64, hex } from "../lib/hash";
import { indexOf, utf8 } from "../lib/bytes";
import { stringAt, valueAt } from "../lib/json_fields";

const KEY_PREFIX = "ai-failover/owner/";
const BUCKETS: u32 = 4096;
const ENTRIES: i32 = 16;
const ENTRY_BYTES: i32 = 24;
export const OWNER_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/** Bytes kept across a chunk boundary (longer than any pattern and id looked for). */
const SEAM: i32 = 160;
/** Ids collected from one answer at most (reasoning items of a long response). */
const MAX_CAPTURED: i32 = 32;

function bucketKey(h: u64): string {
  return KEY_PREFIX + hex(<u64>(<u32>(h % <u64>BUCKETS)), 3);
}

/** The provider name hash recorded for `id` (0: unknown). */
export function ownerOf(id: string, now: i64): u32 {
  const h = fnv1a64(id);
  const v = getShared(bucketKey(h));
  if (v.result != Result.Ok) return 0;
  const p = changetype<usize>(v.value);
  const n = v.value.byteLength / ENTRY_BYTES;
  for (let i = 0; i < n; i++) {
    const at = p + <usize>(i * ENTRY_BYTES);
    if (load<u64>(at) == h && load<i64>(at, 16) > now) return load<u32>(at, 8);
  }
  return 0;
}

/** Records `provider` (name hash) as the owner of `id` until now + ttl. */
export function recordOwner(id: string, provider: u32, now: i64, ttlMs: i64 = OWNER_TTL_MS): void {
  const h = fnv1a64(id);
  const key = bucketKey(h);
  for (let attempt = 0; attempt < 16; attempt++) {
    const v = getShared(key);
    const old = v.result == Result.Ok ? v.value : new ArrayBuffer(0);
    const n = old.byteLength / ENTRY_BYTES;
    // Same id: update in place; else a free (expired) slot; else grow; else the nearest to expiry.
    let slot = -1;
    let soonest: i64 = i64.MAX_VALUE;
    let soonestAt = 0;
    const p = changetype<usize>(old);
    for (let i = 0; i < n; i++) {
      const at = p + <usize>(i * ENTRY_BYTES);
      if (load<u64>(at) == h) { slot = i; break; }
      const exp = load<i64>(at, 16);
      if (exp <= now && slot < 0) slot = i;
      if (exp < soonest) { soonest = exp; soonestAt = i; }
    }
    let buf: ArrayBuffer;
    if (slot >= 0) {
      buf = old.slice(0);
    } else if (n < ENTRIES) {
      buf = new ArrayBuffer((n + 1) * ENTRY_BYTES);
      memory.copy(changetype<usize>(buf), p, <usize>old.byteLength);
      slot = n;
    } else {
      buf = old.slice(0);
      slot = soonestAt;
    }
    const at = changetype<usize>(buf) + <usize>(slot * ENTRY_BYTES);
    store<u64>(at, h);
    store<u32>(at, provider, 8);
    store<u32>(at, 0, 12);
    store<i64>(at, now + ttlMs, 16);
    const r = setShared(key, buf, v.result == Result.Ok ? v.cas : CREATE_CAS);
    if (r != Result.CasMismatch) return;
  }
}

/** The hash a provider is recorded under (its name: stable across reloads and replicas). */
export function providerHash(name: string): u32 {
  const h = fnv1a32(name);
  return h == 0 ? 1 : h;
}

const ID = utf8("\"id\"");
const PREV = utf8("\"previous_response_id\"");
const CONVERSATION = utf8("\"conversation\"");
const INPUT_FILE = utf8("\"input_file_id\"");
const FILE_ID = utf8("\"file_id\"");
const OUTPUT_FILE = utf8("\"output_file_id\"");
const ERROR_FILE = utf8("\"error_file_id\"");
const RS = utf8("\"rs_");

/** The id-like string value of the key found at `at`, or null. */
function stringValueAt(b: Uint8Array, at: i32, keyLen: i32): string | null {
  return stringAt(b, valueAt(b, at, keyLen), 128, true);
}

/** Every string value of `key` in `b` (bounded). */
function valuesOf(b: Uint8Array, key: Uint8Array, out: string[]): void {
  let i = indexOf(b, key, 0);
  while (i >= 0 && out.length < MAX_CAPTURED) {
    const v = stringValueAt(b, i, key.length);
    if (v !== null && !out.includes(v)) out.push(v);
    i = indexOf(b, key, i + key.length);
  }
}

/** Reasoning item ids ("rs_…" string values) in `b`. */
function reasoningIds(b: Uint8Array, out: string[]): void {
  let i = indexOf(b, RS, 0);
  while (i >= 0 && out.length < MAX_CAPTURED) {
    const v = stringAt(b, i, 128, true);
    if (v !== null && !out.includes(v)) out.push(v);
    i = indexOf(b, RS, i + RS.length);
  }
}

/**
 * The stored objects a request body refers to: previous_response_id, conversation (its id, as a
 * string or {"id": …}), input_file_id, file_id, and reasoning items replayed in input.
 */
export function referencedIds(body: Uint8Array, out: string[]): void {
  if (body.length == 0) return;
  valuesOf(body, PREV, out);
  valuesOf(body, INPUT_FILE, out);
  valuesOf(body, FILE_ID, out);
  let i = indexOf(body, CONVERSATION, 0);
  if (i >= 0) {
    const v = stringValueAt(body, i, CONVERSATION.length);
    if (v !== null) {
      if (!out.includes(v)) out.push(v);
    } else {
      const id = indexOf(body, ID, i);
      if (id >= 0) {
        const w = stringValueAt(body, id, ID.length);
        if (w !== null && w.startsWith("conv") && !out.includes(w)) out.push(w);
      }
    }
  }
  reasoningIds(body, out);
}

/**
 * The ids an answer creates or reveals, collected as it passes (chunks; a pattern split across two
 * chunks is found in the seam kept from the previous one): the first "id" (the created object's,
 * for creating requests), reasoning item ids, output/error file ids.
 */
export class IdCapture {
  ids: string[] = [];
  private firstIdSeen: bool;
  /** The last SEAM bytes of the previous chunk, then (while scanning) the first SEAM of the next: one reused buffer. */
  private seam: Uint8Array = new Uint8Array(2 * SEAM);
  private kept: i32 = 0;
  private seen: i32 = 0;

  /**
   * `firstId`: the request creates an object (its id is the answer's first "id"); `files`: a batch's
   * answers name its output and error files.
   */
  constructor(firstId: bool, private files: bool) {
    this.firstIdSeen = !firstId;
  }

  feed(chunk: Uint8Array): void {
    if (chunk.length == 0 || this.ids.length >= MAX_CAPTURED) return;
    const seam = this.seam;
    // A pattern split between the previous chunk and this one is whole in the seam.
    if (this.kept > 0) {
      const head = chunk.length < SEAM ? chunk.length : SEAM;
      memory.copy(seam.dataStart + <usize>this.kept, chunk.dataStart, <usize>head);
      this.scan(seam.subarray(0, this.kept + head), true);
    }
    this.scan(chunk, false);
    const keep = chunk.length < SEAM ? chunk.length : SEAM;
    memory.copy(seam.dataStart, chunk.dataStart + <usize>(chunk.length - keep), <usize>keep);
    this.kept = keep;
    this.seen += chunk.length;
  }

  private scan(b: Uint8Array, seam: bool): void {
    if (!this.firstIdSeen && (this.seen < 65536 || seam)) {
      const i = indexOf(b, ID, 0);
      if (i >= 0) {
        const v = stringValueAt(b, i, ID.length);
        if (v !== null) {
          this.firstIdSeen = true;
          if (!this.ids.includes(v)) this.ids.push(v);
        }
      }
    }
    reasoningIds(b, this.ids);
    if (this.files) {
      valuesOf(b, OUTPUT_FILE, this.ids);
      valuesOf(b, ERROR_FILE, this.ids);
    }
  }
}
