// What lives as long as one client request: its view of the configuration, what its headers and
// body said, the consumer and its budget reservation, the providers tried, the attempt whose
// answer the client gets, and the facts of the access line. The request's callbacks
// (plugin/request/client_request.ts) and the files that act for it (failover, response, header mode, cluster
// waits, access log) share this; none of them needs the others or the root.

import { Context, RootContext } from "@solo-io/proxy-runtime/assembly";
import { BudgetState } from "../../admission/budget";
import { Config } from "../../config/model";
import { RequestScan } from "../../lib/json_scan";
import { BatchFileVerdict } from "../../plan/batch_file";
import { ApiRequest } from "../../provider/api";
import { Level, log } from "../../host/log";
import { Attempt, AttemptOwner } from "./attempt";
import { allowed, Phase, phaseName } from "./phase";
import { Reservation } from "../capacity/reservation";
import { Services } from "../services";
import { ConfigView } from "../views";

// Shared initial values of a request's fields (each is replaced before anything is added to it):
// a request's context allocates none of them.
const NO_API = new ApiRequest();
export const NO_NAMES: string[] = [];
const NO_BYTES = new Uint8Array(0);
const NO_PROVIDERS: bool[] = [];

export abstract class RequestState extends Context {
  readonly svc: Services;
  /** The configuration this request runs under (global or a matching `_rules_` entry). */
  view: ConfigView | null = null;
  phase: Phase = Phase.Idle;
  api: ApiRequest = NO_API;
  method: string = "";
  /** The model the current attempt serves (the client's, or a fallback's). */
  model: string = "";
  /** The model the client asked for ("" until known). */
  requestedModel: string = "";
  scan: RequestScan | null = null;
  /** The client's content-type (multipart bodies pass unmodified, with it). */
  contentType: string = "";
  /** Stored objects the request names (path id, previous_response_id, conversation, files, reasoning items). */
  referenced: string[] = NO_NAMES;
  /** The request ended with its headers (GET, DELETE, a bodiless POST …/cancel): resendable as it is. */
  noBody: bool = false;
  /** The x-ai-model header's value ("" when absent). */
  headerModel: string = "";
  /** The request goes to the provider holding its state, and nowhere else (plugin/affinity.ts). */
  pinned: bool = false;
  /** Candidates other than the owner (skipped when pinned). */
  notOwner: bool[] | null = null;
  /** Sticks the request to one provider (affinity.header / affinity.consumer; 0: none). */
  affinityKey: u64 = 0;
  /** It names objects whose owner is unknown: a "not held here" answer moves it on. */
  discovering: bool = false;
  /** The client's body as received (kept while a retry is possible). */
  body: Uint8Array = NO_BYTES;
  headerOnly: bool = false;
  /** The client's request has fully arrived (a retry may only resend a whole body). */
  bodyComplete: bool = false;
  /** Providers tried so far (empty: retries are off for this request). */
  tried: bool[] = NO_PROVIDERS;
  attempts: i32 = 0;
  /** Retries at the same provider so far (retry.sameProviderRetries). */
  sameRetries: i32 = 0;
  /** A retry at the same provider waits (plugin/request/failover.ts): which provider, and why (-1: none). */
  retryIndex: i32 = -1;
  retryReason: string = "";
  /** Models tried so far, the client's first (a model is never tried twice). */
  modelsTried: string[] = NO_NAMES;
  /** Why each earlier attempt was left (failovers_total's reasons, comma-separated; "" none). */
  failovers: string = "";
  /** The latest attempt (the one whose answer the client gets). */
  attempt: Attempt | null = null;
  /** The last status seen or sent. */
  status: i32 = 0;
  startedMs: i64 = 0;
  firstByteMs: i64 = -1;
  /** When the in-band answer's headers arrived (-1: not yet). */
  headersMs: i64 = -1;
  /** Tokens this request reserves (prompt estimate + max output tokens). */
  need: i64 = 0;
  promptEstimate: i64 = 0;
  maxTokens: i64 = 0;
  /** The authenticated consumer (-1 none), its reservation and what it has left. */
  consumer: i32 = -1;
  budget: Reservation<BudgetState> | null = null;
  budgetLeftTokens: i64 = -1;
  budgetLeftRequests: i64 = -1;
  /** A batch upload's file verdict, or a batch creation's input file's (plugin/request/batches.ts; null: none). */
  batch: BatchFileVerdict | null = null;
  /** A batch creation: its bound, reserved with the request and kept as its charge (0: none). */
  batchCharge: i64 = 0;
  /** Cluster limits: leases this request has waited for (plugin/request/cluster_wait.ts). */
  clusterWaits: i32 = 0;
  /** The request's header map as read at its headers and the names stripped from it since (until it is rewritten for its provider). */
  headerPairs: ArrayBuffer | null = null;
  stripped: string[] = NO_NAMES;

  constructor(contextId: u32, root: RootContext, svc: Services) {
    super(contextId, root);
    this.svc = svc;
  }

  cfg(): Config {
    return this.view!.config;
  }

  enter(to: Phase): void {
    if (!allowed(this.phase, to)) {
      log(Level.Error, "ai-failover: internal: request phase " + phaseName(this.phase) + " → " + phaseName(to) + " is not a transition");
    }
    this.phase = to;
  }

  /** Gives back the consumer's reservation (nothing was consumed). */
  releaseBudget(now: i64): void {
    const b = this.budget;
    if (b === null || !b.active) return;
    b.settle(-1, now);
    // What this request had reserved is free again.
    if (this.budgetLeftTokens >= 0) this.budgetLeftTokens += this.need;
    if (this.budgetLeftRequests >= 0) this.budgetLeftRequests += 1;
  }

  /** The request's attempts report to this (one per request, made at the first attempt). */
  abstract attemptOwner(): AttemptOwner;

  /** Admits the request and sends it in-band to a provider. False when a reply was sent instead (or it is parked on a lease). */
  abstract route(promptTokens: i64, maxTokens: i64, haveBody: bool): bool;
}
