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
import { idLike, MAX_ID, MAX_IDS } from "../lib/ids";

const KEY_PREFIX = "ai-failover/owner/";
const BUCKETS: u32 = 4096;
const ENTRIES: i32 = 16;
const ENTRY_BYTES: i32 = 24;
export const OWNER_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/** Ids collected from one answer, or read from one request, at most (reasoning items of a long response). */
const MAX_CAPTURED: i32 = MAX_IDS;

function bucketKey(h: u64): string {
  return KEY_PREFIX + hex(<u64>(<u32>(h % <u64>BUCKETS)), 3);
}

/**
 * The owner recorded for `id`: the provider's name hash in the low 32 bits (0: unknown), the
 * creating consumer's tag (tenantTag; 0: none) in the high 32.
 */
export function ownerEntry(id: string, now: i64): u64 {
  const h = fnv1a64(id);
  const v = getShared(bucketKey(h));
  if (v.result != Result.Ok) return 0;
  const p = changetype<usize>(v.value);
  const n = v.value.byteLength / ENTRY_BYTES;
  for (let i = 0; i < n; i++) {
    const at = p + <usize>(i * ENTRY_BYTES);
    if (load<u64>(at) == h && load<i64>(at, 16) > now) return <u64>load<u32>(at, 8) | (<u64>load<u32>(at, 12) << 32);
  }
  return 0;
}

/** The provider name hash recorded for `id` (0: unknown). */
export function ownerOf(id: string, now: i64): u32 {
  return <u32>ownerEntry(id, now);
}

/** The tag a consumer's objects are recorded under (never 0: 0 means no consumer). */
export function tenantTag(consumerName: string): u32 {
  const h = fnv1a32("consumer:" + consumerName);
  return h == 0 ? 1 : h;
}

/** Records `provider` (name hash) as the owner of `id` until now + ttl, created by consumer `tenant` (0: none). */
export function recordOwner(id: string, provider: u32, now: i64, tenant: u32 = 0, ttlMs: i64 = OWNER_TTL_MS): void {
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
    store<u32>(at, tenant, 12);
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

// ---- Where ids are read (issue 20 item 2)
//
// Only ids at the positions the APIs define are read: a string anywhere else — `metadata` the
// provider echoes back, a JSON-escaped "\u0072s_…", text in a message — is never an id. The ids a
// request names are read by the request-body scanner in its one pass (lib/json_refs.ts). The ids an
// answer creates are read here as the answer passes: a small streaming walker follows the JSON
// structure (depth, containers, the current key of each object) across chunks, byte by byte,
// without building a tree; keys and id values with escapes are not ids (providers write neither).
// Iterative; nesting deeper than MAX_DEPTH is followed by count only.

const MAX_DEPTH: i32 = 8;
const KIND_OBJECT: u8 = 1;
const KIND_ARRAY: u8 = 2;

const KEY_OTHER: u8 = 0;
const KEY_ID: u8 = 1;
const KEY_RESPONSE: u8 = 2;
const KEY_OUTPUT: u8 = 3;
const KEY_ITEM: u8 = 4;
const KEY_OUTPUT_FILE: u8 = 5;
const KEY_ERROR_FILE: u8 = 6;

const KEY_NAMES: string[] = ["", "id", "response", "output", "item", "output_file_id", "error_file_id"];

const KEY_BYTES: Uint8Array[] = KEY_NAMES.map<Uint8Array>((k: string) => Uint8Array.wrap(String.UTF8.encode(k)));

/** The key named by `len` bytes at `p` (no allocation: keys are compared as bytes). */
function keyOf(p: usize, len: i32): u8 {
  for (let k = 1; k < KEY_BYTES.length; k++) {
    const name = unchecked(KEY_BYTES[k]);
    if (name.length == len && memory.compare(name.dataStart, p, <usize>len) == 0) return <u8>k;
  }
  return KEY_OTHER;
}

/**
 * Follows JSON values fed in chunks and hands each short, escape-free string value to `value`
 * with its depth; `kinds[d]`/`keys[d]` say the container at depth d and its current key.
 * Text outside values (SSE field names) is skipped.
 */
abstract class JsonWalker {
  protected kinds: Uint8Array = new Uint8Array(MAX_DEPTH + 1);
  protected keys: Uint8Array = new Uint8Array(MAX_DEPTH + 1);
  private expectKey: Uint8Array = new Uint8Array(MAX_DEPTH + 1);
  protected depth: i32 = 0;
  private inString: bool = false;
  private escaped: bool = false;
  private dirty: bool = false;
  private buf: Uint8Array = new Uint8Array(MAX_ID);
  private len: i32 = 0;

  abstract value(depth: i32, s: string): void;

  feed(b: Uint8Array): void {
    const n = b.length;
    const p = b.dataStart;
    for (let i = 0; i < n; i++) {
      const c = load<u8>(p + <usize>i);
      if (this.inString) {
        if (this.escaped) { this.escaped = false; continue; }
        if (c == 0x5c) { this.escaped = true; this.dirty = true; continue; }
        if (c == 0x22) { this.inString = false; this.stringEnded(); continue; }
        if (this.len < MAX_ID) unchecked((this.buf[this.len] = c));
        else this.dirty = true;
        this.len++;
        continue;
      }
      const d = this.depth;
      if (c == 0x22) {
        if (d == 0) continue; // outside any value (SSE text)
        this.inString = true;
        this.escaped = false;
        this.dirty = false;
        this.len = 0;
      } else if (c == 0x7b || c == 0x5b) {
        const nd = d + 1;
        this.depth = nd;
        if (nd <= MAX_DEPTH) {
          unchecked((this.kinds[nd] = c == 0x7b ? KIND_OBJECT : KIND_ARRAY));
          unchecked((this.keys[nd] = KEY_OTHER));
          unchecked((this.expectKey[nd] = c == 0x7b ? 1 : 0));
        }
      } else if (c == 0x7d || c == 0x5d) {
        if (d > 0) this.depth = d - 1;
      } else if (c == 0x2c) {
        if (d > 0 && d <= MAX_DEPTH && unchecked(this.kinds[d]) == KIND_OBJECT) unchecked((this.expectKey[d] = 1));
      }
    }
  }

  private stringEnded(): void {
    const d = this.depth;
    if (d > MAX_DEPTH) return;
    const isKey = unchecked(this.kinds[d]) == KIND_OBJECT && unchecked(this.expectKey[d]) == 1;
    const clean = !this.dirty && this.len <= MAX_ID;
    if (isKey) {
      unchecked((this.expectKey[d] = 0));
      unchecked((this.keys[d] = clean ? keyOf(this.buf.dataStart, this.len) : KEY_OTHER));
      return;
    }
    // Only a value under a key of interest is decoded (a string allocated per id, not per value).
    if (!clean || this.keyAt(d) == KEY_OTHER) return;
    const s = String.UTF8.decodeUnsafe(this.buf.dataStart, <usize>this.len);
    if (idLike(s)) this.value(d, s);
  }

  /** The key of the object at depth d holding the current value (KEY_OTHER for an array or too deep). */
  protected keyAt(d: i32): u8 {
    return d >= 1 && d <= MAX_DEPTH && unchecked(this.kinds[d]) == KIND_OBJECT ? unchecked(this.keys[d]) : KEY_OTHER;
  }

  protected arrayAt(d: i32): bool {
    return d >= 1 && d <= MAX_DEPTH && unchecked(this.kinds[d]) == KIND_ARRAY;
  }
}

/**
 * The ids an answer creates, collected as it passes (chunks): the created object's top-level
 * `id` (a stream's `response.id`) for creating requests, reasoning items at `output[].id`
 * (`item.id`, `response.output[].id` in a stream), a batch's `output_file_id`/`error_file_id`.
 * At most MAX_CAPTURED per answer.
 */
export class IdCapture extends JsonWalker {
  ids: string[] = [];
  /** The created object's id ("" until seen; a creating request only). */
  created: string = "";
  private firstIdSeen: bool;

  /**
   * `firstId`: the request creates an object (its id is the answer's top-level "id"); `files`: a
   * batch's answers name its output and error files.
   */
  constructor(firstId: bool, private files: bool) {
    super();
    this.firstIdSeen = !firstId;
  }

  feed(chunk: Uint8Array): void {
    if (chunk.length == 0 || this.ids.length >= MAX_CAPTURED) return;
    super.feed(chunk);
  }

  value(d: i32, s: string): void {
    if (this.ids.length >= MAX_CAPTURED || this.ids.includes(s)) return;
    const k = this.keyAt(d);
    if (d == 1) {
      if (k == KEY_ID && !this.firstIdSeen) {
        this.firstIdSeen = true;
        this.created = s;
        this.ids.push(s);
      } else if (this.files && (k == KEY_OUTPUT_FILE || k == KEY_ERROR_FILE)) {
        this.ids.push(s);
      }
      return;
    }
    if (k != KEY_ID) return;
    if (d == 2 && this.keyAt(1) == KEY_RESPONSE) {
      if (!this.firstIdSeen) {
        this.firstIdSeen = true;
        this.created = s;
        this.ids.push(s);
      }
      return;
    }
    if (!s.startsWith("rs_")) return;
    const reasoning = (d == 2 && this.keyAt(1) == KEY_ITEM) ||
      (d == 3 && this.arrayAt(2) && this.keyAt(1) == KEY_OUTPUT) ||
      (d == 4 && this.arrayAt(3) && this.keyAt(2) == KEY_OUTPUT && this.keyAt(1) == KEY_RESPONSE);
    if (reasoning) this.ids.push(s);
  }
}

// ---- Ids no provider held (issue 20 item 3)
//
// A request naming an id the owner table does not know looks for it at a bounded number of
// providers (retry.maxAttempts); each provider that answered "not here" is remembered per worker
// for NOT_HELD_TTL_MS, so the next request for the same id skips it, and once every provider of
// the view said so the gateway answers 404 itself. At most NOT_HELD_MAX ids (expired ones go
// first, else all).

export const NOT_HELD_TTL_MS: i64 = 60_000;
const NOT_HELD_MAX: i32 = 1024;
/** Providers a worker may remember for one id (a view has at most this many worth remembering). */
const NOT_HELD_PROVIDERS: i32 = 64;

class NotHeld {
  providers: u32[] = [];
  constructor(public until: i64) {}
}

const notHeld = new Map<string, NotHeld>();

/** Remembers that provider `provider` (name hash) does not hold `id`. */
export function rememberNotHeld(id: string, provider: u32, now: i64): void {
  let e: NotHeld | null = notHeld.has(id) ? notHeld.get(id) : null;
  if (e !== null && e.until <= now) e = null;
  if (e === null) {
    if (notHeld.size >= NOT_HELD_MAX) {
      const keys = notHeld.keys();
      for (let i = 0; i < keys.length; i++) {
        const k = unchecked(keys[i]);
        if (notHeld.get(k).until <= now) notHeld.delete(k);
      }
      if (notHeld.size >= NOT_HELD_MAX) notHeld.clear();
    }
    e = new NotHeld(now + NOT_HELD_TTL_MS);
    notHeld.set(id, e);
  }
  if (!e.providers.includes(provider) && e.providers.length < NOT_HELD_PROVIDERS) e.providers.push(provider);
}

/** Did provider `provider` say lately that it does not hold `id`? */
export function knownNotHeld(id: string, provider: u32, now: i64): bool {
  if (!notHeld.has(id)) return false;
  const e = notHeld.get(id);
  return e.until > now && e.providers.includes(provider);
}

/** Ids remembered (tests, metrics). */
export function notHeldCount(): i32 {
  return notHeld.size;
}
