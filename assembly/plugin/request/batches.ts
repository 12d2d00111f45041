// Batches and consumers (issue 20 item 6). A batch runs at the provider, out of the gateway's
// sight: no budget or model list would apply to its lines. Its input file is uploaded through the
// gateway, so that is where it is judged:
//
// - Upload (POST /v1/files with purpose=batch, a consumer): the file part is read as it is held
//   (plan/batch_file.ts: every line's model against the consumer's list — 403 model_not_allowed
//   naming the line —, a malformed line 400 invalid_batch_file, the token bound Σ prompt
//   estimate + output bound). The provider's answer names the file id: the verdict is recorded
//   under it, with the uploading consumer, in a bounded table in shared data (every worker sees
//   it; 1024 buckets of at most 8 entries, the entry nearest expiry gives way; entries live as
//   long as the owner record, OWNER_TTL_MS).
// - Create (POST /v1/batches, a consumer): the input file must have a verdict for this consumer
//   (else 400 batch_file_not_checked; another consumer's file stays the tenant model's 404);
//   its model is checked against the consumer's *current* list; its bound against the budget
//   (403 batch_exceeds_budget: more than the whole per-minute budget; 429 insufficient_budget:
//   more than is left now). Admitted, the bound is reserved with the create request and kept as
//   its charge (Reservation.kept): the gateway never sees the batch's usage.
// Without consumers nothing is checked.

import { ConsumerConfig } from "../../config/model";
import { CREATE_CAS, getShared, nowMs, Result, setShared } from "../../host/calls";
import { CH_BACKSLASH, CH_COLON, CH_COMMA, CH_LBRACE, CH_QUOTE, CH_RBRACE, isWs } from "../../lib/bytes";
import { fnv1a64, hex } from "../../lib/hash";
import { BATCH_MODEL, BATCH_OK, BatchFileVerdict, MAX_BATCH_MODEL, scanBatchFile } from "../../plan/batch_file";
import {
  batchExceedsBudget, batchFileNotChecked, batchInsufficientBudget, batchModelNotAllowed, invalidBatchFile, invalidBody, modelNotAllowed, Rejection,
} from "../../plan/rejection";
import { ApiKind } from "../../provider/api";
import { ownerEntry, OWNER_TTL_MS, tenantTag } from "../affinity";
import { Attempt } from "./attempt";
import { allowsModel, consumerTokensLeft } from "../consumers";
import { FormModel } from "./forms";
import { RequestState } from "./state";
import { reject } from "./response";

// ---- The verdict table

const KEY_PREFIX = "ai-failover/batch-file/";
const BUCKETS: u64 = 1024;
const ENTRIES: i32 = 8;
// An entry: id hash u64 | tenant u32 | lines u32 | bound i64 | expiry i64 | model length u16 | model bytes.
const HEAD: i32 = 34;

function bucketKey(h: u64): string {
  return KEY_PREFIX + hex(h % BUCKETS, 3);
}

/** The length of the entry at `off` of a bucket of `n` bytes (-1: the bucket is not ours to read). */
function entryLen(p: usize, off: i32, n: i32): i32 {
  if (off + HEAD > n) return -1;
  const m = <i32>load<u16>(p + <usize>off, 32);
  if (m > MAX_BATCH_MODEL || off + HEAD + m > n) return -1;
  return HEAD + m;
}

/** The verdict recorded for file `id` uploaded by consumer `tenant` (null: none, another's, or expired). */
export function verdictOf(id: string, tenant: u32, now: i64): BatchFileVerdict | null {
  const h = fnv1a64(id);
  const v = getShared(bucketKey(h));
  if (v.result != Result.Ok) return null;
  const p = changetype<usize>(v.value);
  const n = v.value.byteLength;
  let off = 0;
  while (off < n) {
    const len = entryLen(p, off, n);
    if (len < 0) return null;
    const at = p + <usize>off;
    if (load<u64>(at) == h && load<u32>(at, 8) == tenant && load<i64>(at, 24) > now) {
      const out = new BatchFileVerdict();
      out.lines = <i32>load<u32>(at, 12);
      out.bound = load<i64>(at, 16);
      out.model = String.UTF8.decodeUnsafe(at + <usize>HEAD, <usize>(len - HEAD));
      return out;
    }
    off += len;
  }
  return null;
}

/** Records the verdict of file `id` uploaded by consumer `tenant`, until now + ttl. */
export function recordVerdict(id: string, tenant: u32, v: BatchFileVerdict, now: i64, ttlMs: i64 = OWNER_TTL_MS): void {
  const h = fnv1a64(id);
  const key = bucketKey(h);
  const model = String.UTF8.encode(v.model);
  const m = model.byteLength <= MAX_BATCH_MODEL ? model.byteLength : 0;
  for (let round = 0; round < 16; round++) {
    const cur = getShared(key);
    const old = cur.result == Result.Ok ? cur.value : new ArrayBuffer(0);
    const p = changetype<usize>(old);
    const n = old.byteLength;
    // Keep every other live entry (the same id's is replaced); when full, the nearest to expiry goes.
    const keepAt = new Array<i32>();
    const keepLen = new Array<i32>();
    let size = 0;
    let soonest = -1;
    let soonestExp: i64 = i64.MAX_VALUE;
    let off = 0;
    while (off < n) {
      const len = entryLen(p, off, n);
      if (len < 0) break; // unreadable rest: dropped
      const at = p + <usize>off;
      const exp = load<i64>(at, 24);
      if (load<u64>(at) != h && exp > now) {
        if (exp < soonestExp) { soonestExp = exp; soonest = keepAt.length; }
        keepAt.push(off);
        keepLen.push(len);
        size += len;
      }
      off += len;
    }
    if (keepAt.length >= ENTRIES && soonest >= 0) {
      size -= unchecked(keepLen[soonest]);
      keepAt.splice(soonest, 1);
      keepLen.splice(soonest, 1);
    }
    const buf = new ArrayBuffer(size + HEAD + m);
    const q = changetype<usize>(buf);
    let w = 0;
    for (let i = 0; i < keepAt.length; i++) {
      const len = unchecked(keepLen[i]);
      memory.copy(q + <usize>w, p + <usize>unchecked(keepAt[i]), <usize>len);
      w += len;
    }
    const at = q + <usize>w;
    store<u64>(at, h);
    store<u32>(at, tenant, 8);
    store<u32>(at, <u32>v.lines, 12);
    store<i64>(at, v.bound, 16);
    store<i64>(at, now + ttlMs, 24);
    store<u16>(at, <u16>m, 32);
    memory.copy(at + <usize>HEAD, changetype<usize>(model), <usize>m);
    if (setShared(key, buf, cur.result == Result.Ok ? cur.cas : CREATE_CAS) != Result.CasMismatch) return;
  }
}

// ---- The request hooks

function consumerOf(r: RequestState): ConsumerConfig {
  return unchecked(r.cfg().consumers[r.consumer]);
}

/**
 * A consumer's file upload (multipart, already read by multipartModel): with purpose=batch, its
 * file is judged; refused when it breaks a rule (false: the client was answered), else the
 * verdict waits on the request for the answer's file id.
 */
export function checkBatchUpload(r: RequestState, form: FormModel): bool {
  if (r.consumer < 0 || r.api.kind != ApiKind.Files || r.method != "POST" || r.api.objectId.length > 0) return true;
  if (form.ambiguous) return refused(r, invalidBatchFile(0, "a form field name that readers may or may not take as \"purpose\" or \"file\""));
  if (form.purposes == 0 || form.purpose.toLowerCase() != "batch") return true;
  if (form.purposes > 1) return refused(r, invalidBatchFile(0, "two \"purpose\" fields"));
  if (form.files != 1 || form.fileStart < 0) return refused(r, invalidBatchFile(0, form.files == 0 ? "no \"file\" part" : "more than one \"file\" part"));
  if (form.fileEncoded) return refused(r, invalidBatchFile(0, "a \"file\" part with a Content-Transfer-Encoding"));
  const c = consumerOf(r);
  const cfg = r.cfg();
  const v = scanBatchFile(r.body.subarray(form.fileStart, form.fileEnd), c.models, cfg.defaultMaxTokens, cfg.defaultImageTokens,
    cfg.defaultAudioTokensPerSecond);
  if (v.status == BATCH_MODEL) return refused(r, batchModelNotAllowed(c, v.line, v.why));
  if (v.status != BATCH_OK) return refused(r, invalidBatchFile(v.line, v.why));
  r.batch = v;
  return true;
}

/** The upload's answer ended (onLog): a created file records its verdict under its id. */
export function batchUploadEnded(r: RequestState, a: Attempt | null, now: i64): void {
  const v = r.batch;
  if (v === null || r.api.kind != ApiKind.Files || a === null || r.status < 200 || r.status >= 300) return;
  const cap = a.capture;
  if (cap === null || cap.created.length == 0) return;
  recordVerdict(cap.created, tenantTag(consumerOf(r).name), v, now);
}

/**
 * A consumer's batch creation (JSON body): its input file's verdict, the consumer's current
 * model list and budget. Admitted: the bound is added to what the request reserves (and kept as
 * its charge). False when the client was answered.
 */
export function admitBatchCreate(r: RequestState): bool {
  if (r.consumer < 0 || r.api.kind != ApiKind.Batches || r.method != "POST" || r.api.objectId.length > 0) return true;
  const id = inputFileId(r.body);
  if (id === null) return refused(r, invalidBody("a batch request whose top-level keys or input_file_id the gateway cannot read unambiguously " +
    "(an escape in a key or in the id, or input_file_id twice)"));
  if (id.length == 0) return refused(r, batchFileNotChecked(""));
  const c = consumerOf(r);
  const tenant = tenantTag(c.name);
  const now = nowMs();
  const v = verdictOf(id, tenant, now);
  if (v === null) {
    // Another consumer's file: the tenant model answers it (404) as the request is routed.
    const entry = ownerEntry(id, now);
    if (<u32>entry != 0 && <u32>(entry >> 32) != tenant) return true;
    return refused(r, batchFileNotChecked(id));
  }
  if (!allowsModel(c, v.model)) return refused(r, modelNotAllowed(c, v.model));
  if (c.tokensPerMinute > 0) {
    if (v.bound > c.tokensPerMinute) return refused(r, batchExceedsBudget(c, v.bound));
    const left = consumerTokensLeft(c, now);
    if (v.bound > unchecked(left[0])) return refused(r, batchInsufficientBudget(c, v.bound, unchecked(left[0]), unchecked(left[1])));
  }
  r.batch = v;
  r.batchCharge = v.bound;
  return true;
}

function refused(r: RequestState, why: Rejection): bool {
  reject(r, why);
  return false;
}

/**
 * The top-level "input_file_id" of a JSON object: null when it cannot be read unambiguously (a
 * top-level key with an escape may spell it; given twice; a value with an escape or not a
 * string), "" when absent. Linear; nested values are skipped by bracket count.
 */
export function inputFileId(b: Uint8Array): string | null {
  const p = b.dataStart;
  const n = b.length;
  let i = 0;
  while (i < n && isWs(load<u8>(p + <usize>i))) i++;
  if (i >= n || load<u8>(p + <usize>i) != CH_LBRACE) return "";
  i++;
  let found: string | null = "";
  let depth = 1;
  let expectKey = true;
  while (i < n && depth > 0) {
    const c = load<u8>(p + <usize>i);
    if (c == CH_QUOTE) {
      const s = i + 1;
      let e = s;
      let esc = false;
      while (e < n) {
        const d = load<u8>(p + <usize>e);
        if (d == CH_QUOTE) break;
        if (d == CH_BACKSLASH) { esc = true; e += 2; continue; }
        e++;
      }
      if (e >= n) return null;
      if (depth == 1 && expectKey) {
        if (esc) return null;
        expectKey = false;
        if (e - s == 13 && String.UTF8.decodeUnsafe(p + <usize>s, 13) == "input_file_id") {
          if (found === null || found.length > 0) return null;
          // The value: a string without escapes.
          let j = e + 1;
          while (j < n && isWs(load<u8>(p + <usize>j))) j++;
          if (j >= n || load<u8>(p + <usize>j) != CH_COLON) return null;
          j++;
          while (j < n && isWs(load<u8>(p + <usize>j))) j++;
          if (j >= n || load<u8>(p + <usize>j) != CH_QUOTE) return null;
          let k = j + 1;
          while (k < n && load<u8>(p + <usize>k) != CH_QUOTE) {
            if (load<u8>(p + <usize>k) == CH_BACKSLASH) return null;
            k++;
          }
          if (k >= n || k - j - 1 > 256) return null;
          found = String.UTF8.decodeUnsafe(p + <usize>(j + 1), <usize>(k - j - 1));
          if (found.length == 0) return null;
          i = k + 1;
          continue;
        }
      }
      i = e + 1;
      continue;
    }
    if (c == CH_LBRACE || c == 0x5b) depth++;
    else if (c == CH_RBRACE || c == 0x5d) depth--;
    else if (c == CH_COMMA && depth == 1) expectKey = true;
    i++;
  }
  return found;
}
